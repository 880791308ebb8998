"""Rancher's public auth API: providers and logins over /v1-public and /v3-public, and logout."""

from __future__ import annotations

import hmac
import json
from typing import TYPE_CHECKING, Optional

from .listener import Request, Response
from .providers import BASIC_PROVIDERS, PROVIDER_TYPES, SAML_PROVIDERS
from .responses import TEXT, _json, _norman_error, _not_found_text, _unauthorized, go_http_error

if TYPE_CHECKING:
    from .tokens import Token
    from .world import User, World



class PublicAPI:
    """Mixin of RancherServer: /v1-public, /v3-public and the logout routes."""

    world: "World"

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
            # The announced login (rancher#55988) makes ext tokens; without v3 tokens every token is ext.
            ext = True if w.ext_login else None
            if response_type.startswith("kubeconfig"):
                _, _, cid = response_type.partition("_")
                if cid and cid not in w.clusters:
                    return self._login_error(422, "InvalidBodyContent", f"cluster {cid} not found")
                prefix = f"kubeconfig-{user.id}" + (f".{cid}" if cid else "")
                tok = w._mint(user, prefix=prefix, cluster_id=cid, ttl_ms=w._kubeconfig_ttl(),
                              kind="kubeconfig", description="Kubeconfig token", ext=ext)
            else:
                ttl = body.get("ttl")
                ttl_ms = ttl if isinstance(ttl, int) and ttl > 0 else w._session_ttl()
                desc = body.get("description")
                tok = w._mint(user, prefix="token-", ttl_ms=ttl_ms, derived=False, kind="session",
                              description=desc if isinstance(desc, str) else "", ext=ext)
                if response_type == "cookie":
                    cookie = f"R_SESS={tok.bearer}; Path=/; HttpOnly; Secure"
            w.counters._inc(("logins",))
            if cookie:
                return Response(200, b"", None, [("Set-Cookie", cookie)])
            if w.ext_login:
                return _json(201, tok.ext_object(with_value=True))
            if w.version < (2, 13):
                return _json(201, tok.norman(self._base(req), with_secret=True))
            return _json(201, {"baseType": "token", "expiresAt": tok.expires_at_str(), "id": tok.name,
                               "token": tok.bearer, "type": "token"})

    def _logout(self, req: Request) -> Response:
        """POST /v3/tokens?action=logout: delete the calling token, clear the cookies."""
        w = self.world
        credential = self._credential(req)
        if not credential:
            return _unauthorized()
        clear = [("Set-Cookie", "R_SESS=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; HttpOnly; Secure"),
                 ("Set-Cookie", "CSRF=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0")]
        with w._lock:
            tok = self._logout_token(credential)
            if tok is None:
                return Response(500, b"Internal Server Error", TEXT)
            if not tok.is_expired():
                w.revoke_token(tok.name)
        return Response(200, b"", None, clear)

    def _logout_v1(self, req: Request) -> Response:
        """POST /v1/logout (2.13+, pkg/auth/logout): the same for v3 and ext tokens, in net/http's words."""
        w = self.world
        credential = self._credential(req)
        if not credential:
            return go_http_error(401, "No valid token cookie or auth header")
        clear = [("Set-Cookie", f"{name}=; Path=/; Expires=Wed, 10 Feb 1982 23:00:00 GMT; Max-Age=0; HttpOnly; "
                                "Secure; SameSite=Strict")
                 for name in ("R_SESS", "CSRF", "R_OIDC_ID", "R_AZUREAD_ID")]
        with w._lock:
            tok = self._logout_token(credential)
            if tok is None:
                return go_http_error(500, "Internal Server Error")  # GetToken's NotFound becomes a 500
            if not tok.is_expired():  # 410 Gone: answered 200, nothing deleted
                w.revoke_token(tok.name)
        return Response(200, b"", "application/json", clear)

    def _logout_token(self, credential: str) -> Optional["Token"]:
        """The token a logout names: known and with the right key (expired and disabled ones included)."""
        name, _, key = credential.partition(":")
        want_ext = name.startswith("ext/")
        tok = self.world._tokens.get(name.removeprefix("ext/"))
        if tok is None or (want_ext and not tok.ext) or (not tok.ext and not self.world.v3_tokens):
            return None
        return tok if tok.key_matches(key) else None
