"""The Rancher server: fault modes, health, routing and authentication, and the /k8s/clusters proxy."""

from __future__ import annotations

import base64
import re
import ssl
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING, Optional

from .kubeapi import Identity
from .listener import Listener, Request, Response
from .ext import ExtTokensAPI, ext_route, unauthorized_status
from .extkubeconfig import ExtKubeconfigAPI
from .norman import NormanAPI
from .public import PublicAPI
from .responses import (DASHBOARD_PAGE, ERROR_PAGE, PORTAL_PAGE, PUBLIC_SETTINGS, TEXT, _cluster_of_path, _json,
                        _norman_error, _not_found_text, _unauthorized)
from .tokens import Token

if TYPE_CHECKING:
    from .world import User, World

MODES = ("up", "stopped", "stalled", "slow", "error", "html")
_PROXY_PATH = re.compile(r"^/k8s/clusters/([^/]+)(/.*)?$")


class RancherServer(PublicAPI, NormanAPI, ExtTokensAPI, ExtKubeconfigAPI):
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
            fault = self.world._fault_for(req.method, req.path)
            if fault is not None and fault.kind == "hold":
                resp = self._route(req, m) if fault.reach_rancher else None
                self._hold(fault)
                if resp is None or self.world._stopping:
                    return None  # dropped unanswered, as a request whose client is gone
            elif fault is None:
                resp = self._route(req, m)
            else:
                resp = fault.spoil(self._route(req, m) if fault.reach_rancher else None)
        if resp is not None:
            self.world.counters._answered(counter, resp.status)
        return resp

    def _hold(self, fault) -> None:
        """Hold the answer (or, without reach_rancher, the unhandled request) until the fault is removed."""
        w = self.world
        with w._lock:
            if fault.times is not None:
                fault.times -= 1
            fault.held += 1
            w._notify()
        while not w.wait_for(lambda: w._stopping or all(f is not fault for f in w._faults), timeout=3600):
            pass

    # -- routing ------------------------------------------------------------------------------

    def _route(self, req: Request, proxy: Optional[re.Match]) -> Optional[Response]:
        path, method = req.path, req.method
        if path == "/ping" and method == "GET":
            return Response(200, b"pong", TEXT)
        if path == "/healthz" and method == "GET":
            return Response(200, b"ok", TEXT)
        if path == "/rancherversion" and method == "GET":
            # pkg/version: the build's version, commit and whether it is Rancher Prime, all strings.
            return _json(200, {"Version": self.world.rancher_version, "GitCommit": "0a1b2c3d",
                               "RancherPrime": "true" if self.world.rancher_prime else "false"})
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
            return self._logout(req) if self.world.v3_tokens else _not_found_text()
        if path == "/v1/logout" and method == "POST" and self.world.v1_public:
            return self._logout_v1(req)
        ext = ext_route(path)
        if ext is not None and not (self.world.features.ext_tokens if ext[0] == "tokens"
                                    else self.world.features.ext_kubeconfigs):
            ext = None  # before 2.12 there is no ext API
        if not (path == "/v3" or path.startswith("/v3/") or proxy or ext):
            return _not_found_text()
        auth = self._authenticate(req)
        if auth is None:
            return unauthorized_status() if ext else _unauthorized()
        tok, user = auth
        if ext is not None:
            resource, steve, name = ext
            if resource == "tokens":
                return self._ext_tokens(req, steve, name, tok, user)
            return self._ext_kubeconfigs(req, steve, name, tok, user)
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
            # Once v3 tokens are removed the route is gone: mux's plain 404 (UNCERTAIN: no such Rancher yet).
            return self._tokens(req, tok, user) if self.world.v3_tokens else _not_found_text()
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
