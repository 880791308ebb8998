"""Which token API mints a server's cluster tokens (v3 or ext), decided here only, and dispatch by token kind.

A cluster token must work at the cluster's ACE endpoint. ext tokens do from Rancher 2.13.7, 2.14.3 and 2.15.0
on (kube-api-auth strips `ext/`; research §3.1); v3 tokens are deprecated since 2.14, so ext is preferred
where it works, v3 cluster-scoped tokens elsewhere, and ext always once /v3/tokens answers 404.
"""

from __future__ import annotations

import re

from kubectl_ace.errors import AceError, AuthenticationFailed
from kubectl_ace.rancher import exttokens, v3tokens
from kubectl_ace.rancher.client import Client, Response

V3, EXT = "v3", "ext"


def ext_works_at_ace(version: str) -> bool | None:
    """Does an ext token authenticate at ACE on this Rancher version? None when the version is not a release."""
    match = re.fullmatch(r"v?(\d+)\.(\d+)\.(\d+)(?:[-+].*)?", version.strip())
    if not match:
        return None
    major, minor, patch = (int(part) for part in match.groups())
    if (major, minor) >= (2, 15) or major > 2:
        return True
    return (major, minor) == (2, 14) and patch >= 3 or (major, minor) == (2, 13) and patch >= 7


def detect(client: Client) -> str:
    """The API to mint with, from GET /rancherversion; v3 when Rancher does not say (a 404 later corrects it)."""
    try:
        answer = client.request("GET", "/rancherversion", allow=(401, 403, 404))
    except AceError:
        return V3
    body = answer.body if answer.status == 200 and isinstance(answer.body, dict) else {}
    return EXT if ext_works_at_ace(str(body.get("Version") or "")) else V3


def kind_of(token: str) -> str:
    """The API a token belongs to, from its shape (`ext/<name>:<value>` is Rancher's ext bearer form)."""
    return EXT if exttokens.is_ext(token) else V3


def mint(
    client: Client, login_token: str, cluster_id: str | None, ttl_ms: int, description: str, api: str
) -> tuple[Response, str]:
    """Mint with `api` (v3 falls over to ext when /v3/tokens is gone); the answer (flat body) and the API used."""
    if api != EXT:
        try:
            return v3tokens.mint(client, login_token, cluster_id, ttl_ms, description), V3
        except v3tokens.V3TokensGone:
            pass
    return exttokens.mint(client, login_token, cluster_id, ttl_ms, description), EXT


def get(client: Client, login_token: str, token: str, name: str) -> dict | None:
    """The token's state at Rancher (enabled, expired), asked of the API it came from; None when unknown."""
    if kind_of(token) == EXT:
        return exttokens.get(client, login_token, name)
    return v3tokens.get(client, login_token, name)


def delete(client: Client, login_token: str, token: str, name: str) -> bool:
    """Revoke a token at the API it came from; True only when Rancher deleted it (a 2xx answer)."""
    if kind_of(token) == EXT:
        return exttokens.delete(client, login_token, name)
    return v3tokens.delete(client, login_token, name)


def logout(client: Client, token: str) -> bool:
    """End a login at Rancher: v3 ?action=logout, else /v1/logout (ext logins, or no v3 tokens); True when ended."""
    if kind_of(token) == V3 and v3tokens.logout(client, token) in (200, 204):
        return True
    return exttokens.logout(client, token)


def logout_if_live(client: Client, token: str) -> bool:
    """End a login token that may be gone already; True only when this call ended it."""
    try:
        return logout(client, token)
    except AuthenticationFailed:
        return False  # Rancher no longer accepts it: revoked or expired already


def marker(login_token_id: str) -> str:
    """What a cluster token's description says of the login that minted it (a name, not a secret)."""
    return f"(login {login_token_id})"


def sweep(client: Client, login_token: str, login_token_ids: set[str], keep: set[str]) -> int:
    """Revoke the user's tokens minted from these logins (the current one and those it replaced) that no record
    names (their minter was killed before it could write them down); returns how many Rancher deleted. Only
    tokens whose description has one of the logins' markers: another machine's kubectl-ace is left alone."""
    marks = [marker(token_id) for token_id in login_token_ids if token_id]

    def ours(description) -> bool:
        return any(mark in str(description or "") for mark in marks)

    found: dict[str, str] = {}  # name -> API
    answer = client.request("GET", "/v3/tokens", token=login_token, allow=(403, 404))
    for item in answer.body.get("data") or [] if answer.status == 200 and isinstance(answer.body, dict) else []:
        if isinstance(item, dict) and ours(item.get("description")):
            found[str(item.get("name") or item.get("id") or "")] = V3
    answer = client.request("GET", exttokens.TOKENS, token=login_token, allow=(403, 404))
    for item in answer.body.get("items") or [] if answer.status == 200 and isinstance(answer.body, dict) else []:
        spec, meta = exttokens.mapping(item).get("spec"), exttokens.mapping(item).get("metadata")
        if ours(exttokens.mapping(spec).get("description")):
            found[str(exttokens.mapping(meta).get("name") or "")] = EXT
    from kubectl_ace.rancher import extkubeconfigs

    deleted = extkubeconfigs.sweep(client, login_token, marks)  # a killed fetch's objects (their tokens die too)
    for name, api in found.items():
        if name and name not in keep:
            gone = (
                exttokens.delete(client, login_token, name)
                if api == EXT
                else v3tokens.delete(client, login_token, name)
            )
            deleted += gone
    return deleted
