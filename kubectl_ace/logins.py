"""Logging in to Rancher once and keeping that login in the token store; logging out again.

The story of a login: find the providers, pick one, run its flow (login_flows), keep the result.
From the exec path a login runs only when someone can answer, and one at a time per server.
Nothing is stored until a login has fully succeeded; only its token is written down at once as pending (pending.py),
for logout to revoke if this process is killed before the login is kept.
"""

from __future__ import annotations

import sys
import time

from kubectl_ace import connect, login_flows, pending, process_marks
from kubectl_ace.errors import AceError, AuthenticationFailed, NotLoggedIn
from kubectl_ace.output import local_time
from kubectl_ace.rancher import tokenapi
from kubectl_ace.records import Login, ServerRecord
from kubectl_ace.store import Store
from kubectl_ace.urls import normalize_server

INTERACTIVE_WAIT = 960.0  # how long to wait for another process's login (a browser login may take 15 min)


def log_in(
    server: str,
    store: Store,
    *,
    provider: str | None = None,
    user: str | None = None,
    password: str | None = None,
    api_key: str | None = None,
    cacert_pem: str | None = None,
    insecure: bool = False,
    ttl_seconds: float | None = None,
    prompter=None,
    options: login_flows.LoginOptions | None = None,
    preferred: str | None = None,
) -> Login:
    """Authenticate to Rancher and store the login; replaces (and revokes) an earlier login of the same user.

    `preferred` is the provider of an earlier login: used without asking while it is still enabled.
    """
    from kubectl_ace.prompter import TerminalPrompter

    server = normalize_server(server)
    client = connect.rancher_client(store, server, connect.Trust(cacert_pem, insecure), connect.SLOW_TIMEOUTS)
    noted = pending.Pending(store, server, cacert_pem, insecure)
    try:
        if api_key is not None:
            login = login_flows.check_api_key(client, api_key)
        else:
            try:
                login = login_flows.interactive_login(
                    client,
                    provider,
                    user,
                    password,
                    prompter or TerminalPrompter(),
                    options or login_flows.LoginOptions(),
                    preferred,
                    noted,
                )
            except KeyboardInterrupt:
                raise login_flows.LoginInterrupted("the login was interrupted; nothing was saved") from None
        if ttl_seconds:
            login = login_flows.with_ttl(client, login, ttl_seconds, noted)
        previous = store.save_login(server, login, cacert_pem, insecure)
    except BaseException as err:
        noted.abandon(client, err)  # the login failed: a token Rancher made ends (or stays noted for logout)
        raise
    noted.kept()
    if previous and previous.token and previous.origin == "login" and previous.token != login.token:
        # The replaced login ends itself: with our token the delete would fail once a parallel login
        # replaced (and revoked) ours in turn, leaving it live. Until it is gone it stays retired.
        if end_quietly(client, previous.token):
            store.drop_retired(server, {previous.token})
    # Rancher may have been upgraded since the last login: decide the token API afresh.
    store.remember_token_api(server, tokenapi.detect(client))
    pending.settle(client, store, server)  # what killed processes of this server were handed and never kept
    return login


def log_in_for(
    req, record: ServerRecord | None, login: Login | None, trust: connect.Trust
) -> tuple[ServerRecord | None, Login]:
    """Log in from the exec path (req: a tokens.Request) trusting Rancher as `trust` says: only when someone can
    answer, one prompt or browser login at a time per server.

    Processes that waited while another one's login failed (wrong password, timeout, Ctrl-C) fail at
    once with its reason instead of each prompting or opening a browser tab in turn; so do the runs
    kubectl makes again for its later requests once the plugin failed.
    """
    again = f"run: kubectl ace login --server {req.server}"
    if not req.interactive:
        if login is None:
            raise NotLoggedIn(f"not logged in to {req.server}; {again}")
        raise NotLoggedIn(f"the login to {req.server} as {login.label} expired at {local_time(login.expires)}; {again}")
    store: Store = req.store
    with store.locked(Store.login_lock(req.server), INTERACTIVE_WAIT, f"to log in to {req.server}"):
        record = store.read(req.server)
        fresh = record.login(req.user) if record else None
        if fresh is not None and fresh.can_mint(time.time()):
            return record, fresh  # another process logged in while we waited
        failure, told = process_marks.recent_login_failure(store, req.server, req.from_kubectl)
        if failure:
            raise NotLoggedIn(f"a login to {req.server} just failed ({failure}); {again}", already_said=told)
        if login is not None and login.origin == "api-key":
            # An API key is made by hand in the UI: no prompt can replace it.
            raise NotLoggedIn(
                f"the API key kubectl-ace uses for {req.server} has expired or was revoked; create "
                f"a new one in the Rancher UI and {again} --token-stdin"
            )
        print(f"kubectl-ace: logging in to {req.server} for kubectl", file=sys.stderr)
        from kubectl_ace.prompter import TerminalPrompter

        username = req.user if req.user and login is not None and login.label == req.user else None
        try:
            made = log_in(
                req.server,
                store,
                provider=req.provider,
                user=username,
                cacert_pem=trust.cacert,
                insecure=trust.insecure,
                prompter=TerminalPrompter(),
                options=login_flows.LoginOptions(auth_flow=req.auth_flow),
                preferred=login.provider if login else None,
            )
        except AceError as err:
            process_marks.note_login_failure(store, req.server, err.message, req.from_kubectl)
            raise
        return store.read(req.server), made


