"""Getting a cluster token for kubectl: the cache first, then a mint from the login, then a login.

Only the standard library is imported at module level: `get_token` with a valid cached token is the
hot path of every kubectl call. Everything that talks to Rancher is imported when it is needed.
"""

from __future__ import annotations

import sys
import time

from kubectl_ace import marks, store
from kubectl_ace.credential import decode_ca
from kubectl_ace.errors import (AceError, AuthenticationFailed, NotLoggedIn, RancherUnreachable, StoreError,
                                TokenExpired, TokenRefused)

REPORT_MARGIN = 30.0      # expirationTimestamp is reported this much early (client-go has no skew margin)
MIN_VALIDITY = 10.0       # a token with less than this left is not handed out
MIN_LOGIN_LEFT = 120.0    # a login with less than this left cannot usefully mint
INTERACTIVE_WAIT = 960.0  # how long to wait for another process's login (a browser login may take 15 min)
MINT_WAIT = 60.0


class Request:
    """What kubectl (through the exec args and KUBERNETES_EXEC_INFO) asked for."""

    def __init__(self, server: str, cluster: str | None, *, user: str | None = None, provider: str | None = None,
                 cacerts: str | None = None, skip_verify: bool = False, force_refresh: bool = False,
                 interactive: bool = False, directory: str | None = None, from_kubectl: bool = False,
                 endpoint: str = "", auth_flow: str | None = None, endpoint_ca: str = "") -> None:
        self.server = store.normalize_server(server)
        self.cluster = cluster or None
        self.user = user
        self.provider = provider
        self.cacerts = cacerts
        self.skip_verify = skip_verify
        self.force_refresh = force_refresh
        self.interactive = interactive
        self.directory = store.store_dir(directory)
        self.from_kubectl = from_kubectl  # run by kubectl's exec protocol (so a re-run can mean a 401)
        self.endpoint = endpoint          # the server URL kubectl is about to call, when it said
        self.auth_flow = auth_flow        # Azure AD: devicecode or authcode
        self.endpoint_ca = endpoint_ca    # base64 CA kubectl uses for that endpoint (provideClusterInfo)

    @property
    def cluster_key(self) -> str:
        return self.cluster or ""


class Credential:
    """A token to hand to kubectl and when it stops working (local epoch; None = never)."""

    def __init__(self, token: str, expires: float | None) -> None:
        self.token = token
        self.expires = expires

    def reported_expiry(self, now: float) -> float | None:
        """A little before the real expiry, so kubectl asks again in time; never in the past."""
        if self.expires is None:
            return None
        return max(self.expires - REPORT_MARGIN, min(self.expires, now + 1))


def get_token(req: Request) -> Credential:
    """Read the cache → still good? → mint a cluster token from the login (logging in if need be) → cache it."""
    now = time.time()
    record = store.read(req.directory, req.server)
    login = pick_login(record, req.user)
    cached = cluster_token(login, req.cluster_key)
    if cached and not req.force_refresh and is_fresh(cached, login, now):
        if req.from_kubectl and marks.handed_to_this_caller(req, cached):
            return recover(req, refused=cached)  # the same kubectl asks again before expiry: it got a 401
        warn_if_login_ends_soon(req, login, now)
        return Credential(cached["token"], cached.get("expires"))
    if login is None and not req.interactive:
        raise NotLoggedIn(f"not logged in to {req.server}; run: kubectl ace login --server {req.server}")
    return renew(req, seen=cached)


