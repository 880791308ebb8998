"""The exec path's guard: before kubectl gets its token, fail over from a dead endpoint (proxy or ACE), or switch back.

`guard` runs on every kubectl call: with a fresh health state it reads two small files and returns.
The switching itself (switching.py) and the kubeconfig (and yaml) are loaded only when a switch is due.
"""

import os

from kubectl_ace import jsonlite
from kubectl_ace.credential import cluster_ca
from kubectl_ace.store import Store


class Options:
    """Failover switches, from token flags or the environment."""

    def __init__(
        self,
        failover: bool | None = None,
        switch_back: bool | None = None,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        healthy_ttl: float | None = None,
    ) -> None:
        self.failover = _env_on("KUBECTL_ACE_FAILOVER") if failover is None else failover
        self.switch_back = _env_on("KUBECTL_ACE_SWITCH_BACK") if switch_back is None else switch_back
        self._timings = (connect_timeout, read_timeout, healthy_ttl)

    @property
    def settings(self):
        """Probe settings (health is imported only when a probe or its cache is needed)."""
        from kubectl_ace import health

        return health.Settings(*self._timings)


class Location:
    """Which Rancher cluster endpoint kubectl is about to call."""

    __slots__ = ("server", "cluster_id", "kind", "url")

    def __init__(self, server: str, cluster_id: str, kind: str, url: str) -> None:
        self.server = server
        self.cluster_id = cluster_id
        self.kind = kind
        self.url = url


def locate(cluster: dict, server_hint: str = "") -> Location | None:
    """From the exec cluster info: our extension first, else Rancher's proxy URL shape, else an ACE guess."""
    url = (cluster.get("server") or "").rstrip("/")
    config = cluster.get("config")
    from kubectl_ace.urls import classify

    found = classify(url, config.get("kubectl-ace") if isinstance(config, dict) else None)
    if found is not None:
        return Location(found[0], found[1], found[2], url)
    if url and server_hint:
        return Location(server_hint, "", "ace", url)
    return None


class Due:
    """A switch the guard found due: fail over from the endpoint kubectl is about to use, or switch back."""

    __slots__ = ("action", "where", "result", "switch")

    def __init__(self, action: str, where: Location, result=None, switch=None) -> None:
        self.action = action  # "fail over" or "switch back"
        self.where = where
        self.result = result  # fail over: the probe that failed (health.Result)
        self.switch = switch  # switch back: the tool's own switch to undo (switches.Switch)


def guard(cluster: dict, server: str, cluster_id: str | None, token: str, store: Store, options: Options) -> Due | None:
    """Before handing kubectl a token: is a fail-over from a dead endpoint due, or a switch back to a healthy one?"""
    if not options.failover and not options.switch_back:
        return None
    if not cluster.get("server"):
        cluster = resolved_cluster(store)  # no provideClusterInfo: read it from kubectl's kubeconfig
    where = locate(cluster, server)
    if where is None:
        return None
    if cluster_id and not where.cluster_id:
        where.cluster_id = cluster_id  # an ACE URL alone does not say its cluster; the token's flags do
    if options.failover:
        due = endpoint_guard(where, cluster, token, store, options)
        if due is not None:
            return due
    # Only now read the tool's switches, and only once the tool has switched at all (one stat, not an import).
    if options.switch_back and os.path.exists(store.switches_file()):
        from kubectl_ace import switches

        mine = switches.mine(store, where.server, where.cluster_id)
        if mine is not None and (where.kind != "proxy" or mine.source_url):
            return Due("switch back", where, switch=mine)
    return None


def endpoint_guard(where: Location, cluster: dict, token: str, store: Store, options: Options) -> Due | None:
    """Does the endpoint kubectl is about to use (proxy, FQDN or node) answer? The cached state; a probe when stale."""
    from kubectl_ace import health

    settings = options.settings
    key = health.proxy_key(where.cluster_id) if where.kind == "proxy" else health.ace_key(where.cluster_id, where.url)
    result = trusted(store, where, key, settings)
    if result is None:  # stale: only now are the CA and a probe needed
        result = health.refresh(store, where.server, [probe_target(where, cluster, token, store)], settings)[key]
    return None if result.reachable else Due("fail over", where, result)


def probe_target(where: Location, cluster: dict, token: str, store: Store):
    """The probe of kubectl's endpoint (health.Target), with the exec cluster info's CA (for the proxy, else Rancher's
    CA from the store)."""
    from kubectl_ace import health

    ca = cluster_ca(cluster)
    insecure = bool(cluster.get("insecure-skip-tls-verify"))
    if where.kind != "proxy":
        return health.ace_target(where.cluster_id, where.url, token, ca, insecure)
    if not ca:
        record = store.read(where.server)
        ca = (record.cacert if record else "") or ""
    return health.proxy_target(where.server, where.cluster_id, token, ca, insecure)


def trusted(store: Store, where: Location, key: str, settings):
    """The cached result to decide with, or None to probe now; past half its TTL a background re-probe is started.

    So an active user's state is fresh when an outage starts, and a re-probe that hangs makes the next call probe
    (within the probe budget) instead of trusting a healthy result while kubectl would hang on its TLS timeout.
    """
    import time

    from kubectl_ace import health

    result = health.cached(store, where.server, key, settings)
    if result is None:
        return None
    now = time.time()
    if health.reprobe_overdue(result, settings, now):
        return None
    if health.reprobe_due(result, settings, now):
        from kubectl_ace import background

        background.start_reprobe(store, where.server, where.cluster_id, settings)
    return result


def resolved_cluster(store: Store) -> dict:
    """The cluster entry kubectl is using, as exec cluster info, cached by the kubeconfig files' mtimes."""
    from kubectl_ace import kubectl_process

    kube_file, context = kubectl_process.kubectl_args()
    paths, _ = kubectl_process.kubeconfig_files(kube_file)
    stamps = []
    for path in paths:
        try:
            info = os.stat(path)
            stamps.append([path, info.st_mtime_ns, info.st_size])
        except OSError:
            stamps.append([path, 0, 0])
    key = repr([stamps, context, bool(kube_file)])
    cache_path = store.state_file("resolved.json")
    try:
        with open(cache_path, encoding="utf-8") as handle:
            cached = jsonlite.loads(handle.read())
        if cached.get("key") == key:
            return cached["cluster"]
    except (OSError, ValueError, AttributeError, KeyError):
        pass
    from kubectl_ace import kubeconfig_index  # per-file indexes: no YAML parse when only current-context changed

    found = kubeconfig_index.cluster_info_json(store, paths, context or "")  # JSON text: the json package imports re
    from kubectl_ace.files import write_atomic

    store.ensure("state")
    write_atomic(cache_path, ('{"key": ' + jsonlite.quote(key) + ', "cluster": ' + found + "}").encode(), durable=False)
    return jsonlite.loads(found)


def _env_on(name: str) -> bool:
    return os.environ.get(name, "1").strip().lower() not in ("0", "false", "no", "off")
