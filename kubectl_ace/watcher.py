"""The detached watcher: while kubectl calls go on, it keeps the health state of the endpoint they use fresh.

A call that finds its trusted state past half its TTL starts `prepare --background --reprobe` (background.py). The
watcher probes kubectl's endpoint every few seconds for as long as kubectl calls keep arriving, so an outage is seen
within one probe of its start rather than by the first call after the state expired. At the first failed probe it
fails over as a call would (the next call, already on the healthy endpoint, says so) and stops; it also stops once a
switch back is due (the next call makes it) or when calls stop.
"""

from __future__ import annotations

import time

from kubectl_ace import health, switches
from kubectl_ace.store import Store

EVERY = 2.0  # seconds between probes: well within the half TTL at which a call would start another watcher
IDLE = 20.0  # stop once no kubectl call has used the endpoint for this long (KUBECTL_ACE_WATCH_IDLE)
AT_MOST = 900.0  # one watcher's life; a later call starts the next


def watch(store: Store, server: str, cluster_id: str, fail_over: bool = True) -> int:
    """Probe kubectl's endpoint (and the one a switch back waits for) until one of them changes or calls stop;
    when kubectl's endpoint stops answering, fail over as a call would (the next call says so)."""
    import filelock

    from kubectl_ace.kubectl_process import fnv1a
    from kubectl_ace.urls import server_key

    found = what_to_probe(store, server, cluster_id)
    if found is None:
        return 0
    where, targets, token = found
    settings = health.Settings()
    lock = f"{server_key(where.server)}.watch-{fnv1a(targets[0].key):08x}"
    try:
        with store.lock(lock, timeout=0):
            started = time.time()
            while True:
                health.mark_reprobe(store, where.server, [t.key for t in targets], time.time())
                results = health.refresh(store, where.server, targets, settings)
                down = results[targets[0].key]
                if not down.reachable:
                    if fail_over:
                        switch_away(where, down, token, store)
                    return 0
                if len(targets) > 1 and results[targets[1].key].healthy:
                    return 0  # the endpoint the tool switched away from is back: the next call switches back
                now = time.time()
                if now - started > AT_MOST or not in_use(store, where.server, where.cluster_id, now):
                    return 0
                time.sleep(min(EVERY, settings.healthy_ttl / 4))
    except filelock.Timeout:
        return 0  # another watcher has it


def what_to_probe(store: Store, server: str, cluster_id: str):
    """(where kubectl calls, [its target, and the source of the tool's switch if any], the token), or None."""
    from kubectl_ace import credential, failover

    info = credential.read_exec_info()  # inherited from the kubectl call that started the watcher
    cluster = info.cluster if info.cluster.get("server") else failover.resolved_cluster(store)
    where = failover.locate(cluster, server)
    if where is None:
        return None
    where.cluster_id = where.cluster_id or cluster_id
    record = store.read(where.server)
    login = record.login() if record else None
    entry = login.cluster(where.cluster_id) if login else None
    token = entry.token if entry else ""
    targets = [failover.probe_target(where, cluster, token, store)]
    mine = switches.mine(store, where.server, where.cluster_id)
    if mine is not None:
        targets.append(switches.source_target(mine, where.server, token))
    return where, targets, token


def switch_away(where, result, token: str, store: Store) -> None:
    """Fail over from the dead endpoint now, so that the next call already uses a healthy one."""
    from kubectl_ace import failover, switching
    from kubectl_ace.errors import AceError

    try:
        switching.switch_away(where, result, token, store, failover.Options(), background=True)
    except AceError:
        pass  # e.g. the kubeconfig changed meanwhile: the next call fails over itself


def in_use(store: Store, server: str, cluster_id: str, now: float) -> bool:
    """Has a kubectl call used the endpoint lately? Each new kubectl process leaves its mark in one directory."""
    import os

    from kubectl_ace.process_marks import handout_dir

    idle = health.env_seconds(os.environ.get("KUBECTL_ACE_WATCH_IDLE"), IDLE)
    try:
        return now - os.stat(handout_dir(store, server, cluster_id or None)).st_mtime < idle
    except OSError:
        return False
