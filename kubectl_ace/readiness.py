"""Ready before Rancher fails: each ACE cluster holds a valid token, with time left, that its ACE endpoints accept.

`prepare` gets the token the way kubectl's calls do (tokens.get_token decides whether to mint) and checks it at the
cluster's ACE endpoints, waiting boundedly for Rancher's asynchronous sync; what was verified is kept on the
ClusterToken (`verified_at`), so `held` (status) reports readiness from the store without probing or minting.
"""

from __future__ import annotations

import sys
import threading
import time

from kubectl_ace import endpoints, health, output, tokens
from kubectl_ace.errors import AceError, NotLoggedIn, RancherUnreachable
from kubectl_ace.records import ServerRecord
from kubectl_ace.store import Store

WAIT = 30.0  # how long to wait for Rancher to sync a new token to a cluster's kube-api-auth
PARALLEL = 8  # clusters prepared at once (each mint is one Rancher request, each check a few probes)
FIRST_POLL = 0.5
LONGEST_POLL = 4.0


class Outcome:
    """Whether one ACE cluster is ready for a Rancher outage, and why not."""

    def __init__(
        self,
        found: endpoints.ClusterEndpoints,
        name: str,
        ready: bool,
        reason: str = "",
        expires: float | None = None,
        verified_at: float | None = None,
        error: AceError | None = None,
    ) -> None:
        self.endpoints = found
        self.name = name  # the context that names the cluster (its proxy context when it has one)
        self.ready = ready
        self.reason = reason  # why not ready ("" when ready)
        self.expires = expires  # when the held token expires (None: never, or no token)
        self.verified_at = verified_at
        self.error = error  # what stopped the token from being got, if that was it

    def as_data(self) -> dict:
        return {
            "ready": self.ready,
            "reason": self.reason or None,
            "tokenExpires": output.utc_stamp(self.expires),
            "verifiedAt": output.utc_stamp(self.verified_at),
        }


def ace_clusters(config, contexts: list[str] | None = None, server: str | None = None) -> list:
    """The ACE-enabled Rancher clusters (endpoints.ClusterEndpoints with an ACE context) of `contexts` (default all)."""
    if contexts is None:  # one pass over the kubeconfig: per context would be quadratic in a fleet
        return [
            found
            for found in endpoints.all_rancher_endpoints(config)
            if found.ace and server in (None, "", found.server)
        ]
    picked, seen = [], set()
    for name in contexts:
        found = endpoints.rancher_endpoints(config, name)
        if found is None or not found.ace or (server and found.server != server):
            continue
        if (found.server, found.cluster_id) not in seen:
            seen.add((found.server, found.cluster_id))
            picked.append(found)
    return picked


def name_of(found) -> str:
    return found.proxy.context if found.proxy else found.ace[0].context


def held(store: Store, found, now: float | None = None, record: ServerRecord | None = None) -> Outcome:
    """Readiness from what the store holds (no probe, no mint)."""
    now = time.time() if now is None else now
    name = name_of(found) if found.all() else found.cluster_id
    if not found.ace:
        return Outcome(found, name, False, "no ACE endpoint in the kubeconfig")
    if record is None:
        record = store.read(found.server)
    login = record.login() if record else None
    entry = login.cluster(found.cluster_id) if login else None
    if entry is None:
        why = "no cluster token yet" if login else f"not logged in to {found.server}"
        return Outcome(found, name, False, f"{why} (run: kubectl ace prepare {name})")
    if not entry.is_usable(now):
        return Outcome(found, name, False, f"its token expired at {output.local_time(entry.expires)}", entry.expires)
    if entry.refused_at is not None and (entry.verified_at is None or entry.refused_at >= entry.verified_at):
        why = f"its token was refused at {output.local_time(entry.refused_at)}"
        return Outcome(found, name, False, why, entry.expires, entry.verified_at)
    if entry.verified_at is None:
        why = f"its token has not been checked at ACE yet (run: kubectl ace prepare {name})"
        return Outcome(found, name, False, why, entry.expires)
    return Outcome(found, name, True, "", entry.expires, entry.verified_at)


def prepare(store: Store, clusters: list, wait: float = WAIT, progress=None, settings=None) -> list[Outcome]:
    """Get a token for each cluster (in parallel, bounded) and check it at ACE; `progress(ready, waiting, total)`."""
    from concurrent.futures import ThreadPoolExecutor

    settings = settings or health.Settings()
    state = {"ready": 0, "waiting": 0}
    lock = threading.Lock()

    def tell(ready: int = 0, waiting: int = 0) -> None:
        with lock:
            state["ready"] += ready
            state["waiting"] += waiting
            if progress is not None:
                progress(state["ready"], state["waiting"], len(clusters))

    def one(found) -> Outcome:
        try:
            outcome = prepare_one(store, found, wait, settings, tell)
        except AceError as err:  # a store or lock problem: this cluster is not ready, the others go on
            outcome = Outcome(found, name_of(found), False, err.message, error=err)
        if outcome.ready:
            tell(ready=1)
        return outcome

    if not clusters:
        return []
    with ThreadPoolExecutor(max_workers=min(PARALLEL, len(clusters))) as pool:
        return list(pool.map(one, clusters))


