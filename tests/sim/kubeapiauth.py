"""kube-api-auth: the downstream objects it reads and its TokenReview webhook (POST /v1/authenticate)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Optional

from .listener import Listener, Request, Response
from .tokens import parse_rfc3339, rfc3339, verify_hash

if TYPE_CHECKING:
    from .world import Counters

# kube-api-auth always answers with this apiVersion, whatever the request carried.
RESPONSE_API_VERSION = "authentication.k8s.io/v1beta1"


@dataclass
class ClusterAuthToken:
    """cluster.cattle.io/v3 ClusterAuthToken in cattle-system (fields are top level, no spec)."""

    name: str
    user_name: str
    expires_at: str = ""
    enabled: bool = True
    hash: str = ""  # deprecated: hash on the CR (Rancher <= 2.12); migrated to the Secret on use
    last_used_at: Optional[float] = None

    def as_dict(self) -> dict:
        """The object as a test sees it."""
        return {"name": self.name, "userName": self.user_name, "expiresAt": self.expires_at,
                "enabled": self.enabled, "hash": self.hash,
                "lastUsedAt": rfc3339(self.last_used_at) if self.last_used_at else None}


@dataclass
class ClusterUserAttribute:
    """cluster.cattle.io/v3 ClusterUserAttribute, named after the Rancher user id."""

    name: str
    groups: list[str] = field(default_factory=list)
    enabled: bool = True
    last_refresh: str = ""
    needs_refresh: bool = False


class AuthStore:
    """The objects kube-api-auth reads from its informer caches (namespace cattle-system)."""

    def __init__(self, lock: threading.RLock, notify: Callable[[], None]) -> None:
        self.lock = lock
        self._notify = notify
        self.tokens: dict[str, ClusterAuthToken] = {}
        self.secrets: dict[str, str] = {}  # Secret name -> data.hash
        self.user_attributes: dict[str, ClusterUserAttribute] = {}
        self.refresh_debounce_seconds: Optional[int] = None  # ConfigMap auth-provider-refresh-debounce-seconds
        self.on_used: Optional[Callable[[str, float], None]] = None

    def changed(self) -> None:
        """Wake anyone waiting on world state."""
        self._notify()

    def authenticate(self, access_key: str, secret_key: str) -> tuple[str, list[str]]:
        """kube-api-auth's v1getAndVerifyUser; raises LookupError on any failure."""
        with self.lock:
            cat = self.tokens.get(access_key)
            if cat is None:
                raise LookupError("clusterauthtoken not found")
            if not cat.enabled:
                raise LookupError("token is not enabled")
            cua = self.user_attributes.get(cat.user_name)
            if cua is None:
                raise LookupError("clusteruserattribute not found")
            if not cua.enabled:
                raise LookupError("user is not enabled")
            secret_hash = self.secrets.get(access_key)
            # VerifyClusterAuthToken
            if not cat.enabled:
                raise LookupError("token is not enabled")
            now = time.time()
            if cat.expires_at:
                try:
                    expires = parse_rfc3339(cat.expires_at)
                except ValueError:
                    raise LookupError("failed to parse expiresAt")
                if expires < now:
                    raise LookupError(f"auth expired at {cat.expires_at}")
            legacy = bool(cat.hash)
            stored = cat.hash if legacy else secret_hash
            if stored is None:
                raise LookupError("hash secret is missing")
            if not verify_hash(stored, secret_key):
                raise LookupError("invalid token")
            if legacy:
                # Migrate: the hash moves from the CR to the Secret, as kube-api-auth does on use.
                self.secrets[access_key] = cat.hash
                cat.hash = ""
            if (self.refresh_debounce_seconds is not None and self.refresh_debounce_seconds >= 0
                    and cua.last_refresh and not cua.needs_refresh):
                if parse_rfc3339(cua.last_refresh) + self.refresh_debounce_seconds < now:
                    cua.needs_refresh = True
            # lastUsedAt is truncated to seconds and written at most once a second.
            now_s = float(int(now))
            if cat.last_used_at is None or int(cat.last_used_at) != int(now_s):
                cat.last_used_at = now_s
                if self.on_used is not None:
                    self.on_used(cat.name, now_s)
            user, groups = cat.user_name, list(cua.groups)
        self.changed()
        return user, groups


class KubeApiAuth:
    """A kube-api-auth webhook listener (plain HTTP on loopback) for one downstream cluster."""

    def __init__(self, cluster_id: str, host: str, store: AuthStore, counters: "Counters",
                 strip_ext: bool = True) -> None:
        self.cluster_id = cluster_id
        self.store = store
        # kube-api-auth v0.13.0+ and v0.15.x strip ext/ from the name; v0.2.4-v0.2.6 look up "ext/token-…".
        self.strip_ext = strip_ext
        self._counters = counters
        self.listener = Listener(f"kube-api-auth-{cluster_id}", host, self._app)

    @property
    def url(self) -> str:
        """The webhook's base URL (http://127.x.y.z:port)."""
        return self.listener.url

    def set_down(self, down: bool) -> None:
        """Stop or restart the webhook (the API server then refuses every token)."""
        self.listener.set_down(down)

    def _app(self, req: Request) -> Response:
        name = f"{self.cluster_id}:kube-api-auth"
        self._counters._received(name)
        resp = self._route(req)
        self._counters._answered(name, resp.status)
        return resp

    def _route(self, req: Request) -> Response:
        path = req.path.rstrip("/") or "/"  # gorilla/mux StrictSlash
        if path == "/healthcheck" and req.method == "GET":
            return Response(200)
        if path != "/v1/authenticate":
            return Response(404, b"404 page not found\n", "text/plain; charset=utf-8")
        if req.method != "POST":
            return Response(405)
        try:
            access_key, secret_key = _parse_review(req.body, self.strip_ext)
        except ValueError:
            return _http_error(400)
        try:
            username, groups = self.store.authenticate(access_key, secret_key)
        except LookupError:
            return _http_error(401)
        user: dict = {"username": username}
        if groups:
            user["groups"] = groups
        body = {"apiVersion": RESPONSE_API_VERSION, "kind": "TokenReview",
                "status": {"authenticated": True, "user": user}}
        # No Content-Type is set by kube-api-auth: Go sniffs the JSON bytes as text/plain.
        return Response(200, json.dumps(body, separators=(",", ":")).encode(), "text/plain; charset=utf-8")


def _http_error(status: int) -> Response:
    # ReturnHTTPError: JSON content type, status, and an empty body.
    return Response(status, b"", "application/json")


def _parse_review(body: bytes, strip_ext: bool = True) -> tuple[str, str]:
    """Decode only kind and spec.token, split at the first colon and (newer versions) strip ext/."""
    try:
        review = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ValueError("bad body")
    if not isinstance(review, dict):
        raise ValueError("bad body")
    kind = review.get("kind", "")
    spec = review.get("spec") or {}
    if not isinstance(kind, str) or not isinstance(spec, dict):
        raise ValueError("bad body")
    token = spec.get("token", "")
    if not isinstance(token, str):
        raise ValueError("bad body")
    if kind != "TokenReview":
        raise ValueError("authentication request kind is not TokenReview")
    if not token:
        raise ValueError("authentication request is missing Token")
    parts = token.split(":", 1)
    if len(parts) != 2:
        raise ValueError(f"found {len(parts)} parts of token")
    name = parts[0][len("ext/"):] if strip_ext and parts[0].startswith("ext/") else parts[0]
    return name, parts[1]
