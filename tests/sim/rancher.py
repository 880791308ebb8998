"""The Rancher server: health, public auth, /v3 tokens, clusters and generateKubeconfig, and the /k8s/clusters proxy."""

from __future__ import annotations

import base64
import hmac
import json
import re
import ssl
import time
import urllib.parse
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING, Optional

from .kubeapi import Identity
from .listener import Listener, Request, Response
from .providers import BASIC_PROVIDERS, PROVIDER_TYPES, SAML_PROVIDERS
from .templates import KubeconfigEntry, b64_pem, format_cert_string, render_kubeconfig
from .tokens import Token, rfc3339

if TYPE_CHECKING:
    from .cluster import SimCluster
    from .world import User, World

MODES = ("up", "stopped", "stalled", "slow", "error", "html")
JSON = "application/json"
TEXT = "text/plain; charset=utf-8"
UNAUTHORIZED_BODY = b'{"type":"error","status":"401","message":"Unauthorized 401: must authenticate"}'
PUBLIC_SETTINGS = ("cacerts", "first-login", "ui-banners", "ui-issues", "ui-pl", "ui-brand", "ui-default-landing")
ERROR_PAGE = (b"<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n"
              b"<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n<hr><center>nginx</center>\r\n"
              b"</body>\r\n</html>\r\n")
DASHBOARD_PAGE = (b"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Rancher</title></head>"
                  b"<body><div id=\"__nuxt\"></div><script src=\"/dashboard/_nuxt/app.js\"></script></body></html>\n")
PORTAL_PAGE = (b"<html><head><title>Sign in to the network</title></head>"
               b"<body><form method=\"post\">Please sign in to continue.</form></body></html>\n")
_PROXY_PATH = re.compile(r"^/k8s/clusters/([^/]+)(/.*)?$")


def _json(status: int, obj: object, headers: Optional[list[tuple[str, str]]] = None) -> Response:
    return Response(status, json.dumps(obj, separators=(",", ":")).encode(), JSON, headers or [])


def _norman_error(status: int, code: str, message: Optional[str] = None, field: Optional[str] = None) -> Response:
    """Norman's httperror body: keys sorted, status a number."""
    body: dict = {"baseType": "error", "code": code, "status": status, "type": "error"}
    if message is not None:
        body["message"] = message
    if field is not None:
        body["fieldName"] = field
    return _json(status, dict(sorted(body.items())))


def _unauthorized() -> Response:
    return Response(401, UNAUTHORIZED_BODY, JSON)


def _not_found_text() -> Response:
    return Response(404, b"404 page not found\n", TEXT)


def _cluster_of_path(path: str) -> Optional[str]:
    """clusterrouter.GetClusterID: the cluster a path names, which a scoped token may use."""
    parts = path.split("/")
    if len(parts) > 3 and parts[1] == "k8s" and parts[2] in ("clusters", "proxy"):
        return parts[3]
    if len(parts) > 3 and parts[1] == "v3" and parts[2] in ("clusters", "cluster", "proxy"):
        return parts[3]
    return None


