"""Getting a cluster token for kubectl: the cache first, then a mint from the login, then a login.

Only the standard library is imported at module level: `get_token` with a valid cached token is the
hot path of every kubectl call. Everything that talks to Rancher is imported when it is needed.
"""

import sys
import time

from kubectl_ace import process_marks
from kubectl_ace.errors import AuthenticationFailed, NotLoggedIn, RancherUnreachable, TokenExpired, TokenRefused
from kubectl_ace.records import ClusterToken, Login, ServerRecord
from kubectl_ace.store import Store
from kubectl_ace.urls import normalize_server, proxy_parts, server_key

REPORT_MARGIN = 30.0  # expirationTimestamp is reported this much early (client-go has no skew margin)
INTERACTIVE_WAIT = 960.0  # how long to wait for another process's login (a browser login may take 15 min)
MINT_WAIT = 60.0
LOGIN_WARNING = 3 * 86400.0  # announce a login ending within this, at most once a day
REFRESH_EVERY = 300.0  # start a background refresh of prepared tokens at most this often per server


class Request:
    """What kubectl (through the exec args and KUBERNETES_EXEC_INFO) asked for."""

    def __init__(
        self,
        server: str,
        cluster: str | None,
        *,
        user: str | None = None,
        provider: str | None = None,
        cacerts: str | None = None,
        skip_verify: bool = False,
        force_refresh: bool = False,
        interactive: bool = False,
        store: Store | None = None,
        from_kubectl: bool = False,
        endpoint: str = "",
        auth_flow: str | None = None,
        endpoint_ca: str = "",
    ) -> None:
        self.server = normalize_server(server)
        self.cluster = cluster or None
        self.user = user
        self.provider = provider
        self.cacerts = cacerts
        self.skip_verify = skip_verify
        self.force_refresh = force_refresh
        self.interactive = interactive
        self.store = store or Store()
        self.from_kubectl = from_kubectl  # run by kubectl's exec protocol (so a re-run can mean a 401)
        self.endpoint = endpoint  # the server URL kubectl is about to call, when it said
        self.auth_flow = auth_flow  # Azure AD: devicecode or authcode
        self.endpoint_ca = endpoint_ca  # base64 CA kubectl uses for that endpoint (provideClusterInfo)

    @property
    def cluster_key(self) -> str:
        return self.cluster or ""

    @property
    def what(self) -> str:
        return f"cluster {self.cluster}" if self.cluster else self.server


class Credential:
    """A token to hand to kubectl and when it stops working (local epoch; None = never)."""

    def __init__(self, token: str, expires: float | None) -> None:
        self.token = token
        self.expires = expires

    @classmethod
    def of(cls, entry: ClusterToken) -> "Credential":
        return cls(entry.token, entry.expires)

    def reported_expiry(self, now: float) -> float | None:
        """A little before the real expiry, so kubectl asks again in time; never in the past."""
        if self.expires is None:
            return None
        return max(self.expires - REPORT_MARGIN, min(self.expires, now + 1))


class Held:
    """What the store holds for a request: the server's record, the login to use, and its token for the cluster."""

    def __init__(self, req: Request) -> None:
        self.record: ServerRecord | None = req.store.read(req.server)
        self.login: Login | None = self.record.login(req.user) if self.record else None
        self.token: ClusterToken | None = self.login.cluster(req.cluster_key) if self.login else None


def get_token(req: Request) -> Credential:
    """Read the cache → still good? → mint a cluster token from the login (logging in if need be) → cache it."""
    now = time.time()
    held = Held(req)
    cached = held.token
    if cached and not req.force_refresh and cached.is_fresh(held.login, now):
        if req.from_kubectl and process_marks.handed_to_this_kubectl(req.store, req.server, req.cluster, cached):
            return recover(req, refused=cached)  # the same kubectl asks again before expiry: it got a 401
        warn_if_login_ends_soon(req, held.login, now)
        refresh_ahead(req, held, now)
        return Credential.of(cached)
    if held.login is None and not req.interactive:
        raise NotLoggedIn(f"not logged in to {req.server}; run: kubectl ace login --server {req.server}")
    return renew(req, seen=cached)


