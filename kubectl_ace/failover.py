"""The exec path's guard: before kubectl gets its token, fail over from a dead Rancher proxy, or switch back.

`guard` runs on every kubectl call: with a fresh health state it reads two small files and returns.
The kubeconfig (and yaml) is loaded only when a switch is due.
"""

from __future__ import annotations

import os
import sys

from kubectl_ace import endpoints, jsonlite, notices, switches
from kubectl_ace.credential import decode_ca
from kubectl_ace.errors import AceError, FailedOver
from kubectl_ace.store import Store


class Options:
    """Failover switches, from token flags or the environment."""

    def __init__(self, failover: bool | None = None, switch_back: bool | None = None,
                 connect_timeout: float | None = None, read_timeout: float | None = None,
                 healthy_ttl: float | None = None) -> None:
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
    found = endpoints.classify(url, config.get("kubectl-ace") if isinstance(config, dict) else None)
    if found is not None:
        return Location(found[0], found[1], found[2], url)
    if url and server_hint:
        return Location(server_hint, "", "ace", url)
    return None


def guard(cluster: dict, server: str, cluster_id: str | None, token: str, store: Store, options: Options) -> None:
    """Before handing kubectl a token: fail over from a dead proxy, or switch back once Rancher is healthy."""
    if not options.failover and not options.switch_back:
        return
    if not cluster.get("server"):
        cluster = resolved_cluster(store)  # no provideClusterInfo: read it from kubectl's kubeconfig
    where = locate(cluster, server)
    if where is None:
        return
    if where.kind == "proxy":
        if options.failover:
            proxy_guard(where, cluster, token, store, options)
    elif options.switch_back:
        switch_back(where, cluster_id or where.cluster_id, token, store, options)


def proxy_guard(where: Location, cluster: dict, token: str, store: Store, options: Options) -> None:
    from kubectl_ace import health
    settings = options.settings
    result = health.cached(store, where.server, health.proxy_key(where.cluster_id), settings)
    if result is None:  # stale: only now is the CA needed, for a probe
        record = store.read(where.server)
        ca = decode_ca(cluster.get("certificate-authority-data") or "") or ((record.cacert if record else "") or "")
        target = health.proxy_target(where.server, where.cluster_id, token, ca,
                                     bool(cluster.get("insecure-skip-tls-verify")))
        result = health.refresh(store, where.server, [target], settings)[target.key]
    if result.reachable:
        return
    fail_over(where, result, token, store, options)


def fail_over(where: Location, result, token: str, store: Store, options: Options) -> None:
    """Switch kubectl's current context to the best healthy ACE endpoint and end this call at once."""
    from kubectl_ace import kubeconfig_files, kubectl_process

    kube_file, explicit_context = kubectl_process.kubectl_args()
    config = kubeconfig_files.load(kube_file)
    using = explicit_context or config.current_context
    serving = kubeconfig_files.context_for_server(config, where.url)
    if using not in serving:
        # kubectl was pointed at this cluster some other way (--cluster, --server): switch nothing.
        explicit_context = using = serving[0] if serving else ""
    found = endpoints.rancher_endpoints(config, using) if using else None
    down = f"the Rancher proxy of cluster {where.cluster_id} at {where.server} is down ({result.describe()})"
    topic = f"failover:{where.server}:{where.cluster_id}"
    current = config.current_context
    now_on = found.by_context(current) if found else None
    if not explicit_context and using != current and now_on is not None and now_on.is_ace:
        # An earlier run in this same kubectl process switched already; kubectl still holds the old context.
        raise _once(store, FailedOver(f"{down}; the current context is now {current}: run the command again"), topic)
    if found is None or not found.ace:
        message = (f"{down}, and the kubeconfig has no Authorized Cluster Endpoint context for it to fail over "
                   "to; enable ACE for the cluster in Rancher, or wait for Rancher")
        raise _once(store, AceError(message), message)
    chosen, results = best_ace(found, token, store, options.settings)
    if chosen is None:
        tried = "; ".join(f"{e.context} {results[e.url].describe()}" for e in found.ace)
        message = f"{down}, and no ACE endpoint answers either ({tried})"
        raise _once(store, AceError(message), message)
    if explicit_context:
        raise _once(store, FailedOver(f"{down}; the ACE context {chosen.context} is healthy: rerun with "
                                      f"--context {chosen.context}"), topic)
    changed = kubeconfig_files.set_current_context(config, chosen.context, store, only_if=using)
    now_current = kubeconfig_files.load(kube_file).current_context
    if changed:
        proxy = config.cluster_of(using)
        switches.remember(store, config.paths, where.server, where.cluster_id, using, chosen.context,
                          kubeconfig_files.ca_pem(proxy.body) if proxy else "",
                          bool(proxy and proxy.body.get("insecure-skip-tls-verify")))
    if now_current != chosen.context:
        raise _once(store, FailedOver(f"{down}; the current context is now {now_current}, set meanwhile: "
                                      "not switching"), topic)
    raise _once(store, FailedOver(f"{down}; switched the current context from {using} to {chosen.context} "
                                  f"({chosen.label}): run the command again"), topic)