def renew(req: Request, seen: dict | None) -> Credential:
    """Under the cluster's lock: use what another process just minted, else mint, else keep what still works."""
    wait = INTERACTIVE_WAIT if req.interactive else MINT_WAIT
    name = f"{store.server_key(req.server)}.{req.cluster or '_'}.mint"
    with store.locked(req.directory, name, wait, f"to get a token for {req.cluster or req.server}"):
        now = time.time()
        record = store.read(req.directory, req.server)
        login = pick_login(record, req.user)
        cached = cluster_token(login, req.cluster_key)
        if cached and is_fresh(cached, login, now) and not (req.force_refresh and same(cached, seen)):
            return Credential(cached["token"], cached.get("expires"))
        try:
            if cached and is_usable(cached, now) and not req.force_refresh:
                assert_rancher_answers(req, record)  # a refresh must not wait on a dead Rancher
            elif cached or not usable_login(login, now):
                assert_rancher_answers(req, record)  # fail fast (and never prompt) while Rancher is down
            if not usable_login(login, now):
                record, login = log_in_for(req, record, login)
            return mint_and_save(req, record, login)
        except RancherUnreachable as err:
            if cached and is_usable(cached, now):
                return Credential(cached["token"], cached.get("expires"))  # it still works, e.g. at ACE
            if cached:
                raise TokenExpired(f"the token for {describe(req)} expired at {local_time(cached.get('expires'))} "
                                   f"and Rancher at {req.server} cannot be reached to replace it ({err.message}); "
                                   "ACE needs an unexpired token: once Rancher is back the next call gets one "
                                   f"(if your login has expired too: kubectl ace login --server {req.server})",
                                   err.detail) from None
            raise


def recover(req: Request, refused: dict) -> Credential:
    """A handed-out token was refused: ask Rancher about it, replace it if Rancher dropped it, else say why."""
    from kubectl_ace.rancher import tokens as api

    name = f"{store.server_key(req.server)}.{req.cluster or '_'}.mint"
    with store.locked(req.directory, name, MINT_WAIT, f"to get a token for {req.cluster or req.server}"):
        record = store.read(req.directory, req.server)
        login = pick_login(record, req.user)
        cached = cluster_token(login, req.cluster_key)
        if cached and not same(cached, refused) and is_usable(cached, time.time()):
            return Credential(cached["token"], cached.get("expires"))  # another process replaced it already
        where = f"{req.endpoint} refused it" if req.endpoint else "kubectl's server refused it"
        try:
            assert_rancher_answers(req, record)
            if not usable_login(login, time.time()):
                raise NotLoggedIn(f"the token for {describe(req)} was refused and the login to {req.server} has "
                                  f"expired; run: kubectl ace login --server {req.server}")
            client = rancher_client(req, record)
            try:
                state = api.get(client, login["token"], refused.get("token_id") or api.token_id(refused["token"]))
            except AuthenticationFailed:
                forget_login(req, login)
                raise NotLoggedIn(f"the token for {describe(req)} was refused, and so is the login of "
                                  f"{login_name(login)}; run: kubectl ace login --server {req.server}") from None
        except RancherUnreachable as err:
            mark_refused(req, refused)
            raise TokenRefused(f"the token for {describe(req)} was refused ({where}), and Rancher at {req.server} "
                               f"cannot be reached to replace it ({err.message})", err.detail) from None
        if state is not None and state.get("enabled", True) and not state.get("expired"):
            # Rancher vouches for it. Hand it out again (no loop: no mint) and say what is wrong, unless
            # the refusal came through Rancher's own proxy, which would contradict Rancher: then it was no
            # refusal but a program running the plugin twice.
            if "/k8s/clusters/" not in req.endpoint:
                print(f"kubectl-ace: warning: the token for {describe(req)} is valid at Rancher but {where}: "
                      "the cluster's kube-api-auth may not have it yet; use the Rancher proxy context for now, "
                      "or get a new token with `kubectl ace token --force-refresh`", file=sys.stderr)
            return Credential(refused["token"], refused.get("expires"))
        mark_refused(req, refused)
        why = "revoked" if state is None else ("disabled" if not state.get("enabled", True) else "expired")
        print(f"kubectl-ace: the token for {describe(req)} was {why} at Rancher; getting a new one",
              file=sys.stderr)
        return mint_and_save(req, record, login)