def renew(req: Request, seen: ClusterToken | None) -> Credential:
    """Under the cluster's lock: use what another process just minted, else mint, else keep what still works."""
    wait = INTERACTIVE_WAIT if req.interactive else MINT_WAIT
    with req.store.locked(Store.mint_lock(req.server, req.cluster), wait, f"to get a token for {req.what}"):
        now = time.time()
        held = Held(req)
        cached, login = held.token, held.login
        if cached and cached.is_fresh(login, now) and not (req.force_refresh and cached.same_as(seen)):
            return Credential.of(cached)
        try:
            if cached or login is None or not login.can_mint(now):
                assert_rancher_answers(req, held.record)  # fail fast (and never prompt) while Rancher is down
            if login is None or not login.can_mint(now):
                from kubectl_ace import logins

                held.record, login = logins.log_in_for(req, held.record, login, trust_of(req, held.record))
            return mint_and_save(req, held.record, login)
        except RancherUnreachable as err:
            if req.force_refresh:  # the user asked for a new token: the old one is what they do not want
                raise RancherUnreachable(f"cannot get a new token for {req.what}: {err.message}", err.detail) from None
            if cached and cached.is_usable(now):
                return Credential.of(cached)  # it still works, e.g. at ACE
            if cached:
                from kubectl_ace import output

                raise TokenExpired(
                    f"the token for {req.what} expired at {output.local_time(cached.expires)} "
                    f"and Rancher at {req.server} cannot be reached to replace it ({err.message}); "
                    "ACE needs an unexpired token: once Rancher is back the next call gets one "
                    f"(if your login has expired too: kubectl ace login --server {req.server})",
                    err.detail,
                ) from None
            raise


def recover(req: Request, refused: ClusterToken) -> Credential:
    """A handed-out token was refused: ask Rancher about it, replace it if Rancher dropped it, else say why."""
    from kubectl_ace.rancher import tokenapi

    with req.store.locked(Store.mint_lock(req.server, req.cluster), MINT_WAIT, f"to get a token for {req.what}"):
        held = Held(req)
        cached, login = held.token, held.login
        if cached and not cached.same_as(refused) and cached.is_usable(time.time()):
            return Credential.of(cached)  # another process replaced it already
        where = f"{req.endpoint} refused it" if req.endpoint else "kubectl's server refused it"
        try:
            assert_rancher_answers(req, held.record)
            if login is None or not login.can_mint(time.time()):
                raise NotLoggedIn(
                    f"the token for {req.what} was refused and the login to {req.server} has "
                    f"expired; run: kubectl ace login --server {req.server}"
                )
            try:
                state = tokenapi.get(rancher_client(req, held.record), login.token, refused.token, refused.token_id)
            except AuthenticationFailed:
                req.store.forget_login(req.server, login.name)
                raise NotLoggedIn(
                    f"the token for {req.what} was refused, and so is the login of "
                    f"{login.label}; run: kubectl ace login --server {req.server}"
                ) from None
        except RancherUnreachable as err:
            req.store.stamp_token(req.server, req.cluster_key, refused.token, "refused_at", time.time())
            raise TokenRefused(
                f"the token for {req.what} was refused ({where}), and Rancher at {req.server} "
                f"cannot be reached to replace it ({err.message})",
                err.detail,
            ) from None
        if state is not None and state.get("enabled", True) and not state.get("expired"):
            # Rancher vouches for it. Hand it out again (no loop: no mint) and say what is wrong, unless
            # the refusal came through Rancher's own proxy, which would contradict Rancher: then it was no
            # refusal but a program running the plugin twice.
            if proxy_parts(req.endpoint) is None:
                print(
                    f"kubectl-ace: warning: the token for {req.what} is valid at Rancher but {where}: "
                    "the cluster's kube-api-auth may not have it yet; use the Rancher proxy context for now, "
                    "or get a new token with `kubectl ace token --force-refresh`",
                    file=sys.stderr,
                )
            return Credential.of(refused)
        req.store.stamp_token(req.server, req.cluster_key, refused.token, "refused_at", time.time())
        why = "revoked" if state is None else ("disabled" if not state.get("enabled", True) else "expired")
        print(f"kubectl-ace: the token for {req.what} was {why} at Rancher; getting a new one", file=sys.stderr)
        return mint_and_save(req, held.record, login)


def mint_and_save(req: Request, record: ServerRecord | None, login: Login) -> Credential:
    """Mint (v3 or ext, as tokenapi decides) with a TTL no longer than the login has left, then cache the result."""
    from kubectl_ace.rancher import tokenapi
    from kubectl_ace.rancher.clock import local_expiry

    now = time.time()
    ttl_ms = 0 if login.expires is None else int((login.expires - now - 60) * 1000)
    # The marker lets logout find a token whose minter was killed before it could write it down.
    mark = tokenapi.marker(login.token_id)
    description = f"kubectl-ace for {req.cluster} {mark}" if req.cluster else f"kubectl-ace {mark}"
    client = rancher_client(req, record)
    known = record.token_api if record else ""
    try:
        answer, used = tokenapi.mint(
            client, login.token, req.cluster, ttl_ms, description, known or tokenapi.detect(client)
        )
    except AuthenticationFailed:
        req.store.forget_login(req.server, login.name)
        raise NotLoggedIn(
            f"Rancher at {req.server} no longer accepts the login of {login.label} "
            f"(revoked or expired); run: kubectl ace login --server {req.server}"
        ) from None
    if used != known:
        req.store.remember_token_api(req.server, used)
    body = answer.body
    entry = ClusterToken(
        body["token"], minted=now, expires=local_expiry(body, answer), expires_at=body.get("expiresAt") or ""
    )
    replaced = login.cluster(req.cluster_key)
    req.store.save_cluster_token(req.server, login, req.cluster_key, entry)  # the replaced one is retired
    if req.force_refresh and replaced is not None and not replaced.same_as(entry):
        revoke_replaced(req, client, login, replaced)
    process_marks.prune_handouts(req.store, req.server, req.cluster)
    return Credential.of(entry)


