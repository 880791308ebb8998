"""Response helpers and pages shared by the Rancher modules: Norman errors, Kubernetes Status, fixed bodies."""

from __future__ import annotations

import json
from typing import Optional

from .listener import Response

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



def kube_status(code: int, reason: str, message: str, details: Optional[dict] = None) -> Response:
    """A metav1 Status failure, as the ext API (a Kubernetes aggregated API) answers errors."""
    body: dict = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
                  "reason": reason}
    if details is not None:
        body["details"] = details
    body["code"] = code
    return _json(code, body)


def go_http_error(status: int, text: str) -> Response:
    """net/http's http.Error: the text and a newline, as text/plain."""
    return Response(status, (text + "\n").encode(), TEXT)