def assert_rancher_answers(req: Request, record: dict | None) -> None:
    """Raise RancherUnreachable at once when Rancher does not answer a quick /ping (from a fresh cache or a probe)."""
    from kubectl_ace import health
    settings = health.Settings(connect_timeout=1.0, read_timeout=1.0)
    known = health.fresh_results(req.directory, req.server, ["rancher", health.proxy_key(req.cluster)], settings)
    for result in known.values():
        if not result.reachable:
            raise RancherUnreachable(f"Rancher at {req.server} does not answer ({result.describe()})")
    if "rancher" in known:
        return
    tls = tls_settings(req, record)
    result = health.refresh(req.directory, req.server,
                            [health.rancher_target(req.server, tls["cacert_pem"] or "", tls["insecure"])],
                            settings)["rancher"]
    if not result.reachable:
        raise RancherUnreachable(f"Rancher at {req.server} does not answer ({result.describe()})")


def mark_refused(req: Request, refused: dict) -> None:
    """Note in the store when a token was last seen refused (shown by `kubectl ace status`)."""
    def put(current: dict | None) -> dict | None:
        for login in (current or {}).get("logins", {}).values():
            entry = (login.get("clusters") or {}).get(req.cluster_key)
            if entry and entry.get("token") == refused.get("token"):
                entry["refused_at"] = time.time()
        return current
    store.update(req.directory, req.server, put)


LOGIN_WARNING = 3 * 86400.0


def warn_if_login_ends_soon(req: Request, login: dict | None, now: float) -> None:
    """At most once a day, say on stderr that the login runs out soon (and when)."""
    expires = (login or {}).get("expires")
    if expires is None or not login.get("token") or expires - now > LOGIN_WARNING:
        return
    import os
    path = os.path.join(req.directory, "state", f"warned-{store.server_key(req.server)}")
    try:
        if now - os.stat(path).st_mtime < 86400:
            return
    except OSError:
        pass
    days, hours = divmod(round(max(0.0, expires - now) / 3600), 24)
    print(f"kubectl-ace: warning: your login to {req.server} expires in {days} d {hours} h (at {local_time(expires)}); renew it with: kubectl ace login --server "
          f"{req.server}", file=sys.stderr)
    try:
        store.ensure_dir(os.path.dirname(path))
        store.write_atomic(path, b"")
    except StoreError:
        pass


def mint_and_save(req: Request, record: dict, login: dict) -> Credential:
    """POST /v3/tokens with a TTL no longer than the login has left, then cache the result."""
    from kubectl_ace.rancher import tokens as api

    client = rancher_client(req, record)
    now = time.time()
    ttl_ms = 0 if login.get("expires") is None else int((login["expires"] - now - 60) * 1000)
    description = f"kubectl-ace for {req.cluster}" if req.cluster else "kubectl-ace"
    try:
        answer = api.mint(client, login["token"], req.cluster, ttl_ms, description)
    except AuthenticationFailed:
        forget_login(req, login)
        raise NotLoggedIn(f"Rancher at {req.server} no longer accepts the login of {login_name(login)} "
                          f"(revoked or expired); run: kubectl ace login --server {req.server}") from None
    body = answer.body
    entry = {"token": body["token"], "token_id": api.token_id(body["token"]), "minted": now,
             "expires": local_expiry(body, answer), "expires_at": body.get("expiresAt") or ""}
    user = login_name(login)

    def put(current: dict | None) -> dict:
        current = current or record
        logins = current.setdefault("logins", {})
        target = logins.get(user) or login
        target.setdefault("clusters", {})[req.cluster_key] = entry
        logins[user] = target
        return current

    store.update(req.directory, req.server, put)
    marks.prune_handouts(req)
    return Credential(entry["token"], entry["expires"])