def best_ace(found: endpoints.ClusterEndpoints, token: str, store: Store, settings):
    """Probe every ACE endpoint; the FQDN endpoint when healthy, else the fastest healthy node."""
    from kubectl_ace import health
    targets = {e.url: health.ace_target(found.cluster_id, e.url, token, e.ca_data, e.insecure) for e in found.ace}
    by_key = health.check(store, found.server, list(targets.values()), settings)
    results = {url: by_key[target.key] for url, target in targets.items()}
    return endpoints.choose(found.ace, results), results


def switch_back(where: Location, cluster_id: str, token: str, store: Store, options: Options) -> None:
    """On an ACE context the tool switched to: once the proxy is healthy again, switch back (this call goes on)."""
    record = switches.mine(store, where.server, cluster_id)
    if record is None:
        return
    from kubectl_ace import health
    target = health.proxy_target(where.server, record.cluster, token, record.proxy_ca, record.proxy_insecure)
    if not health.check(store, where.server, [target], options.settings)[target.key].healthy:
        return
    from kubectl_ace import kubeconfig_files
    try:
        config = kubeconfig_files.load(None, {"KUBECONFIG": os.pathsep.join(record.files)})
        changed = kubeconfig_files.set_current_context(config, record.source, store, only_if=record.target)
    except AceError:
        return  # this call works through ACE anyway; the next one tries again
    switches.forget(store, record.files)
    if changed:
        print(f"kubectl-ace: Rancher at {where.server} is reachable again; switched the current context back "
              f"from {record.target} to {record.source}", file=sys.stderr)


def _once(store: Store, err: AceError, topic: str) -> AceError:
    """The error, marked as already said when this kubectl process was told about the topic before."""
    err.already_said = not notices.first_time(store, topic)
    return err


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
    from kubectl_ace import kubeconfig_files
    try:
        config = kubeconfig_files.load(kube_file)
        entry = config.cluster_of(context or config.current_context)
    except AceError:
        entry = None
    cluster: dict = {}
    if entry is not None:
        cluster = {"server": entry.body.get("server", ""),
                   "insecure-skip-tls-verify": bool(entry.body.get("insecure-skip-tls-verify"))}
        pem = kubeconfig_files.ca_pem(entry.body)
        if pem:
            import base64
            cluster["certificate-authority-data"] = base64.b64encode(pem.encode()).decode()
        ext = endpoints.extension_of(entry.body)
        if ext:
            cluster["config"] = {"kubectl-ace": ext}
    import json

    from kubectl_ace.files import write_atomic
    store.ensure("state")
    write_atomic(cache_path, json.dumps({"key": key, "cluster": cluster}).encode())
    return cluster


def _env_on(name: str) -> bool:
    return os.environ.get(name, "1").strip().lower() not in ("0", "false", "no", "off")
