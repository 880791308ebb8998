"""The ext Token API (ext.cattle.io/v1, Rancher 2.12+): mint cluster-scoped tokens, look them up, revoke them."""

from __future__ import annotations

from kubectl_ace.errors import RancherError
from kubectl_ace.rancher.client import Client, Response

TOKENS = "/apis/ext.cattle.io/v1/tokens"
PREFIX = "ext/"


def is_token_object(body) -> bool:
    """An ext.cattle.io Token object (told by apiVersion and kind, never by the token's look)."""
    return (
        isinstance(body, dict)
        and str(body.get("apiVersion") or "").startswith("ext.cattle.io/")
        and body.get("kind") == "Token"
    )


def is_ext(token: str) -> bool:
    """A bearer token of the ext API: Rancher writes them as `ext/<name>:<value>`."""
    return token.startswith(PREFIX)


def flat(body: dict) -> dict:
    """A Token object in the words of a v3 token: token, expiresAt, userId, clusterId, enabled, expired."""
    spec, status, metadata = (mapping(body.get(key)) for key in ("spec", "status", "metadata"))
    flat_body = {
        "name": str(metadata.get("name") or ""),
        "expiresAt": str(status.get("expiresAt") or ""),
        "userId": str(spec.get("userID") or ""),
        "clusterId": str(spec.get("clusterName") or ""),
        "enabled": spec.get("enabled", True) is not False,
        "expired": bool(status.get("expired")),
    }
    bearer = status.get("bearerToken")
    if not bearer and status.get("value") and flat_body["name"]:
        bearer = f"{PREFIX}{flat_body['name']}:{status['value']}"  # 2.12 answers without bearerToken
    if isinstance(bearer, str) and bearer:
        flat_body["token"] = bearer
    return flat_body


def mint(client: Client, login_token: str, cluster_id: str | None, ttl_ms: int, description: str) -> Response:
    """POST an ext Token derived from the login, scoped to `cluster_id` when given; the body comes back flat."""
    spec: dict = {"ttl": max(0, int(ttl_ms)), "description": description}
    if cluster_id:
        spec["clusterName"] = cluster_id
    answer = client.request(
        "POST",
        TOKENS,
        token=login_token,
        expect=(201, 200),
        body={"apiVersion": "ext.cattle.io/v1", "kind": "Token", "spec": spec},
    )
    body = flat(answer.body) if is_token_object(answer.body) else {}
    if ":" not in str(body.get("token") or ""):
        raise RancherError(f"{client.server} created an ext token but did not return it")
    answer.body = body
    return answer


def get(client: Client, token: str, name: str) -> dict | None:
    """GET the Token `name` (flat) with `token`; None when Rancher does not know it."""
    answer = client.request("GET", f"{TOKENS}/{name}", token=token, allow=(404,))
    return flat(answer.body) if answer.status == 200 and is_token_object(answer.body) else None


def delete(client: Client, login_token: str, name: str) -> bool:
    """DELETE the Token `name`; False when Rancher does not know it (already gone)."""
    answer = client.request("DELETE", f"{TOKENS}/{name}", token=login_token, expect=(200, 204), allow=(404,))
    return answer.status != 404


def logout(client: Client, token: str) -> bool:
    """POST /v1/logout (2.13+): Rancher deletes the calling token, v3 or ext; False when it did not."""
    answer = client.request("POST", "/v1/logout", token=token, expect=(200, 204), allow=(404, 500))
    return answer.status in (200, 204)


def mapping(value) -> dict:
    """`value` when it is a JSON object, else an empty one (Rancher's answers are read defensively)."""
    return value if isinstance(value, dict) else {}