def log_in_for(req: Request, record: dict | None, login: dict | None) -> tuple[dict, dict]:
    """Log in from the exec path: only when someone can answer, and one prompt or browser login at a time per server.

    Processes that waited while another one's login failed (wrong password, timeout, Ctrl-C) fail at
    once with its reason instead of each prompting or opening a browser tab in turn; so do the runs
    kubectl makes again for its later requests once the plugin failed.
    """
    if not req.interactive:
        if login is None:
            raise NotLoggedIn(f"not logged in to {req.server}; run: kubectl ace login --server {req.server}")
        raise NotLoggedIn(f"the login to {req.server} as {login_name(login)} expired at "
                          f"{local_time(login.get('expires'))}; run: kubectl ace login --server {req.server}")
    from kubectl_ace import login as login_flow

    name = f"{store.server_key(req.server)}.login"
    with store.locked(req.directory, name, INTERACTIVE_WAIT, f"to log in to {req.server}"):
        record = store.read(req.directory, req.server)
        fresh_login = pick_login(record, req.user)
        if usable_login(fresh_login, time.time()):
            return record, fresh_login  # another process logged in while we waited
        failure, told = marks.recent_login_failure(req)
        if told:
            raise NotLoggedIn("")  # this kubectl was told already, by an earlier run: once is enough
        if failure:
            raise NotLoggedIn(f"a login to {req.server} just failed ({failure}); "
                              f"run: kubectl ace login --server {req.server}")
        if login and login.get("origin") == "api-key":
            # An API key is made by hand in the UI: no prompt can replace it.
            raise NotLoggedIn(f"the API key kubectl-ace uses for {req.server} has expired or was revoked; create "
                              f"a new one in the Rancher UI and run: kubectl ace login --server {req.server} "
                              "--token-stdin")
        print(f"kubectl-ace: logging in to {req.server} for kubectl", file=sys.stderr)
        tls = tls_settings(req, record)
        username = req.user if req.user and login is not None and login_name(login) == req.user else None
        try:
            login_flow.log_in(req.server, req.directory, provider=req.provider, user=username,
                              cacert_pem=tls["cacert_pem"], insecure=tls["insecure"],
                              prompter=login_flow.TerminalPrompter(),
                              options=login_flow.LoginOptions(auth_flow=req.auth_flow),
                              preferred=(login or {}).get("provider"))
        except AceError as err:
            marks.note_login_failure(req, err.message)
            raise
        record = store.read(req.directory, req.server)
        return record, pick_login(record, None)


def rancher_client(req: Request, record: dict | None):
    """A client with the TLS settings of the login, overridden by --cacerts/--skip-verify."""
    from kubectl_ace.rancher.client import Client

    tls = tls_settings(req, record)
    ca = store.ca_file(req.directory, req.server, tls["cacert_pem"]) if tls["cacert_pem"] else None
    # Short timeouts: kubectl waits on this, and a cached token is kept if Rancher is slow.
    return Client(req.server, ca_file=ca, verify=not tls["insecure"], connect_timeout=3.0, read_timeout=10.0)


def tls_settings(req: Request, record: dict | None) -> dict:
    """--cacerts, else the login's CA, else the CA kubectl trusts for this Rancher's proxy (the kubeconfig's)."""
    cacert_pem = (record or {}).get("cacert")
    if req.cacerts:
        cacert_pem = read_ca(req.cacerts)
    elif not cacert_pem and req.endpoint.startswith(req.server + "/k8s/clusters/"):
        cacert_pem = decode_ca(req.endpoint_ca) or None
    insecure = bool(req.skip_verify or (record or {}).get("insecure"))
    return {"cacert_pem": cacert_pem, "insecure": insecure}


def read_ca(path: str) -> str:
    from kubectl_ace.errors import UsageError
    try:
        with open(path, encoding="utf-8") as handle:
            pem = handle.read().replace("\\n", "\n")
    except OSError as err:
        raise UsageError(f"cannot read the CA file {path}: {err.strerror}") from None
    if "-----BEGIN CERTIFICATE-----" not in pem:
        raise UsageError(f"{path} holds no PEM certificate; pass Rancher's CA certificate")
    return pem