class RancherServer:
    """The Rancher listener and its fault modes: up, stopped, stalled, slow, error, html."""

    def __init__(self, world: "World", host: str, ssl_context: ssl.SSLContext) -> None:
        self.world = world
        self.mode = "up"
        self.slow_seconds = 5.0
        self.listener = Listener("rancher", host, self._app, ssl_context, accept_gate=self._accept_gate)

    @property
    def url(self) -> str:
        """https://host:port"""
        return self.listener.url

    @property
    def host(self) -> str:
        """host:port"""
        return self.listener.host_port

    def set_mode(self, mode: str) -> None:
        """Switch fault mode; 'stopped' closes the socket, anything else serves on the same port."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        w = self.world
        with w._lock:
            self.mode = mode
            w._notify()
        if mode == "stopped":
            self.listener.stop()
        else:
            self.listener.start()
        w._flush_sync()

    # -- fault gates --------------------------------------------------------------------------

    def _stall_over(self) -> bool:
        return self.world._stopping or self.mode != "stalled"

    def _accept_gate(self, conn: object) -> bool:
        # Stalled: the TCP connection is accepted and then nothing happens, not even TLS.
        if self.mode == "stalled":
            while not self.world.wait_for(self._stall_over, timeout=3600):
                pass
        return not self.world._stopping and self.mode != "stopped"

    def _app(self, req: Request) -> Optional[Response]:
        m = _PROXY_PATH.match(req.path)
        counter = f"proxy:{m.group(1)}" if m else "rancher"
        self.world.counters._received(counter)
        if self.mode == "stalled":
            while not self.world.wait_for(self._stall_over, timeout=3600):
                pass
        if self.world._stopping or self.mode == "stopped":
            return None
        if self.mode == "slow":
            delay = self.slow_seconds
            self.world.wait_for(lambda: self.world._stopping or self.mode != "slow", timeout=delay)
            if self.world._stopping or self.mode == "stopped":
                return None
        resp: Optional[Response]
        if self.mode == "error":
            resp = Response(503, ERROR_PAGE, "text/html")
        elif self.mode == "html":
            resp = Response(200, PORTAL_PAGE, "text/html; charset=utf-8")
        else:
            resp = self._route(req, m)
        if resp is not None:
            self.world.counters._answered(counter, resp.status)
        return resp

    # -- routing ------------------------------------------------------------------------------

    def _route(self, req: Request, proxy: Optional[re.Match]) -> Optional[Response]:
        path, method = req.path, req.method
        if path == "/ping" and method == "GET":
            return Response(200, b"pong", TEXT)
        if path == "/healthz" and method == "GET":
            return Response(200, b"ok", TEXT)
        if path == "/rancherversion" and method == "GET":
            return _json(200, {"Version": self.world.rancher_version, "GitCommit": "0a1b2c3d",
                               "RancherPrime": "false"})
        if path.startswith("/dashboard/") and method == "GET":
            # The dashboard is a single-page app: every path under it serves the same index page.
            return Response(200, DASHBOARD_PAGE, "text/html; charset=utf-8")
        if path.startswith("/v1-public/"):
            return self._v1_public(req) if self.world.v1_public else _not_found_text()
        if path.startswith("/v3-public/"):
            return self._v3_public(req)
        if path.startswith("/v3/settings/") and path.split("/")[3] in PUBLIC_SETTINGS and method == "GET":
            return self._setting(req, path.split("/")[3])
        if path == "/v3/tokens" and method == "POST" and req.param("action") in ("logout", "logoutAll"):
            return self._logout(req)
        if not (path == "/v3" or path.startswith("/v3/") or proxy):
            return _not_found_text()
        auth = self._authenticate(req)
        if auth is None:
            return _unauthorized()
        tok, user = auth
        if proxy:
            return self._proxy(req, proxy.group(1), proxy.group(2) or "/", user)
        if path in ("/v3", "/v3/"):
            base = self._base(req)
            return _json(200, {"apiVersion": {"group": "management.cattle.io", "path": "/v3", "version": "v3"},
                               "baseType": "apiRoot", "links": {k: f"{base}/v3/{k}" for k in
                                                                ("clusters", "nodes", "schemas", "settings",
                                                                 "tokens", "users")} | {"self": f"{base}/v3"},
                               "type": "apiRoot"},
                         [("X-API-Schemas", f"{base}/v3/schemas")])
        if path == "/v3/schemas":
            return self._collection(req, "schema", [])
        if path == "/v3/settings" and method == "GET":
            return self._collection(req, "setting", [self._setting_resource(req, k) for k in sorted(self.world.settings)])
        if path.startswith("/v3/settings/") and method == "GET":
            return self._setting(req, path.split("/")[3])
        if path == "/v3/tokens" or path.startswith("/v3/tokens/"):
            return self._tokens(req, tok, user)
        if path == "/v3/clusters" or path.startswith("/v3/clusters/"):
            return self._clusters(req, tok, user)
        if path == "/v3/nodes" and method == "GET":
            return self._nodes(req)
        if path == "/v3/users" and method == "GET":
            return self._collection(req, "user", [self._user_resource(req, user)])
        return _norman_error(404, "NotFound", "not found")

    @staticmethod
    def _base(req: Request) -> str:
        # Norman builds links from the request's Host.
        return f"https://{req.host}"

    def _collection(self, req: Request, resource_type: str, data: list[dict]) -> Response:
        return _json(200, {"type": "collection", "resourceType": resource_type,
                           "links": {"self": f"{self._base(req)}{req.path}"}, "createTypes": {},
                           "actions": {}, "pagination": {"limit": 1000, "total": len(data)},
                           "sort": {"order": "asc", "reverse": ""}, "filters": {}, "data": data})

    # -- authentication -----------------------------------------------------------------------

    @staticmethod
    def _credential(req: Request) -> str:
        """GetTokenAuthFromRequest: Bearer, Basic (URL-safe base64 of name:key) or the R_SESS cookie."""
        auth = req.headers.get("Authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer":
            return value.strip()
        if scheme.lower() == "basic":
            raw = value.strip()
            try:
                return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
            except (ValueError, UnicodeDecodeError):
                return ""
        cookie = SimpleCookie()
        try:
            cookie.load(req.headers.get("Cookie", ""))
        except Exception:
            return ""
        morsel = cookie.get("R_SESS")
        return morsel.value if morsel else ""

    def _authenticate(self, req: Request) -> Optional[tuple[Token, "User"]]:
        credential = self._credential(req)
        if not credential:
            return None
        auth = self.world._authenticate(credential)
        if auth is None:
            return None
        tok = auth[0]
        # A cluster-scoped token only works on paths that name its cluster.
        if tok.cluster_id and _cluster_of_path(req.path) != tok.cluster_id:
            return None
        return auth

    # -- public auth API ----------------------------------------------------------------------

    def _provider_v1(self, p: dict) -> dict:
        out = {"id": p["id"], "type": p["type"], "logoutAllSupported": False, "logoutAllEnabled": False,
               "logoutAllForced": False}
        if p["id"] in SAML_PROVIDERS:
            out["redirectUrl"] = f"{self.world.rancher_url}/v1-saml/{p['id']}/login"
        if p["id"] == "azuread":
            tenant = p.get("tenantId", "00000000-0000-0000-0000-000000000000")
            endpoint = str(p.get("endpoint", "https://login.microsoftonline.com/"))
            out.update({"redirectUrl": f"{self.world.rancher_url}/verify-auth-azure", "tenantId": tenant,
                        "clientId": p.get("clientId", "11111111-1111-1111-1111-111111111111"),
                        "scopes": ["openid", "profile", "email"],
                        "authUrl": p.get("authEndpoint", f"{endpoint}{tenant}/oauth2/v2.0/authorize"),
                        "tokenUrl": p.get("tokenEndpoint", f"{endpoint}{tenant}/oauth2/v2.0/token"),
                        "deviceAuthUrl": p.get("deviceAuthEndpoint", f"{endpoint}{tenant}/oauth2/v2.0/devicecode")})
        out.update({k: v for k, v in p.items() if k not in out and k not in ("endpoint", "authEndpoint",
                                                                             "tokenEndpoint", "deviceAuthEndpoint")})
        return out

    def _v1_public(self, req: Request) -> Response:
        path, method = req.path, req.method
        if path == "/v1-public/authproviders" and method == "GET":
            data = [self._provider_v1(p) for p in self.world.providers]
            return _json(200, {"data": data or None})
        if path == "/v1-public/login" and method == "POST":
            return self._login(req, None)
        if path.startswith("/v1-public/authtokens/") and path.count("/") == 3:
            request_id = path.rsplit("/", 1)[1]
            if method == "GET":
                found = self.world._saml_token(request_id)
                if found is None:
                    return Response(404, b"Not Found", TEXT)
                return _json(200, {"expiresAt": found.expires_at, "token": found.token})
            if method == "DELETE":
                self.world._delete_saml_token(request_id)  # not found is no error
                return Response(200)
        return _not_found_text()

    def _v3_public(self, req: Request) -> Response:
        parts = req.path.split("/")  # ['', 'v3-public', '<type>s', '<id>']
        method = req.method
        base = self._base(req)
        if len(parts) == 3 and parts[2].lower() == "authproviders" and method == "GET":
            data = []
            for p in self.world.providers:
                item = self._provider_v1(p)
                item.update({"baseType": "authProvider", "creatorId": None,
                             "links": {"self": f"{base}/v3-public/{p['type']}s/{p['id']}"},
                             "actions": {"login": f"{base}/v3-public/{p['type']}s/{p['id']}?action=login"}})
                data.append(dict(sorted(item.items())))
            return self._collection(req, "authProvider", data)
        if len(parts) == 4 and parts[2].lower() == "authtokens":
            request_id = parts[3]
            if method == "GET":
                found = self.world._saml_token(request_id)
                if found is None:
                    return _norman_error(404, "NotFound", f"token {request_id} not found")
                link = f"{base}/v3-public/authTokens/{request_id}"
                return _json(200, {"baseType": "authToken", "expiresAt": found.expires_at, "id": request_id,
                                   "links": {"remove": link, "self": link}, "name": request_id,
                                   "token": found.token, "type": "authToken"})
            if method == "DELETE":
                self.world._delete_saml_token(request_id)
                return Response(204)
        if len(parts) == 4:
            ptype = parts[2][:-1] if parts[2].endswith("s") else ""
            pid = parts[3]
            matches = PROVIDER_TYPES.get(pid, "").lower() == ptype.lower() and self.world._provider_enabled(pid)
            if matches and method == "POST" and req.param("action") == "login":
                return self._login(req, pid)
            if matches and method == "GET":
                item = [p for p in self.world.providers if p["id"] == pid][0]
                return _json(200, dict(sorted({**self._provider_v1(item), "baseType": "authProvider"}.items())))
        return _norman_error(404, "NotFound", "not found")

    def _login_error(self, status: int, code: str, message: Optional[str]) -> Response:
        if self.world.version < (2, 13):
            return _norman_error(status, code, message)
        # ReturnAPIError writes a Go struct: fixed field order, message omitted when empty.
        body: dict = {"code": code, "status": status}
        if message:
            body["message"] = message
        body.update({"type": "error", "baseType": "error"})
        return _json(status, body)

    def _login(self, req: Request, provider_id: Optional[str]) -> Response:
        w = self.world
        try:
            body = json.loads(req.body or b"")
            if not isinstance(body, dict):
                raise ValueError
        except (ValueError, UnicodeDecodeError):
            return self._login_error(422, "InvalidBodyContent", "invalid JSON body")
        if provider_id is None:  # v1: the type picks the provider
            ptype = body.get("type")
            by_type = {t: i for i, t in PROVIDER_TYPES.items()}
            if not isinstance(ptype, str) or ptype not in by_type:
                return self._login_error(422, "InvalidBodyContent", f"unknown or missing type {ptype!r}")
            provider_id = by_type[ptype]
        if not w._provider_enabled(provider_id):
            return self._login_error(404, "NotFound", f"provider {provider_id} is not enabled")
        if provider_id == "azuread":
            return self._azure_login(req, body)
        if provider_id not in BASIC_PROVIDERS:
            return self._login_error(422, "InvalidBodyContent",
                                     "only username/password providers can log in here")
        username, password = body.get("username"), body.get("password")
        response_type = body.get("responseType") or ""
        if not isinstance(username, str) or not isinstance(password, str) or not isinstance(response_type, str):
            return self._login_error(422, "InvalidBodyContent", "username and password must be strings")
        with w._lock:
            user = w._find_user(provider_id, username)
            if user is None or not hmac.compare_digest(user.password.encode(), password.encode()):
                w.counters._inc(("login_failures",))
                return self._login_error(401, "Unauthorized", "authentication failed")
            if not user.enabled:
                w.counters._inc(("login_failures",))
                return self._login_error(403, "PermissionDenied", None)
            return self._login_token(req, user, response_type, body)

    def _azure_login(self, req: Request, body: dict) -> Response:
        """AzureADLogin{id_token}: the token must be the stand-in's, for the configured app, of a known user."""
        w = self.world
        config = next((p for p in w.providers if p["id"] == "azuread"), {})
        id_token, response_type = body.get("id_token"), body.get("responseType") or ""
        if not isinstance(id_token, str) or not id_token or not isinstance(response_type, str):
            return self._login_error(422, "InvalidBodyContent", "id_token must be a non-empty string")
        claims = None
        if w.azure is not None:
            claims = w.azure.verify_id_token(id_token, str(config.get("clientId")), str(config.get("tenantId")))
        with w._lock:
            if claims is None:
                w.counters._inc(("login_failures",))
                return self._login_error(401, "Unauthorized", "authentication failed")
            user = w._find_user("azuread", str(claims.get("preferred_username")))
            if user is None or not user.enabled:
                # Rancher's access mode: only configured users may log in.
                w.counters._inc(("login_failures",))
                return self._login_error(403, "PermissionDenied", None)
            return self._login_token(req, user, response_type, body)

    def _login_token(self, req: Request, user: "User", response_type: str, body: dict) -> Response:
        """The token a successful login creates, in the response shape of this Rancher version."""
        w = self.world
        with w._lock:
            cookie = None
            if response_type.startswith("kubeconfig"):
                _, _, cid = response_type.partition("_")
                if cid and cid not in w.clusters:
                    return self._login_error(422, "InvalidBodyContent", f"cluster {cid} not found")
                prefix = f"kubeconfig-{user.id}" + (f".{cid}" if cid else "")
                tok = w._mint(user, prefix=prefix, cluster_id=cid, ttl_ms=w._kubeconfig_ttl(),
                              kind="kubeconfig", description="Kubeconfig token")
            else:
                ttl = body.get("ttl")
                ttl_ms = ttl if isinstance(ttl, int) and ttl > 0 else w._session_ttl()
                desc = body.get("description")
                tok = w._mint(user, prefix="token-", ttl_ms=ttl_ms, derived=False, kind="session",
                              description=desc if isinstance(desc, str) else "")
                if response_type == "cookie":
                    cookie = f"R_SESS={tok.bearer}; Path=/; HttpOnly; Secure"
            w.counters._inc(("logins",))
            if cookie:
                return Response(200, b"", None, [("Set-Cookie", cookie)])
            if w.version < (2, 13):
                return _json(201, tok.norman(self._base(req), with_secret=True))
            return _json(201, {"baseType": "token", "expiresAt": tok.expires_at_str(), "id": tok.name,
                               "token": tok.bearer, "type": "token"})

    # -- settings -----------------------------------------------------------------------------

    def _setting_resource(self, req: Request, name: str) -> dict:
        value = self.world.settings.get(name, "")
        default = {"server-version": "dev"}.get(name, value if name != "server-url" else "")
        link = f"{self._base(req)}/v3/settings/{name}"
        return {"baseType": "setting", "created": rfc3339(time.time() - 86400 * 30), "creatorId": None,
                "customized": False, "default": default, "id": name, "links": {"self": link},
                "name": name, "source": "", "type": "setting", "value": value}

    def _setting(self, req: Request, name: str) -> Response:
        if name not in self.world.settings and name not in PUBLIC_SETTINGS:
            return _norman_error(404, "NotFound", f'settings.management.cattle.io "{name}" not found')
        return _json(200, self._setting_resource(req, name))

    # -- tokens -------------------------------------------------------------------------------

    def _logout(self, req: Request) -> Response:
        w = self.world
        credential = self._credential(req)
        if not credential:
            return _unauthorized()
        name, _, key = credential.partition(":")
        clear = [("Set-Cookie", "R_SESS=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; HttpOnly; Secure"),
                 ("Set-Cookie", "CSRF=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0")]
        with w._lock:
            tok = w._tokens.get(name)
            if tok is None or not hmac.compare_digest(tok.key.encode(), key.encode()):
                return Response(500, b"Internal Server Error", TEXT)
            if tok.is_expired():
                return Response(200, b"", None, clear)
            w.revoke_token(tok.name)
        return Response(200, b"", None, clear)

    def _tokens(self, req: Request, caller: Token, user: "User") -> Response:
        w = self.world
        parts = req.path.rstrip("/").split("/")  # ['', 'v3', 'tokens', id?]
        base = self._base(req)
        with w._lock:
            if len(parts) == 3:
                if req.method == "GET":
                    mine = sorted((t for t in w._tokens.values() if t.user_id == caller.user_id),
                                  key=lambda t: t.created)
                    data = [t.norman(base, current=(t.name == caller.name and not caller.derived)) for t in mine]
                    return self._collection(req, "token", data)
                if req.method == "POST":
                    return self._create_token(req, caller, user)
                return _norman_error(405, "MethodNotAllowed", "method not allowed")
            if len(parts) != 4:
                return _norman_error(404, "NotFound", "not found")
            tid = parts[3]
            tok = w._tokens.get(tid)
            if tok is None:
                return _norman_error(404, "NotFound", f'tokens.management.cattle.io "{tid}" not found')
            if tok.user_id != caller.user_id:
                return _norman_error(404, "NotFound", f"{tid} not found")
            if req.method == "GET":
                return _json(200, tok.norman(base, current=(tok.name == caller.name and not caller.derived)))
            if req.method == "DELETE":
                if tok.name == caller.name and not caller.derived:
                    return _norman_error(400, "BadRequest", "Cannot delete token for current session. Use logout instead")
                w.revoke_token(tok.name)
                return Response(204)
            return _norman_error(405, "MethodNotAllowed", "method not allowed")

    def _create_token(self, req: Request, caller: Token, user: "User") -> Response:
        w = self.world
        try:
            body = json.loads(req.body or b"{}")
            if not isinstance(body, dict):
                raise ValueError
        except (ValueError, UnicodeDecodeError):
            return _norman_error(422, "InvalidFormat", "invalid JSON body")
        ttl = body.get("ttl") or 0
        if not isinstance(ttl, (int, float)) or isinstance(ttl, bool):
            return _norman_error(422, "InvalidFormat", "ttl must be a number", "ttl")
        cid = body.get("clusterId") or ""
        if not isinstance(cid, str):
            return _norman_error(422, "InvalidFormat", "clusterId must be a string", "clusterId")
        if cid and cid not in w.clusters:
            return _norman_error(422, "InvalidReference", f"cluster {cid} not found", "clusterId")
        desc = body.get("description")
        tok = w._mint(user, prefix="token-", cluster_id=cid, ttl_ms=w._clamp_ttl(int(ttl)),
                      description=desc if isinstance(desc, str) else "")
        return _json(201, tok.norman(self._base(req), with_secret=True, hide_expires_at=w.async_token_expiry))

    # -- clusters -----------------------------------------------------------------------------

    def _cluster_resource(self, req: Request, c: "SimCluster") -> dict:
        base = self._base(req)
        link = f"{base}/v3/clusters/{c.id}"
        connected = c.agent_connected
        if connected:
            conditions = [{"type": "Ready", "status": "True"}, {"type": "Connected", "status": "True"}]
        else:
            conditions = [{"type": "Ready", "status": "False", "reason": "Disconnected",
                           "message": "Cluster agent is not connected"},
                          {"type": "Connected", "status": "False"}]
        lcae: dict = {"enabled": c.ace_enabled, "type": "/v3/schemas/localClusterAuthEndpoint"}
        if c.fqdn:
            lcae.update({"fqdn": c.fqdn, "caCerts": c.ca_pem})
        ep = next(iter(c.endpoints.values()), None)
        data = {
            "actions": {"generateKubeconfig": f"{link}?action=generateKubeconfig",
                        "importYaml": f"{link}?action=importYaml"},
            "annotations": {}, "apiEndpoint": ep.url if ep else "https://10.43.0.1:443",
            "baseType": "cluster", "caCert": b64_pem(c.ca_pem), "conditions": conditions,
            "created": rfc3339(c.api.created), "createdTS": int(c.api.created * 1000), "creatorId": None,
            "driver": "rke2", "id": c.id, "internal": False, "labels": {},
            "links": {"self": link, "nodes": f"{base}/v3/nodes?clusterId={c.id}",
                      "shell": f"wss://{req.host}/v3/clusters/{c.id}?shell=true"},
            "localClusterAuthEndpoint": lcae, "name": c.name, "nodeCount": len(c.nodes),
            "provider": "rke2", "state": "active" if connected else "unavailable",
            "transitioning": "no" if connected else "error",
            "transitioningMessage": "" if connected else "Cluster agent is not connected",
            "type": "cluster", "uuid": str(c.api._uid_ns),
            "version": {"gitVersion": c.spec.kubernetes_version},
        }
        return data

    def _clusters(self, req: Request, tok: Token, user: "User") -> Response:
        w = self.world
        parts = req.path.rstrip("/").split("/")  # ['', 'v3', 'clusters', id?]
        if len(parts) == 3:
            if req.method != "GET":
                return _norman_error(405, "MethodNotAllowed", "method not allowed")
            return self._collection(req, "cluster", [self._cluster_resource(req, c) for c in w.clusters.values()])
        cid = parts[3]
        cluster = w.clusters.get(cid)
        if cluster is None or len(parts) != 4:
            return _norman_error(404, "NotFound", f'clusters.management.cattle.io "{cid}" not found')
        action = req.param("action")
        if req.method == "GET" and not action:
            return _json(200, self._cluster_resource(req, cluster))
        if req.method == "POST" and action == "generateKubeconfig":
            return _json(200, {"baseType": "generateKubeconfigOutput",
                               "config": self._generate_kubeconfig(req, cluster, user),
                               "type": "generateKubeconfigOutput"})
        if action:
            return _norman_error(404, "ActionNotAvailable", f"action {action} not available")
        return _norman_error(405, "MethodNotAllowed", "method not allowed")

    def _generate_kubeconfig(self, req: Request, c: "SimCluster", user: "User") -> str:
        w = self.world
        server_url = w.settings.get("server-url", "")
        host = urllib.parse.urlsplit(server_url).netloc if server_url else req.host
        token = None
        if w.settings.get("kubeconfig-generate-token", "true").lower() == "true":
            tok = w._mint(user, prefix=f"kubeconfig-{user.id}", cluster_id=c.id if c.ace_enabled else "",
                          ttl_ms=w._kubeconfig_ttl(), kind="kubeconfig", description="Kubeconfig token")
            token = tok.bearer
        cacerts = w.settings.get("cacerts", "")
        name = c.name or c.id
        entries = [KubeconfigEntry(name, f"https://{host}/k8s/clusters/{c.id}",
                                   format_cert_string(b64_pem(cacerts)) if cacerts else "")]
        if c.fqdn:  # Rancher writes the FQDN entry alone when an FQDN is set
            entries.append(KubeconfigEntry(f"{name}-fqdn", f"https://{c.fqdn}",
                                           format_cert_string(b64_pem(c.ca_pem))))
        elif c.spec.ace == "nodes":
            for node in c.nodes:
                if node.control_plane:
                    short = node.name[len(name) + 1:] if node.name.startswith(name + "-") else node.name
                    entries.append(KubeconfigEntry(f"{name}-{short}", c.node_server(node),
                                                   format_cert_string(b64_pem(c.ca_pem))))
        return render_kubeconfig(cluster_name=name, cluster_id=c.id, host=host, entries=entries, token=token,
                                 endpoint_enabled=c.ace_enabled, escape=w.html_escape_kubeconfig)

    def _nodes(self, req: Request) -> Response:
        cid = req.param("clusterId")
        data = []
        for c in self.world.clusters.values():
            if cid and c.id != cid:
                continue
            for i, n in enumerate(c.nodes):
                nid = f"{c.id}:m-{i:05d}"
                data.append({"baseType": "node", "clusterId": c.id, "controlPlane": n.control_plane,
                             "etcd": n.control_plane, "worker": not n.control_plane, "externalIpAddress": n.ip,
                             "ipAddress": n.ip, "hostname": n.name, "nodeName": n.name,
                             "requestedHostname": n.name, "id": nid, "state": "active", "type": "node",
                             "links": {"self": f"{self._base(req)}/v3/nodes/{nid}"}})
        return self._collection(req, "node", data)

    def _user_resource(self, req: Request, user: "User") -> dict:
        return {"baseType": "user", "enabled": user.enabled, "id": user.id, "me": True,
                "links": {"self": f"{self._base(req)}/v3/users/{user.id}"}, "name": user.username,
                "principalIds": [user.principal_id], "type": "user", "username": user.username}

    # -- proxy --------------------------------------------------------------------------------

    def _proxy(self, req: Request, cid: str, rest: str, user: "User") -> Optional[Response]:
        w = self.world
        cluster = w.clusters.get(cid)
        if cluster is None:
            return Response(404, b"No cluster available", TEXT)
        if not cluster.agent_connected:
            # The dialer waits for the agent to reconnect before giving up (~20-40 s in Rancher).
            w.wait_for(lambda: cluster.agent_connected or w._stopping or self.mode == "stopped",
                       timeout=cluster.disconnect_delay)
            if w._stopping or self.mode == "stopped":
                return None
            if not cluster.agent_connected:
                return Response(500, b"cluster agent disconnected", TEXT)
        # Rancher impersonates the user downstream; kube-api-auth is not involved.
        identity = Identity(user.id, sorted(user.groups) + ["system:authenticated", "system:cattle:authenticated"],
                            extra={"principalid": [user.principal_id], "username": [user.username]})
        return cluster.serve_as(req, rest, identity)
