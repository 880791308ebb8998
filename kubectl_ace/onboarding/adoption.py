"""Adopting the tokens found in a kubeconfig: ask Rancher whose they are and when they expire, then store them."""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import quote

from kubectl_ace import connect
from kubectl_ace.errors import AuthenticationFailed, RancherError, RancherUnreachable
from kubectl_ace.onboarding.conversion import Conversion, FoundToken
from kubectl_ace.records import ClusterToken, ServerRecord
from kubectl_ace.store import Store


@dataclass
class TokenInfo:
    """What Rancher says about a found token (or what its name tells, when Rancher cannot be asked)."""

    user_id: str
    expires: float | None
    expires_at: str
    dead: bool


def adopt(conversion: Conversion, store: Store) -> tuple[int, list[str]]:
    """Put the tokens taken out of a file into the store; returns (how many were kept, notes for the user)."""
    kept, notes = 0, []
    for server, (ca_pem, insecure) in conversion.servers.items():
        found = [f for f in conversion.found if f.server == server]
        record = store.read(server)
        if not found:
            if record is None and ca_pem:
                # A converted `rancher token` user will log in from kubectl: let it trust Rancher's CA from the file.
                store.ensure_record(server, ca_pem, insecure)
            continue
        infos, note = look_up(store, server, record, ca_pem, insecure, found)
        notes += note
        now = time.time()
        alive = [
            (item.cluster_id, ClusterToken(item.token, item.name, now, info.expires, info.expires_at), info.user_id)
            for item, info in zip(found, infos)
            if not info.dead
        ]
        kept += store.adopt_tokens(server, alive, ca_pem or None, insecure)
        notes += [
            f"the token of user {item.user} is expired or disabled at Rancher; not kept "
            "(kubectl-ace gets a new one from your login)"
            for item, info in zip(found, infos)
            if info.dead
        ]
    return kept, notes


def look_up(
    store: Store, server: str, record: ServerRecord | None, ca_pem: str, insecure: bool, found: list[FoundToken]
) -> tuple[list[TokenInfo], list[str]]:
    """Ask Rancher who owns each token and when it expires; what it cannot tell is guessed from the name."""
    # The login can read any token of its user; without one, an unscoped token can read itself, while a
    # cluster-scoped one gets 401 on /v3/tokens: its expiry is then left open (null).
    from kubectl_ace.rancher.clock import server_time_to_local

    login = record.login(None) if record is not None else None
    # The file's skip-verify counts only while the store has no say: a login's token is never sent unverified
    # because a kubeconfig asked for it.
    trust = connect.trust_for(record, proxy_ca=ca_pem, insecure=insecure and record is None)
    client = connect.rancher_client(store, server, trust, connect.EXEC_TIMEOUTS)
    infos, notes, reachable = [], [], True
    for item in found:
        info = TokenInfo(user_from_name(item.name), None, "", False)
        bearers = ([login.token] if login and login.token else []) + [item.token]
        for bearer in bearers if reachable and not item.token.startswith("ext/") else []:
            try:
                answer = client.request("GET", f"/v3/tokens/{quote(item.name, safe='')}", token=bearer, allow=(404,))
            except AuthenticationFailed:
                # Not proof that the token is dead: a cluster-scoped one is refused on this path. If it is
                # dead, kubectl's retry after the 401 makes kubectl-ace replace it.
                continue
            except (RancherUnreachable, RancherError) as err:
                reachable = False
                notes.append(
                    f"Rancher at {server} could not be asked when the tokens expire ({err.message}); "
                    "they are kept until Rancher refuses them"
                )
                break
            body = answer.body if answer.status == 200 and isinstance(answer.body, dict) else None
            if body is None:
                continue
            expires_at = body.get("expiresAt") or ""
            try:
                expires = server_time_to_local(expires_at, answer)
            except RancherError:
                expires, expires_at = None, ""
            info = TokenInfo(
                body.get("userId") or info.user_id,
                expires,
                expires_at,
                bool(body.get("expired")) or body.get("enabled") is False,
            )
            break
        infos.append(info)
    return infos, notes


def user_from_name(name: str) -> str:
    """The user id in a kubeconfig token's name: `kubeconfig-<user>[.<cluster>]<5 random>`; "" for others."""
    rest = name.removeprefix("kubeconfig-")
    if rest == name:
        return ""
    if "." in rest:
        return rest.split(".", 1)[0]
    return rest[:-5] if len(rest) > 5 else ""