def forget_login(req: Request, login: dict) -> None:
    """Drop a login Rancher refused, keeping its cluster tokens (they may still work at ACE)."""
    user = login_name(login)

    def drop(current: dict | None) -> dict | None:
        if current and user in current.get("logins", {}):
            current["logins"][user]["token"] = ""
            current["logins"][user]["expires"] = 0
        return current

    store.update(req.directory, req.server, drop)


# --- reading records (stdlib only; used on the hot path) ---

def pick_login(record: dict | None, user: str | None) -> dict | None:
    """The login for --user (a username or user id), else the server's current one.

    `rancher token` kubeconfigs pass the cluster's name as --user, which names no login: the current one is used.
    """
    if not record:
        return None
    try:
        logins = record.get("logins") or {}
        if user:
            for name, login in logins.items():
                if user in (name, login.get("user_id")):
                    return dict(login, name=name)
        current = record.get("current_user")
        if current in logins:
            return dict(logins[current], name=current)
        if len(logins) == 1:
            name, login = next(iter(logins.items()))
            return dict(login, name=name)
        return None
    except (AttributeError, TypeError):
        raise StoreError(f"the token store entry for {record.get('server')} is damaged; run: "
                         f"kubectl ace login --server {record.get('server')}") from None


def cluster_token(login: dict | None, cluster_key: str) -> dict | None:
    if not login:
        return None
    entry = (login.get("clusters") or {}).get(cluster_key)
    if not isinstance(entry, dict) or not isinstance(entry.get("token"), str) or not entry["token"]:
        return None
    return entry


def login_name(login: dict) -> str:
    return login.get("name") or login.get("user_id") or "?"


def is_usable(entry: dict, now: float) -> bool:
    expires = entry.get("expires")
    return expires is None or expires - now > MIN_VALIDITY


def usable_login(login: dict | None, now: float) -> bool:
    if not login or not login.get("token"):
        return False
    expires = login.get("expires")
    return expires is None or expires - now > MIN_LOGIN_LEFT


def refresh_margin(entry: dict) -> float:
    """How long before expiry to replace a token: a tenth of its life, between 2 minutes and an hour."""
    expires, minted = entry.get("expires"), entry.get("minted")
    if expires is None or minted is None:
        return 120.0
    return min(3600.0, max(120.0, (expires - minted) / 10))


def is_fresh(entry: dict, login: dict | None, now: float) -> bool:
    """Good to hand out without asking Rancher: usable, and not due a refresh a new mint could improve on."""
    if not is_usable(entry, now):
        return False
    expires = entry.get("expires")
    if expires is None or expires - now > refresh_margin(entry):
        return True
    # Due a refresh, but a mint from this login could not outlive the token by much: keep it.
    login_expires = (login or {}).get("expires", 0)
    if not usable_login(login, now):
        return True
    return login_expires is not None and login_expires - expires < refresh_margin(entry)


def same(entry: dict | None, other: dict | None) -> bool:
    return bool(entry and other and entry.get("token") == other.get("token"))


def describe(req: Request) -> str:
    return f"cluster {req.cluster}" if req.cluster else req.server


def local_time(epoch: float | None) -> str:
    if epoch is None:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(epoch))


def local_expiry(body: dict, answer) -> float | None:
    """When a token Rancher just made expires, on our clock: from its ttl when given, else from expiresAt."""
    ttl = body.get("ttl")
    if isinstance(ttl, (int, float)) and ttl > 0:
        return answer.sent_at + ttl / 1000.0
    return server_time_to_local(body.get("expiresAt") or "", answer)


def server_time_to_local(expires_at: str, answer) -> float | None:
    """An RFC 3339 time on Rancher's clock as a local epoch (corrected by the Date header); None if empty."""
    if not expires_at:
        return None
    from datetime import datetime
    try:
        value = datetime.fromisoformat(expires_at.replace("Z", "+00:00")).timestamp()
    except ValueError:
        from kubectl_ace.errors import RancherError
        raise RancherError(f"Rancher sent an expiry time that is not RFC 3339: {expires_at[:40]!r}") from None
    return value - answer.server_time_offset() - 1.0  # Date has second resolution: err early
