"""Downstream clusters: their ACE API server listeners, the webhook authenticator with its cache, and kube-api-auth."""

from __future__ import annotations

import http.client
import json
import ssl
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

from .kubeapi import Identity, KubeAPI, unauthorized
from .kubeapiauth import AuthStore, KubeApiAuth
from .listener import Listener, Request, Response

if TYPE_CHECKING:
    from .world import World

# "fqdn+nodes": an FQDN (a load balancer) in front of API servers that also answer on each node.
ACE_MODES = ("fqdn", "nodes", "fqdn+nodes", None)
# RKE2 sets the service account issuer and "rke2" as API audiences; they ride along in every TokenReview.
API_AUDIENCES = ["https://kubernetes.default.svc.cluster.local", "rke2"]
MAX_NODES_PER_CLUSTER = 8
HTML_PAGE = (b"<html><head><title>Sign in to the network</title></head>"
             b"<body><form method=\"post\">Please sign in to continue.</form></body></html>\n")


@dataclass(frozen=True)
class ClusterSpec:
    """What a downstream cluster looks like: ACE by FQDN, per control-plane node, or none."""

    name: str
    id: str
    ace: Optional[str] = None
    nodes: tuple[str, ...] = ("cp1",)
    workers: tuple[str, ...] = ()
    kubernetes_version: str = "v1.31.4+rke2r1"
    namespaces: tuple[str, ...] = ("default", "kube-system", "cattle-system")

    def __post_init__(self) -> None:
        if self.ace not in ACE_MODES:
            raise ValueError(f"ace must be one of {ACE_MODES}, not {self.ace!r}")
        if len(self.nodes) + len(self.workers) > MAX_NODES_PER_CLUSTER:
            raise ValueError(f"at most {MAX_NODES_PER_CLUSTER} nodes per cluster")


@dataclass(frozen=True)
class SimNode:
    """A v3 Node of a cluster (control-plane nodes get an API server listener when ace='nodes')."""

    name: str
    ip: str
    control_plane: bool


class SimEndpoint:
    """One ACE API server listener: the FQDN endpoint or a control-plane node."""

    def __init__(self, name: str, cluster: "SimCluster", listener: Listener) -> None:
        self.name = name
        self.cluster = cluster
        self.listener = listener
        self._html = False

    @property
    def ip(self) -> str:
        """The loopback address it listens on."""
        return self.listener.host

    @property
    def port(self) -> int:
        """Its (ephemeral, then fixed) port."""
        return self.listener.port

    @property
    def host(self) -> str:
        """ip:port, as written in localClusterAuthEndpoint.fqdn."""
        return self.listener.host_port

    @property
    def url(self) -> str:
        """https://ip:port"""
        return self.listener.url

    @property
    def is_down(self) -> bool:
        """True while set_down(True) is in force."""
        return not self.listener.is_up

    @property
    def html(self) -> bool:
        """True while set_html(True) is in force."""
        return self._html

    def set_html(self, on: bool) -> None:
        """Answer every request with a 200 HTML page (a load balancer or portal in front of the API server)."""
        self._html = bool(on)
        self.cluster.world._notify()

    def set_down(self, down: bool) -> None:
        """Stop (connection refused) or restart this API server on the same port."""
        self.listener.set_down(down)
        self.cluster.world._notify()