def prepare_one(store: Store, found, wait: float, settings, tell=None) -> Outcome:
    """One cluster: its token from the store or a mint (tokens.get_token decides), then accepted at ACE?"""
    name = name_of(found)
    try:
        cred = tokens.get_token(tokens.Request(found.server, found.cluster_id, store=store))
    except AceError as err:
        return Outcome(found, name, False, f"no token ({err.message})", error=err)
    targets = {e.url: health.ace_target(found.cluster_id, e.url, cred.token, e.ca_data, e.insecure) for e in found.ace}
    deadline = time.monotonic() + wait
    delay, waited = FIRST_POLL, False
    while True:
        probed = health.probe_all(list(targets.values()), settings)
        health.remember(store, found.server, probed)
        results = {url: probed[t.key] for url, t in targets.items()}
        if any(r.healthy for r in results.values()):
            when = time.time()
            store.stamp_token(found.server, found.cluster_id, cred.token, "verified_at", when)
            if waited and tell:
                tell(waiting=-1)
            return Outcome(found, name, True, "", cred.expires, when)
        refused = [r for r in results.values() if r.auth_problem]
        left = deadline - time.monotonic()
        if not refused or left <= 0:
            break
        if not waited and tell:
            tell(waiting=1)
        waited = True
        time.sleep(min(delay, left))
        delay = min(delay * 2, LONGEST_POLL)
    if waited and tell:
        tell(waiting=-1)
    if refused:
        why = f"its ACE endpoints refuse the token after {wait:.0f} s (Rancher has not synced it yet)"
    else:
        tried = "; ".join(f"{e.context} {results[e.url].describe()}" for e in found.ace)
        why = f"its ACE endpoints do not answer ({tried})"
    return Outcome(found, name, False, why, cred.expires)


def summary(outcomes: list[Outcome], shown: int = 3) -> str:
    """`ready for a Rancher outage: 11/12 clusters; stage: <why not>`."""
    ready = sum(1 for o in outcomes if o.ready)
    line = f"ready for a Rancher outage: {ready}/{len(outcomes)} cluster{'s' if len(outcomes) != 1 else ''}"
    missing = [o for o in outcomes if not o.ready]
    line += "".join(f"; {o.name}: {o.reason}" for o in missing[:shown])
    if len(missing) > shown:
        line += f"; and {len(missing) - shown} more (kubectl ace status --all)"
    return line


def exit_code(outcomes: list[Outcome]) -> int:
    """0 when some cluster is ready or Rancher answered; else the code of what stopped every token (7, 4, ...)."""
    if not outcomes or any(o.ready for o in outcomes):
        return 0
    stopped = [o.error for o in outcomes if isinstance(o.error, (RancherUnreachable, NotLoggedIn))]
    return stopped[0].exit_code if len(stopped) == len(outcomes) else 0


def run_and_report(store: Store, clusters: list, wait: float = WAIT, stream=None) -> list[Outcome]:
    """Prepare and say so on `stream` (stderr): a progress line on a terminal only, then the summary line."""
    stream = stream or sys.stderr
    if not clusters:
        return []
    progress = _progress_to(stream) if _is_tty(stream) else None
    outcomes = prepare(store, clusters, wait, progress)
    if progress is not None:
        stream.write("\r\033[K")
    stream.write(f"kubectl-ace: {summary(outcomes)}\n")
    stream.flush()
    return outcomes


def prepare_after(store: Store, kubeconfig: str | None, server: str | None = None, paths: list | None = None) -> None:
    """The end of login, kubeconfig and convert: prepare the kubeconfig's ACE clusters; never fails the command."""
    from kubectl_ace import kubeconfig_view

    try:
        if paths:
            import os

            config = kubeconfig_view.load(None, {"KUBECONFIG": os.pathsep.join(paths)})
        else:
            config = kubeconfig_view.load(kubeconfig)
        run_and_report(store, ace_clusters(config, server=server))
    except AceError as err:
        print(f"kubectl-ace: warning: could not prepare for a Rancher outage: {err.message}", file=sys.stderr)


def refresh_due(store: Store, clusters: list, server: str, wait: float) -> int:
    """`prepare --background`: renew the prepared tokens within their refresh margin, one process at a time."""
    import filelock

    from kubectl_ace.urls import server_key

    try:
        with store.lock(f"{server_key(server)}.refresh", timeout=0):
            now = time.time()
            if server:
                stamp(store, server, now)
            due = [found for found in clusters if needs_refresh(store, found, now)]
            prepare(store, due, wait)
    except filelock.Timeout:
        return 0  # another refresh runs
    except AceError:
        return 1
    return 0


def needs_refresh(store: Store, found, now: float) -> bool:
    """A prepared token that a mint from the login could now improve on (or none that is usable any more)."""
    record = store.read(found.server)
    login = record.login() if record else None
    entry = login.cluster(found.cluster_id) if login else None
    return entry is not None and entry.verified_at is not None and not entry.is_fresh(login, now)


def stamp(store: Store, server: str, now: float) -> None:
    """Note when the last refresh started, in the server record the hot path reads anyway."""

    def put(current):
        if current is not None:
            current.extra["refresh_started"] = now
        return current

    store.update(server, put)


def _progress_to(stream):
    def show(ready: int, waiting: int, total: int) -> None:
        sync = f", {waiting} waiting for Rancher's sync" if waiting else ""
        stream.write(f"\r\033[Kkubectl-ace: preparing for a Rancher outage: {ready}/{total} ready{sync}")
        stream.flush()

    return show


def _is_tty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
