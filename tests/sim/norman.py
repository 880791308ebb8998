"""Rancher's Norman /v3 API: settings, tokens, clusters with generateKubeconfig, nodes and users."""

from __future__ import annotations

import json
import time
import urllib.parse
from typing import TYPE_CHECKING

from .listener import Request, Response
from .responses import PUBLIC_SETTINGS, _json, _norman_error
from .templates import KubeconfigEntry, b64_pem, format_cert_string, render_kubeconfig
from .tokens import Token, rfc3339

if TYPE_CHECKING:
    from .cluster import SimCluster
    from .world import User, World



class NormanAPI:
    """Mixin of RancherServer: the /v3 resources."""

    world: "World"

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
            "actions": ({"generateKubeconfig": f"{link}?action=generateKubeconfig"} if self.world.norman_kubeconfig
                        else {}) | {"importYaml": f"{link}?action=importYaml"},
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
        if req.method == "POST" and action == "generateKubeconfig" and w.norman_kubeconfig:
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