class SimCluster:
    """A downstream cluster: CA, ACE listeners, kube-api-auth and the objects it reads."""

    def __init__(self, world: "World", spec: ClusterSpec, index: int, net: str) -> None:
        self.world = world
        self.spec = spec
        self.name = spec.name
        self.id = spec.id
        self.disconnect_delay = 20.0
        self.webhook_cache_ttl = 120.0
        self.sync_delay: Optional[float] = None  # seconds before token changes reach this cluster (None: World's)
        self.not_ready: set[str] = set()         # node names Rancher shows NotReady
        self._agent_connected = True
        base = 10 + index * 10
        self.fqdn_ip = f"{net}.{base}"
        self.nodes: list[SimNode] = [SimNode(n, f"{net}.{base + 1 + i}", True) for i, n in enumerate(spec.nodes)]
        self.nodes += [SimNode(n, f"{net}.{base + 1 + len(spec.nodes) + i}", False)
                       for i, n in enumerate(spec.workers)]
        self.ca = world._ca(f"cluster-{spec.id}")
        self.ca_pem = self.ca.cert_pem
        self.ca_file = world._write_file(f"{spec.id}-ca.pem", self.ca_pem)
        self.api = KubeAPI(spec.id, spec.kubernetes_version, list(spec.namespaces))
        self.store = AuthStore(world._lock, world._notify)
        self.kube_api_auth = KubeApiAuth(spec.id, f"{net}.{base + 9}", self.store, world.counters,
                                         strip_ext=world.features.kube_api_auth_strips_ext)
        self._cache: dict[str, tuple[float, Identity]] = {}
        self._cache_lock = threading.Lock()
        self.endpoints: dict[str, SimEndpoint] = {}
        if spec.ace is not None:
            ips = [self.fqdn_ip] + [n.ip for n in self.nodes]
            leaf = self.ca.issue(f"{spec.name}-apiserver", ips, ["localhost", "kubernetes.default"])
            cert_file = world._write_file(f"{spec.id}-serving.crt", leaf.cert_pem)
            key_file = world._write_file(f"{spec.id}-serving.key", leaf.key_pem)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert_file, key_file)
            ctx.set_alpn_protocols(["http/1.1"])
            targets = [("fqdn", self.fqdn_ip)] if spec.ace.startswith("fqdn") else []
            if spec.ace.endswith("nodes"):
                targets += [(n.name, n.ip) for n in self.nodes if n.control_plane]
            for ep_name, ip in targets:
                listener = Listener(f"{spec.id}-{ep_name}", ip, self._endpoint_app(ep_name), ctx)
                self.endpoints[ep_name] = SimEndpoint(ep_name, self, listener)

    # -- public knobs -------------------------------------------------------------------------

    @property
    def agent_connected(self) -> bool:
        """Whether the cluster agent's tunnel to Rancher is up (the proxy path and sync need it)."""
        return self._agent_connected

    @agent_connected.setter
    def agent_connected(self, value: bool) -> None:
        self._agent_connected = bool(value)
        self.world._agent_changed(self)

    @property
    def namespaces(self) -> list[str]:
        """Namespace names served (mutable)."""
        return self.api.namespaces

    @namespaces.setter
    def namespaces(self, value: list[str]) -> None:
        self.api.namespaces = list(value)

    @property
    def ace_enabled(self) -> bool:
        """localClusterAuthEndpoint.enabled"""
        return self.spec.ace is not None

    @property
    def proxy_url(self) -> str:
        """https://<rancher>/k8s/clusters/<id>"""
        return f"{self.world.rancher_url}/k8s/clusters/{self.id}"

    @property
    def fqdn(self) -> str:
        """localClusterAuthEndpoint.fqdn: host:port of the FQDN endpoint, or '' when ACE is per node."""
        return self.endpoints["fqdn"].host if "fqdn" in self.endpoints else ""

    def endpoint(self, name: str) -> SimEndpoint:
        """An ACE endpoint by name ('fqdn' or a node name)."""
        return self.endpoints[name]

    def node_server(self, node: SimNode) -> str:
        """The per-node server URL written into kubeconfigs (Rancher writes https://<ip>:6443)."""
        ep = self.endpoints.get(node.name)
        return ep.url if ep is not None else f"https://{node.ip}:6443"

    def set_node_ready(self, node: str, ready: bool) -> None:
        """Mark a node Ready or NotReady in Rancher's view (the ACE current-context of 2.16 skips NotReady ones)."""
        if node not in {n.name for n in self.nodes}:
            raise KeyError(node)
        (self.not_ready.discard if ready else self.not_ready.add)(node)
        self.world._notify()

    def clear_auth_cache(self) -> None:
        """Forget every cached TokenReview success (as an API server restart would)."""
        with self._cache_lock:
            self._cache.clear()

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Start kube-api-auth and every ACE listener (Rancher deploys kube-api-auth only with ACE)."""
        if self.ace_enabled:
            self.kube_api_auth.listener.start()
        for ep in self.endpoints.values():
            ep.listener.start()

    def stop(self) -> None:
        """Stop every listener of this cluster."""
        for ep in self.endpoints.values():
            ep.listener.stop()
        self.kube_api_auth.listener.stop()

    # -- serving ------------------------------------------------------------------------------

    def serve_as(self, req: Request, path: str, identity: Identity) -> Response:
        """Serve a request Rancher proxies, impersonating an already authenticated user."""
        return self.api.handle(req, path, identity)

    def _endpoint_app(self, ep_name: str):
        counter = f"{self.id}:{ep_name}"

        def app(req: Request) -> Response:
            self.world.counters._received(counter)
            if self.endpoints[ep_name].html:
                return Response(200, HTML_PAGE, "text/html; charset=utf-8")
            resp = self._serve_direct(req)
            self.world.counters._answered(counter, resp.status)
            return resp

        return app

    def _serve_direct(self, req: Request) -> Response:
        auth = req.headers.get("Authorization", "")
        identity: Optional[Identity] = None
        scheme, _, credential = auth.partition(" ")
        if scheme.lower() == "bearer" and credential.strip():
            identity = self._authenticate(credential.strip())
            if identity is None:
                return unauthorized()
        return self.api.handle(req, req.path, identity)

    def _authenticate(self, token: str) -> Optional[Identity]:
        """The API server's cached webhook token authenticator: successes cached, errors never."""
        now = time.monotonic()
        with self._cache_lock:
            hit = self._cache.get(token)
            if hit is not None and hit[0] > now:
                return hit[1]
            self._cache.pop(token, None)
        identity = self._token_review(token)
        ttl = self.webhook_cache_ttl
        if identity is not None and ttl > 0:
            with self._cache_lock:
                self._cache[token] = (time.monotonic() + ttl, identity)
        return identity

    def _token_review(self, token: str) -> Optional[Identity]:
        review = {"kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1beta1",
                  "metadata": {"creationTimestamp": None},
                  "spec": {"token": token, "audiences": API_AUDIENCES},
                  "status": {"user": {}}}
        listener = self.kube_api_auth.listener
        conn = http.client.HTTPConnection(listener.host, listener.port, timeout=30)
        try:
            conn.request("POST", "/v1/authenticate", json.dumps(review, separators=(",", ":")),
                         {"Content-Type": "application/json", "Accept": "application/json, */*"})
            resp = conn.getresponse()
            data = resp.read()
        except OSError:
            return None  # connection refused etc.: an error, not cached, not retried
        finally:
            conn.close()
        if not 200 <= resp.status < 300:
            return None
        try:
            status = json.loads(data).get("status") or {}
        except ValueError:
            return None
        if not status.get("authenticated"):
            return None
        user = status.get("user") or {}
        groups = list(user.get("groups") or [])
        if "system:authenticated" not in groups:
            groups.append("system:authenticated")
        return Identity(user.get("username", ""), groups, user.get("uid", ""))

    def v3_nodes(self) -> list[SimNode]:
        """Every v3 Node of this cluster."""
        return list(self.nodes)
