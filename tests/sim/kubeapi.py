"""The slice of the Kubernetes API a downstream cluster serves: version, health, discovery, namespaces, whoami."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Optional

from .listener import Request, Response
from .tokens import rfc3339

JSON = "application/json"
PUBLIC_PATHS = ("/version", "/healthz", "/livez", "/readyz")
AUTHN_VERSIONS = ("v1", "v1beta1", "v1alpha1")


@dataclass
class Identity:
    """An authenticated user as the API server sees it."""

    username: str
    groups: list[str] = field(default_factory=list)
    uid: str = ""
    extra: dict[str, list[str]] = field(default_factory=dict)


def _dumps(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def status(code: int, reason: str, message: str, details: Optional[dict] = None) -> Response:
    """A metav1 Status failure response."""
    body: dict = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                  "message": message, "reason": reason}
    if details is not None:
        body["details"] = details
    body["code"] = code
    return Response(code, _dumps(body), JSON)


def unauthorized() -> Response:
    """What the authentication filter answers for a bad token (never downgraded to anonymous)."""
    return status(401, "Unauthorized", "Unauthorized")


def _forbidden_anonymous(req: Request, resource: Optional[str]) -> Response:
    user = 'User "system:anonymous"'
    if resource:
        verb = "list" if req.method == "GET" else "create"
        msg = (f'{resource} is forbidden: {user} cannot {verb} resource "{resource}" in API group "" '
               "at the cluster scope")
        return status(403, "Forbidden", msg, {"kind": resource})
    return status(403, "Forbidden", f'forbidden: {user} cannot {req.method.lower()} path "{req.path}"', {})


def _age(seconds: float) -> str:
    s = int(max(0, seconds))
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m"
    if s < 172800:
        return f"{s // 3600}h"
    return f"{s // 86400}d"


class KubeAPI:
    """Serves one cluster's API for an already-authenticated (or anonymous) request."""

    def __init__(self, cluster_id: str, kubernetes_version: str, namespaces: list[str]) -> None:
        self.cluster_id = cluster_id
        self.kubernetes_version = kubernetes_version
        self.namespaces = namespaces
        self.created = time.time() - 86400 * 12
        self._uid_ns = uuid.uuid5(uuid.NAMESPACE_URL, cluster_id)

    def handle(self, req: Request, path: str, identity: Optional[Identity]) -> Response:
        """Answer a request whose path is relative to the API root."""
        path = path or "/"
        if path in PUBLIC_PATHS or path.startswith(("/healthz/", "/livez/", "/readyz/")):
            if req.method not in ("GET", "HEAD"):
                return status(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
            if path == "/version":
                return Response(200, self._version(), JSON)
            return Response(200, b"ok", "text/plain; charset=utf-8")
        if identity is None:
            resource = "namespaces" if path.startswith("/api/v1/namespaces") else (
                "selfsubjectreviews" if path.endswith("/selfsubjectreviews") else None)
            return _forbidden_anonymous(req, resource)
        return self._authenticated(req, path, identity)

    def _authenticated(self, req: Request, path: str, who: Identity) -> Response:
        p = path.rstrip("/") or "/"
        get = req.method in ("GET", "HEAD")
        if p == "/" and get:
            paths = ["/api", "/api/v1", "/apis", "/apis/authentication.k8s.io",
                     "/apis/authentication.k8s.io/v1", "/apis/authentication.k8s.io/v1beta1",
                     "/healthz", "/livez", "/readyz", "/version"]
            return Response(200, _dumps({"paths": paths}), JSON)
        if p == "/api" and get:
            return Response(200, _dumps({"kind": "APIVersions", "versions": ["v1"],
                                         "serverAddressByClientCIDRs": [
                                             {"clientCIDR": "0.0.0.0/0", "serverAddress": req.host}]}), JSON)
        if p == "/apis" and get:
            return Response(200, _dumps({"kind": "APIGroupList", "apiVersion": "v1",
                                         "groups": [self._authn_group()]}), JSON)
        if p == "/apis/authentication.k8s.io" and get:
            return Response(200, _dumps({"kind": "APIGroup", "apiVersion": "v1", **self._authn_group()}), JSON)
        if p == "/api/v1" and get:
            return Response(200, _dumps(self._core_resources()), JSON)
        for v in AUTHN_VERSIONS:
            base = f"/apis/authentication.k8s.io/{v}"
            if p == base and get and v != "v1alpha1":
                return Response(200, _dumps(self._authn_resources(v)), JSON)
            if p == base + "/selfsubjectreviews":
                if req.method != "POST":
                    return status(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
                return self._selfsubjectreview(v, who)
        if p == "/api/v1/namespaces" and get:
            return self._namespace_list(req, self.namespaces)
        if p.startswith("/api/v1/namespaces/") and p.count("/") == 4 and get:
            name = p.rsplit("/", 1)[1]
            if name not in self.namespaces:
                return status(404, "NotFound", f'namespaces "{name}" not found',
                              {"name": name, "kind": "namespaces"})
            if _wants_table(req):
                return self._namespace_list(req, [name])
            return Response(200, _dumps(self._namespace(name)), JSON)
        if p.startswith(("/api/", "/apis/")):
            return status(404, "NotFound", "the server could not find the requested resource", {})
        return Response(404, b"404 page not found\n", "text/plain; charset=utf-8")

    def _version(self) -> bytes:
        v = self.kubernetes_version.lstrip("v").split("+")[0].split(".")
        return json.dumps({
            "major": v[0], "minor": v[1] if len(v) > 1 else "0",
            "gitVersion": self.kubernetes_version,
            "gitCommit": "0123456789abcdef0123456789abcdef01234567",
            "gitTreeState": "clean", "buildDate": "2025-01-15T00:00:00Z",
            "goVersion": "go1.23.4", "compiler": "gc", "platform": "linux/amd64",
        }, indent=2).encode()

    @staticmethod
    def _authn_group() -> dict:
        versions = [{"groupVersion": "authentication.k8s.io/v1", "version": "v1"},
                    {"groupVersion": "authentication.k8s.io/v1beta1", "version": "v1beta1"}]
        return {"name": "authentication.k8s.io", "versions": versions, "preferredVersion": versions[0]}

    @staticmethod
    def _core_resources() -> dict:
        return {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
            {"name": "namespaces", "singularName": "namespace", "namespaced": False, "kind": "Namespace",
             "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"], "shortNames": ["ns"],
             "storageVersionHash": "Q3oi5N2YM8M="},
            {"name": "namespaces/status", "singularName": "", "namespaced": False, "kind": "Namespace",
             "verbs": ["get", "patch", "update"]},
        ]}

    @staticmethod
    def _authn_resources(version: str) -> dict:
        resources = [{"name": "selfsubjectreviews", "singularName": "selfsubjectreview", "namespaced": False,
                      "kind": "SelfSubjectReview", "verbs": ["create"]}]
        if version == "v1":
            resources.append({"name": "tokenreviews", "singularName": "tokenreview", "namespaced": False,
                              "kind": "TokenReview", "verbs": ["create"]})
        return {"kind": "APIResourceList", "apiVersion": "v1",
                "groupVersion": f"authentication.k8s.io/{version}", "resources": resources}

    def _selfsubjectreview(self, version: str, who: Identity) -> Response:
        info: dict = {"username": who.username}
        if who.uid:
            info["uid"] = who.uid
        info["groups"] = list(who.groups)
        if who.extra:
            info["extra"] = who.extra
        body = {"kind": "SelfSubjectReview", "apiVersion": f"authentication.k8s.io/{version}",
                "metadata": {"creationTimestamp": rfc3339(time.time())}, "status": {"userInfo": info}}
        return Response(201, _dumps(body), JSON)

    def _metadata(self, name: str) -> dict:
        return {"name": name, "uid": str(uuid.uuid5(self._uid_ns, name)), "resourceVersion": "42",
                "creationTimestamp": rfc3339(self.created),
                "labels": {"kubernetes.io/metadata.name": name}}

    def _namespace(self, name: str) -> dict:
        return {"kind": "Namespace", "apiVersion": "v1", "metadata": self._metadata(name),
                "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}

    def _namespace_list(self, req: Request, names: list[str]) -> Response:
        if _wants_table(req):
            cols = [
                {"name": "Name", "type": "string", "format": "name", "priority": 0,
                 "description": "Name must be unique within a namespace."},
                {"name": "Status", "type": "string", "format": "", "priority": 0,
                 "description": "The status of the namespace"},
                {"name": "Age", "type": "string", "format": "", "priority": 0,
                 "description": "CreationTimestamp is a timestamp representing the server time when this object was created."},
            ]
            rows = [{"cells": [n, "Active", _age(time.time() - self.created)],
                     "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                "metadata": self._metadata(n)}} for n in names]
            body = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": "42"},
                    "columnDefinitions": cols, "rows": rows}
            return Response(200, _dumps(body), JSON)
        body = {"kind": "NamespaceList", "apiVersion": "v1", "metadata": {"resourceVersion": "42"},
                "items": [self._namespace(n) for n in names]}
        return Response(200, _dumps(body), JSON)


def _wants_table(req: Request) -> bool:
    return "as=Table" in req.headers.get("Accept", "")
