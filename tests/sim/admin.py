"""A small plain-HTTP control channel on 127.0.0.1 for driving a running World by hand (curl)."""

from __future__ import annotations

import dataclasses
import json
from typing import Optional

from .listener import Listener, Request, Response
from .providers import SAML_PROVIDERS
from .saml import parse_login_url
from .world import World

USAGE = """POST /rancher/mode                {"mode": "up|stopped|stalled|slow|error|html", "slow_seconds": 5}
POST /cluster/<id>/agent          {"connected": false, "disconnect_delay": 20}
POST /cluster/<id>/endpoint/<ep>  {"down": true}
POST /cluster/<id>/cache-ttl      {"seconds": 0}
POST /token/<name>/revoke | /disable | /expire
POST /settings                    {"kubeconfig-generate-token": "false"}
POST /switches                    {"v3_tokens": false, "ext_login": true, "norman_kubeconfig": false,
                                   "kube_api_auth_strips_ext": true, …any versions.Features field}
POST /sync-delay                  {"seconds": 15, "cluster": "<id>" | null}
POST /fault                       {"kind": "cut|garbage|empty|huge|wrong-type|html|hold", "path": "/v3/tokens",
                                   "method": "POST", "times": 1, "reach_rancher": true}
POST /faults/clear
POST /cluster/<id>/endpoint/<ep>/html  {"on": true}
POST /cluster/<id>/node/<name>    {"ready": false}
DELETE /kubeconfig/<name>         (and its tokens)
POST /counters/reset
POST /saml/complete               {"url": "<dashboard login URL>", "username": "alice", "provider": "okta",
                                   "tamper": null | "garbage" | "wrong-key"}   (the browser + IdP step)
POST /azure/device                {"user_code": "ABCD1234X", "username": "alice"} | {"user_code": …, "decline": true}
GET  /counters | /tokens | /kubeconfigs | /state
"""


def _ok(obj: object = None) -> Response:
    return Response(200, (json.dumps({"ok": True} if obj is None else obj, indent=2) + "\n").encode(),
                    "application/json")


def _err(status: int, message: str) -> Response:
    return Response(status, (json.dumps({"error": message}) + "\n").encode(), "application/json")


