"""The /v3/tokens API: mint cluster-scoped tokens, look tokens up, revoke them."""

from __future__ import annotations

from kubectl_ace.errors import RancherError
from kubectl_ace.rancher.client import Client, Response
from kubectl_ace.records import token_id_of


class V3TokensGone(RancherError):
    """/v3/tokens answered 404: this Rancher has no v3 tokens any more (deprecated since 2.14)."""


def mint(client: Client, login_token: str, cluster_id: str | None, ttl_ms: int, description: str) -> Response:
    """POST /v3/tokens: a new token derived from the login, scoped to `cluster_id` when given."""
    body: dict = {"type": "token", "description": description, "ttl": max(0, int(ttl_ms))}
    if cluster_id:
        body["clusterId"] = cluster_id
    answer = client.request("POST", "/v3/tokens", token=login_token, body=body, expect=(201, 200), allow=(404,))
    if answer.status == 404:
        raise V3TokensGone(f"Rancher at {client.server} has no /v3/tokens")
    token = answer.body.get("token") if isinstance(answer.body, dict) else None
    if not isinstance(token, str) or ":" not in token:
        raise RancherError(f"{client.server} created a token but did not return it")
    return answer


def get(client: Client, token: str, name: str | None = None) -> dict | None:
    """GET /v3/tokens/<name> with `token` (its own record by default); None when Rancher does not know it."""
    answer = client.request("GET", f"/v3/tokens/{name or token_id_of(token)}", token=token, allow=(404,))
    return answer.body if answer.status == 200 and isinstance(answer.body, dict) else None


def delete(client: Client, login_token: str, name: str) -> bool:
    """DELETE /v3/tokens/<name>; False when it was already gone."""
    answer = client.request("DELETE", f"/v3/tokens/{name}", token=login_token, expect=(204, 200), allow=(404,))
    return answer.status != 404


def logout(client: Client, token: str) -> int:
    """POST /v3/tokens?action=logout: Rancher deletes the calling token; the HTTP status (404: no v3 tokens)."""
    return client.request("POST", "/v3/tokens?action=logout", token=token, expect=(200, 204), allow=(404, 500)).status
