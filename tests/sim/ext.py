"""Rancher's ext API (ext.cattle.io/v1): Tokens, at /apis/ext.cattle.io/v1/tokens and Steve's /v1/ext.cattle.io.tokens."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Optional

from .listener import Request, Response
from .responses import _json, kube_status
from .tokens import Token

if TYPE_CHECKING:
    from .world import User, World

K8S_TOKENS = "/apis/ext.cattle.io/v1/tokens"
STEVE_TOKENS = "/v1/ext.cattle.io.tokens"
K8S_KUBECONFIGS = "/apis/ext.cattle.io/v1/kubeconfigs"
STEVE_KUBECONFIGS = "/v1/ext.cattle.io.kubeconfigs"


def ext_route(path: str) -> Optional[tuple[str, bool, str]]:
    """(resource, steve, name) for an ext API path, or None: ('tokens', False, 'token-abcde')."""
    for prefix, resource, steve in ((K8S_TOKENS, "tokens", False), (STEVE_TOKENS, "tokens", True),
                                    (K8S_KUBECONFIGS, "kubeconfigs", False), (STEVE_KUBECONFIGS, "kubeconfigs", True)):
        if path == prefix or path == prefix + "/":
            return resource, steve, ""
        if path.startswith(prefix + "/") and "/" not in path[len(prefix) + 1:]:
            return resource, steve, path[len(prefix) + 1:]
    return None


def not_found(resource: str, name: str) -> Response:
    """apierrors.NewNotFound for an ext resource."""
    return kube_status(404, "NotFound", f'{resource}.ext.cattle.io "{name}" not found',
                       {"name": name, "group": "ext.cattle.io", "kind": resource})


def bad_request(message: str) -> Response:
    """apierrors.NewBadRequest."""
    return kube_status(400, "BadRequest", message)


def forbidden(resource: str, reason: str) -> Response:
    """apierrors.NewForbidden with an empty name."""
    return kube_status(403, "Forbidden", f'{resource}.ext.cattle.io is forbidden: {reason}',
                       {"group": "ext.cattle.io", "kind": resource})


def unauthorized_status() -> Response:
    """What an unauthenticated ext API request gets."""
    return kube_status(401, "Unauthorized", "Unauthorized")


def steve_wrap(obj: dict, base: str, resource_type: str, collection: str) -> dict:
    """Steve's view of a Kubernetes object: id, type and links beside the object's own fields."""
    name = obj["metadata"]["name"]
    link = f"{base}/v1/{collection}/{name}"
    return {"id": name, "type": resource_type, "links": {"self": link, "remove": link, "update": link}, **obj}


def steve_collection(items: list[dict], base: str, resource_type: str, collection: str) -> dict:
    """A Steve collection."""
    return {"type": "collection", "links": {"self": f"{base}/v1/{collection}"}, "createTypes": {},
            "actions": {}, "resourceType": resource_type, "revision": "1", "count": len(items), "data": items}


def read_object(req: Request, kind: str) -> dict | Response:
    """The posted object, or a 400 Status for a body that is not a JSON object of this kind."""
    try:
        body = json.loads(req.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        return bad_request("the body of the request was in an unknown format")
    if not isinstance(body, dict) or body.get("kind", kind) != kind or not isinstance(body.get("spec", {}), dict):
        return bad_request(f"the body of the request is not an ext.cattle.io/v1 {kind}")
    return body


class ExtTokensAPI:
    """Mixin of RancherServer: the ext Token store (pkg/ext/stores/tokens)."""

    world: "World"

    def _ext_tokens(self, req: Request, steve: bool, name: str, caller: Token, user: "User") -> Response:
        w = self.world
        base = f"https://{req.host}"

        def shown(tok: Token, **kw: bool) -> dict:
            obj = tok.ext_object(current=tok.name == caller.name, bearer_token=w.features.ext_bearer_token, **kw)
            return steve_wrap(obj, base, "ext.cattle.io.token", "ext.cattle.io.tokens") if steve else obj

        with w._lock:
            if not name:
                if req.method == "GET":
                    # Non-admins see only their own tokens (ListOptionMerge adds the user-id label).
                    mine = sorted((t for t in w._tokens.values() if t.ext and t.user_id == user.id),
                                  key=lambda t: t.created)
                    items = [shown(t) for t in mine]
                    if steve:
                        return _json(200, steve_collection(items, base, "ext.cattle.io.token", "ext.cattle.io.tokens"))
                    return _json(200, {"apiVersion": "ext.cattle.io/v1", "kind": "TokenList",
                                       "metadata": {"resourceVersion": "1"}, "items": items})
                if req.method == "POST":
                    return self._create_ext_token(req, user, shown)
                return kube_status(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
            tok = w._tokens.get(name)
            if tok is None or not tok.ext or tok.user_id != user.id:
                return not_found("tokens", name)  # another user's token is NotFound, not Forbidden
            if req.method == "GET":
                return _json(200, shown(tok))
            if req.method == "DELETE":
                w.revoke_token(tok.name)
                return _json(200, shown(tok))
            return kube_status(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

    def _create_ext_token(self, req: Request, user: "User", shown) -> Response:
        w = self.world
        body = read_object(req, "Token")
        if isinstance(body, Response):
            return body
        spec = body.get("spec") or {}
        ttl, cid = spec.get("ttl", 0), spec.get("clusterName", "")
        if not isinstance(ttl, int) or isinstance(ttl, bool) or not isinstance(cid, str):
            return bad_request("spec.ttl must be an integer and spec.clusterName a string")
        if spec.get("userID") not in (None, "", user.id):
            return bad_request("unable to create token for other user")
        if cid and cid not in w.clusters:
            return bad_request(f"cluster {cid} not found")
        enabled = spec.get("enabled", True)
        kind, desc = spec.get("kind", ""), spec.get("description", "")
        tok = w._mint(user, prefix="token-", cluster_id=cid, ttl_ms=w._ext_ttl(ttl), ext=True,
                      kind=kind if isinstance(kind, str) else "", description=desc if isinstance(desc, str) else "")
        if enabled is False:
            w.disable_token(tok.name)
            tok.enabled = False
        return _json(201, shown(tok, with_value=True))