class AdminServer:
    """Control endpoints for one World."""

    def __init__(self, world: World, port: int = 0) -> None:
        self.world = world
        self.listener = Listener("admin", "127.0.0.1", self._app, port=port)

    @property
    def url(self) -> str:
        """http://127.0.0.1:port"""
        return self.listener.url

    def start(self) -> None:
        """Start listening."""
        self.listener.start()

    def stop(self) -> None:
        """Stop listening."""
        self.listener.stop()

    def _app(self, req: Request) -> Response:
        try:
            body = json.loads(req.body) if req.body else {}
            if not isinstance(body, dict):
                raise ValueError("body must be a JSON object")
            return self._route(req, body) or _err(404, "unknown route\n" + USAGE)
        except (KeyError, ValueError) as e:
            return _err(400, f"{type(e).__name__}: {e}")

    def _route(self, req: Request, body: dict) -> Optional[Response]:
        w = self.world
        parts = [p for p in req.path.split("/") if p]
        if req.method == "GET":
            if parts == []:
                return Response(200, USAGE.encode(), "text/plain; charset=utf-8")
            if parts == ["counters"]:
                return _ok(w.counters.snapshot())
            if parts == ["tokens"]:
                return _ok(w.tokens())
            if parts == ["kubeconfigs"]:
                return _ok(w.kubeconfigs())
            if parts == ["state"]:
                assert w.rancher is not None
                return _ok({"rancher": {"url": w.rancher_url, "mode": w.rancher.mode, "version": w.rancher_version,
                                        "v3_tokens": w.v3_tokens, "ext_login": w.ext_login,
                                        "norman_kubeconfig": w.norman_kubeconfig, "sync_delay": w.sync_delay,
                                        "features": dataclasses.asdict(w.features)},
                            "clusters": {c.id: {"agent_connected": c.agent_connected,
                                                "endpoints": {n: {"url": e.url, "down": e.is_down}
                                                              for n, e in c.endpoints.items()}}
                                         for c in w.clusters.values()}})
            return None
        if req.method == "DELETE" and len(parts) == 2 and parts[0] == "kubeconfig":
            w.delete_kubeconfig(parts[1])
            return _ok()
        if req.method != "POST":
            return None
        if parts == ["switches"]:
            self._switches(body)
            return _ok()
        if parts == ["sync-delay"]:
            w.set_sync_delay(float(body["seconds"]), body.get("cluster"))
            return _ok()
        if parts == ["fault"]:
            times = body.get("times")
            w.add_fault(str(body["kind"]), str(body["path"]), str(body.get("method") or ""),
                        None if times is None else int(times), bool(body.get("reach_rancher", True)))
            return _ok()
        if parts == ["faults", "clear"]:
            w.clear_faults()
            return _ok()
        if parts == ["rancher", "mode"]:
            assert w.rancher is not None
            if "slow_seconds" in body:
                w.rancher.slow_seconds = float(body["slow_seconds"])
            w.rancher.set_mode(str(body["mode"]))
            return _ok()
        if parts == ["settings"]:
            w.settings.update({str(k): str(v) for k, v in body.items()})
            return _ok()
        if parts == ["counters", "reset"]:
            w.counters.reset()
            return _ok()
        if len(parts) >= 3 and parts[0] == "cluster":
            cluster = w.cluster(parts[1])
            if parts[2:] == ["agent"]:
                if "disconnect_delay" in body:
                    cluster.disconnect_delay = float(body["disconnect_delay"])
                cluster.agent_connected = bool(body["connected"])
                return _ok()
            if parts[2:] == ["cache-ttl"]:
                cluster.webhook_cache_ttl = float(body["seconds"])
                return _ok()
            if len(parts) == 4 and parts[2] == "endpoint":
                cluster.endpoint(parts[3]).set_down(bool(body["down"]))
                return _ok()
            if len(parts) == 5 and parts[2] == "endpoint" and parts[4] == "html":
                cluster.endpoint(parts[3]).set_html(bool(body["on"]))
                return _ok()
            if len(parts) == 4 and parts[2] == "node":
                cluster.set_node_ready(parts[3], bool(body["ready"]))
                return _ok()
        if parts == ["saml", "complete"]:
            return self._saml_complete(body)
        if parts == ["azure", "device"]:
            if w.azure is None:
                raise ValueError("Azure AD is not enabled (World.enable_azure_ad)")
            if body.get("decline"):
                w.azure.decline(str(body["user_code"]))
            else:
                w.azure.approve(str(body["user_code"]), str(body["username"]))
            return _ok()
        if len(parts) == 3 and parts[0] == "token":
            action = {"revoke": w.revoke_token, "disable": w.disable_token, "expire": w.expire_token}.get(parts[2])
            if action is not None:
                action(parts[1])
                return _ok()
        return None

    def _switches(self, body: dict) -> None:
        """World switches (v3_tokens, ext_login, norman_kubeconfig, rancher_prime) and Features fields."""
        w = self.world
        fields = {f.name for f in dataclasses.fields(w.features)}
        unknown = set(body) - fields - {"v3_tokens", "ext_login", "norman_kubeconfig", "rancher_prime"}
        if unknown:
            raise ValueError(f"unknown switches {sorted(unknown)}")
        for name in ("v3_tokens", "ext_login", "norman_kubeconfig", "rancher_prime"):
            if name in body:
                setattr(w, name, bool(body[name]))
        w.override(**{k: bool(v) for k, v in body.items() if k in fields})

    def _saml_complete(self, body: dict) -> Response:
        """Complete a CLI's SAML login as its user would in the browser: from the URL or its two parameters."""
        w = self.world
        params = parse_login_url(str(body["url"])) if body.get("url") else {}
        request_id = str(body.get("requestId") or params.get("requestId") or "")
        public_key = str(body.get("publicKey") or params.get("publicKey") or "")
        if not request_id or not public_key:
            raise ValueError("need a dashboard login URL, or requestId and publicKey")
        username = str(body["username"])
        provider = body.get("provider")
        if not provider:  # the SAML provider this user belongs to
            provider = next((p for p in SAML_PROVIDERS if w._find_user(p, username) is not None), "okta")
        name = w.complete_saml_login(request_id, public_key, username, str(provider),
                                     params.get("responseType") or "kubeconfig", body.get("tamper"))
        return _ok({"ok": True, "token": name})