def revoke_replaced(req: Request, client, login: Login, replaced: ClusterToken) -> None:
    """--force-refresh: the user distrusts the old token, so revoke it now (a refresh-ahead lets it expire)."""
    from kubectl_ace.errors import AceError
    from kubectl_ace.rancher import tokenapi

    try:
        tokenapi.delete(client, login.token, replaced.token, replaced.token_id)  # False: gone already
    except AceError as err:
        print(
            f"kubectl-ace: warning: could not revoke the replaced token for {req.what} ({err.message}); "
            "`kubectl ace logout` revokes it later",
            file=sys.stderr,
        )
        return
    req.store.drop_retired(req.server, {replaced.token})


def assert_rancher_answers(req: Request, record: ServerRecord | None) -> None:
    """Raise RancherUnreachable at once when Rancher does not answer a quick /ping (from a fresh cache or a probe)."""
    from kubectl_ace import health

    settings = health.Settings(connect_timeout=1.0, read_timeout=1.0)
    known = health.fresh_results(req.store, req.server, ["rancher", health.proxy_key(req.cluster)], settings)
    for result in known.values():
        if not result.reachable:
            raise RancherUnreachable(f"Rancher at {req.server} does not answer ({result.describe()})")
    if "rancher" in known:
        return
    trust = trust_of(req, record)
    target = health.rancher_target(req.server, trust.cacert or "", trust.insecure)
    result = health.refresh(req.store, req.server, [target], settings)["rancher"]
    if not result.reachable:
        raise RancherUnreachable(f"Rancher at {req.server} does not answer ({result.describe()})")


def refresh_ahead(req: Request, held: Held, now: float) -> None:
    """Prepared tokens of the login within their refresh margin: start a detached refresh (from memory: no I/O)."""
    login, record = held.login, held.record
    if record is None or login is None or not login.can_mint(now):
        return
    from_stamp = record.extra.get("refresh_started")  # written by the refresh itself (background.py)
    if isinstance(from_stamp, (int, float)) and 0 <= now - from_stamp < REFRESH_EVERY:
        return
    for entry in login.clusters.values():
        if entry.verified_at is not None and not entry.is_fresh(login, now):
            from kubectl_ace import background

            background.start_refresh(req.store, req.server)
            return


def warn_if_login_ends_soon(req: Request, login: Login | None, now: float) -> None:
    """At most once a day, say on stderr that the login runs out soon (and when)."""
    if login is None or login.expires is None or not login.token or login.expires - now > LOGIN_WARNING:
        return
    import os

    path = req.store.state_file(f"warned-{server_key(req.server)}")
    try:
        if now - os.stat(path).st_mtime < 86400:
            return
    except OSError:
        pass
    from kubectl_ace import output

    days, hours = divmod(round(max(0.0, login.expires - now) / 3600), 24)
    print(
        f"kubectl-ace: warning: your login to {req.server} expires in {days} d {hours} h (at "
        f"{output.local_time(login.expires)}); renew it with: kubectl ace login --server {req.server}",
        file=sys.stderr,
    )
    ends = [e.expires for e in login.clusters.values() if e.verified_at is not None and e.expires and e.is_usable(now)]
    if ends:  # what the outage would cost: the tokens cannot be renewed beyond the login
        last = max(ends)
        print(
            f"kubectl-ace: warning: if Rancher fails now, ACE access to {len(ends)} cluster"
            f"{'s' if len(ends) != 1 else ''} ends at {output.local_time(last)}; run kubectl ace login "
            f"--server {req.server}",
            file=sys.stderr,
        )
    from kubectl_ace.errors import StoreError
    from kubectl_ace.files import write_atomic

    try:
        req.store.ensure("state")
        write_atomic(path, b"")
    except StoreError:
        pass


def trust_of(req: Request, record: ServerRecord | None):
    """The CA and TLS choice for Rancher: --cacerts/--skip-verify, the login's, or kubectl's CA for its proxy."""
    from kubectl_ace import connect
    from kubectl_ace.credential import decode_ca

    cacert = connect.read_ca(req.cacerts) if req.cacerts else None
    on_proxy = proxy_parts(req.endpoint)
    proxy_ca = decode_ca(req.endpoint_ca) if on_proxy and on_proxy[0] == req.server else ""
    return connect.trust_for(record, cacert=cacert, insecure=req.skip_verify, proxy_ca=proxy_ca)


def rancher_client(req: Request, record: ServerRecord | None):
    from kubectl_ace import connect

    return connect.rancher_client(req.store, req.server, trust_of(req, record))