def end_quietly(client, token: str) -> bool:
    """End a login token with itself; True when Rancher ended it or no longer knows it."""
    try:
        return tokenapi.logout(client, token)
    except AuthenticationFailed:
        return True  # already revoked or expired
    except AceError:
        return False


class LogoutResult:
    """What a logout did at Rancher and in the store."""

    def __init__(self, server: str) -> None:
        self.server = server
        self.revoked = 0
        self.unrevoked: list[str] = []  # names of tokens Rancher did not delete (they expire on their own)
        self.unreachable = ""  # why Rancher could not be told, if it could not


def log_out(server: str, store: Store, cluster: str | None = None) -> LogoutResult:
    """Revoke the server's tokens at Rancher where it answers, and delete them from the store either way.

    Replaced tokens kept as retired are revoked too (one Rancher no longer knows is not counted).
    With `cluster`, only that cluster's tokens go; the login stays.
    """
    server = normalize_server(server)
    result = LogoutResult(server)
    record = pending.with_orphans(store, server, store.read(server))  # killed writers' temp files hold live tokens too
    if record is None:
        return result
    client = connect.rancher_client(store, server, connect.trust_for(record))
    try:
        if cluster is None:  # before the logins end: their tokens delete what a killed fetch was handed
            result.revoked += pending.revoke(client, record, pending.busy(store, server))[0]
        for login in record.logins.values():
            revoke_login(client, login, cluster, result)
    except AceError as err:  # Rancher does not answer: the rest expire on their own
        result.unreachable = err.message
    if cluster:
        store.drop_cluster(server, cluster)
    else:
        store.delete(server)
    return result


def revoke_login(client, login: Login, cluster: str | None, result: LogoutResult) -> None:
    """Revoke a login's cluster tokens (only `cluster`'s, when given), its retired ones, then the login itself."""
    if login.token:
        try:
            if cluster is None:  # tokens a killed mint left at Rancher, written down nowhere
                held = {entry.token_id for entry in login.clusters.values()}
                held.update(old.entry.token_id for old in login.retired)
                result.revoked += tokenapi.sweep(client, login.token, login.sweep_ids(), held)
            for key, entry in login.clusters.items():
                if cluster is None or key == cluster:
                    if tokenapi.delete(client, login.token, entry.token, entry.token_id):
                        result.revoked += 1
                    else:
                        result.unrevoked.append(entry.token_id)
            for old in login.retired:
                if old.kind == "cluster" and (cluster is None or old.cluster == cluster):
                    if tokenapi.delete(client, login.token, old.entry.token, old.entry.token_id):
                        result.revoked += 1
        except AuthenticationFailed:
            pass  # the login is already dead at Rancher; its cluster tokens expire with their TTL
    if cluster is not None:
        return
    for old in login.retired:
        if old.kind == "login" and tokenapi.logout_if_live(client, old.entry.token):
            result.revoked += 1
    if login.token and login.origin == "login":
        try:
            if tokenapi.logout(client, login.token):
                result.revoked += 1
            else:
                result.unrevoked.append(login.token_id)
        except AuthenticationFailed:
            pass
