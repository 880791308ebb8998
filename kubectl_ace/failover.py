"""Which endpoint of a cluster to use, and switching kubectl's current context to it (and back).

The exec path calls `guard` on every kubectl call: with a fresh health state it reads two small
files and returns. The kubeconfig (and yaml) is loaded only when a switch is due.
"""

from __future__ import annotations

import os
import sys
import time

from kubectl_ace import jsonlite, store
from kubectl_ace.credential import decode_ca
from kubectl_ace.errors import AceError, FailedOver

PROXY_MARK = "/k8s/clusters/"


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

    def __init__(self, server: str, cluster_id: str, kind: str, url: str) -> None:
        self.server = server
        self.cluster_id = cluster_id
        self.kind = kind
        self.url = url


def locate(cluster: dict, server_hint: str = "") -> Location | None:
    """From the exec cluster info: our extension first, else Rancher's proxy URL shape."""
    url = (cluster.get("server") or "").rstrip("/")
    config = cluster.get("config")
    ours = config.get("kubectl-ace") if isinstance(config, dict) else None
    if isinstance(ours, dict) and ours.get("server") and ours.get("clusterId"):
        return Location(store.normalize_server(ours["server"]), ours["clusterId"], ours.get("endpoint", "proxy"), url)
    if PROXY_MARK in url:
        base, _, cluster_id = url.partition(PROXY_MARK)
        return Location(store.normalize_server(base), cluster_id.strip("/"), "proxy", url)
    if url and server_hint:
        return Location(server_hint, "", "ace", url)
    return None


def guard(cluster: dict, server: str, cluster_id: str | None, token: str, directory: str, options: Options) -> None:
    """Before handing kubectl a token: fail over from a dead proxy, or switch back once Rancher is healthy."""
    if not options.failover and not options.switch_back:
        return
    if not cluster.get("server"):
        cluster = resolved_cluster(directory)  # no provideClusterInfo: read it from kubectl's kubeconfig
    where = locate(cluster, server)
    if where is None:
        return
    if where.kind == "proxy":
        if options.failover:
            proxy_guard(where, cluster, token, directory, options)
    elif options.switch_back:
        switch_back(where, cluster_id or where.cluster_id, token, directory, options)


def proxy_guard(where: Location, cluster: dict, token: str, directory: str, options: Options) -> None:
    from kubectl_ace import health
    settings = options.settings
    result = health.cached(directory, where.server, health.proxy_key(where.cluster_id), settings)
    if result is None:  # stale: only now is the CA needed, for a probe
        ca = decode_ca(cluster.get("certificate-authority-data") or "") or \
            ((store.read(directory, where.server) or {}).get("cacert") or "")
        target = health.proxy_target(where.server, where.cluster_id, token, ca,
                                     bool(cluster.get("insecure-skip-tls-verify")))
        result = health.refresh(directory, where.server, [target], settings)[target.key]
    if result.reachable:
        return
    fail_over(where, result, token, directory, options)


def fail_over(where: Location, result, token: str, directory: str, options: Options) -> None:
    """Switch kubectl's current context to the best healthy ACE endpoint and end this call at once."""
    from kubectl_ace import caller, kubeconfig

    kube_file, explicit_context = caller.kubectl_args()
    config = kubeconfig.load(kube_file)
    using = explicit_context or config.current_context
    serving = kubeconfig.context_for_server(config, where.url)
    if using not in serving:
        # kubectl was pointed at this cluster some other way (--cluster, --server): switch nothing.
        explicit_context = using = serving[0] if serving else ""
    endpoints = kubeconfig.rancher_endpoints(config, using) if using else None
    down = f"the Rancher proxy of cluster {where.cluster_id} at {where.server} is down ({result.describe()})"
    topic = f"failover:{where.server}:{where.cluster_id}"
    current = config.current_context
    if not explicit_context and using != current and endpoints and endpoints.by_context(current) \
            and endpoints.by_context(current).kind != "proxy":
        # An earlier run in this same kubectl process switched already; kubectl still holds the old context.
        raise FailedOver(notice(directory, f"{down}; the current context is now {current}: run the command again",
                                topic))
    if endpoints is None or not endpoints.ace:
        raise AceError(notice(directory, f"{down}, and the kubeconfig has no Authorized Cluster Endpoint context "
                                         "for it to fail over to; enable ACE for the cluster in Rancher, or wait "
                                         "for Rancher"))
    chosen, results = best_ace(endpoints, token, directory, options.settings)
    if chosen is None:
        tried = "; ".join(f"{e.context} {results[e.url].describe()}" for e in endpoints.ace)
        raise AceError(notice(directory, f"{down}, and no ACE endpoint answers either ({tried})"))
    if explicit_context:
        raise FailedOver(notice(directory, f"{down}; the ACE context {chosen.context} is healthy: rerun with "
                                           f"--context {chosen.context}", topic))
    changed = kubeconfig.set_current_context(config, chosen.context, only_if=using, directory=directory)
    now_current = kubeconfig.load(kube_file).current_context
    if changed:
        remember_switch(directory, config.paths, where, using, chosen.context)
    if now_current != chosen.context:
        raise FailedOver(notice(directory, f"{down}; the current context is now {now_current}, set meanwhile: "
                                           "not switching", topic))
    raise FailedOver(notice(directory, f"{down}; switched the current context from {using} to {chosen.context} "
                                       f"({'ACE FQDN' if chosen.kind == 'fqdn' else 'ACE node'}): run the "
                                       "command again", topic))


def best_ace(endpoints, token: str, directory: str, settings):
    """Probe every ACE endpoint; the FQDN endpoint when healthy, else the fastest healthy node."""
    from kubectl_ace import health
    targets = {e.url: health.ace_target(endpoints.cluster_id, e.url, token, e.ca_data, e.insecure)
               for e in endpoints.ace}
    by_key = health.check(directory, endpoints.server, list(targets.values()), settings)
    results = {url: by_key[target.key] for url, target in targets.items()}
    return choose(endpoints.ace, results), results


def choose(ace: list, results: dict):
    """FQDN first when healthy, else the healthy node with the lowest latency; None when none is healthy."""
    healthy = [e for e in ace if results.get(e.url) is not None and results[e.url].healthy]
    fqdn = [e for e in healthy if e.kind == "fqdn"]
    if fqdn:
        return fqdn[0]
    return min(healthy, key=lambda e: results[e.url].latency_ms or 0.0, default=None)


def switch_back(where: Location, cluster_id: str, token: str, directory: str, options: Options) -> None:
    """On an ACE context the tool switched to: once the proxy is healthy again, switch back (this call goes on)."""
    records = read_switches(directory)
    mine = [r for r in records if r.get("to") and r.get("server") == where.server
            and (not cluster_id or r.get("cluster") == cluster_id)]
    if not mine:
        return
    record = mine[0]
    from kubectl_ace import health
    target = health.proxy_target(where.server, record["cluster"], token, record.get("proxy_ca", ""),
                                 record.get("proxy_insecure", False))
    if not health.check(directory, where.server, [target], options.settings)[target.key].healthy:
        return
    from kubectl_ace import kubeconfig
    try:
        config = kubeconfig.load(None, {"KUBECONFIG": os.pathsep.join(record["files"])})
        changed = kubeconfig.set_current_context(config, record["from"], only_if=record["to"], directory=directory)
    except AceError:
        return  # this call works through ACE anyway; the next one tries again
    forget_switch(directory, record)
    if changed:
        print(f"kubectl-ace: Rancher at {where.server} is reachable again; switched the current context back "
              f"from {record['to']} to {record['from']}", file=sys.stderr)


# --- switch records: which current-context changes the tool made (so it never undoes a user's choice) ---

def switches_path(directory: str) -> str:
    return os.path.join(directory, "switches.json")


def read_switches(directory: str) -> list[dict]:
    try:
        with open(switches_path(directory), encoding="utf-8") as handle:
            data = jsonlite.loads(handle.read())
    except (OSError, ValueError):
        return []
    return [r for r in data.get("switches", []) if isinstance(r, dict)] if isinstance(data, dict) else []


def remember_switch(directory: str, files: list[str], where: Location, source: str, target: str) -> None:
    from kubectl_ace import kubeconfig
    config = kubeconfig.load(None, {"KUBECONFIG": os.pathsep.join(files)})
    proxy_cluster = config.cluster_of(source)
    record = {"files": [os.path.abspath(f) for f in files], "server": where.server, "cluster": where.cluster_id,
              "from": source, "to": target, "at": time.time(),
              "proxy_ca": kubeconfig.ca_pem(proxy_cluster.body) if proxy_cluster else "",
              "proxy_insecure": bool(proxy_cluster and proxy_cluster.body.get("insecure-skip-tls-verify"))}
    _edit_switches(directory, lambda records: [r for r in records if r.get("files") != record["files"]] + [record])


def forget_switch(directory: str, record: dict) -> None:
    _edit_switches(directory, lambda records: [r for r in records if r.get("files") != record.get("files")])


def _edit_switches(directory: str, change) -> None:
    import json
    with store.locked(directory, "switches", 10.0, "recording a context switch"):
        records = change(read_switches(directory))
        store.ensure_dir(directory)
        store.write_atomic(switches_path(directory), json.dumps({"switches": records}, indent=1).encode())


# --- helpers ---

def notice(directory: str, message: str, topic: str = "") -> str:
    """The message the first time this kubectl process hears of its topic, else "" (kubectl retries
    discovery and would show it again and again)."""
    import json
    from kubectl_ace import caller
    path = os.path.join(directory, "state", "notices.json")
    me, now = f"{caller.identity()}|{topic or message}", time.time()
    try:
        with open(path, encoding="utf-8") as handle:
            seen = {k: v for k, v in json.load(handle).items() if now - v < 600}
    except (OSError, ValueError, AttributeError):
        seen = {}
    if me in seen:
        return ""
    seen[me] = now
    store.ensure_dir(os.path.dirname(path))
    store.write_atomic(path, json.dumps(seen).encode(), durable=False)
    return message


def resolved_cluster(directory: str) -> dict:
    """The cluster entry kubectl is using, as exec cluster info, cached by the kubeconfig files' mtimes."""
    from kubectl_ace import caller
    kube_file, context = caller.kubectl_args()
    paths = caller.kubeconfig_paths(kube_file)
    stamps = []
    for path in paths:
        try:
            info = os.stat(path)
            stamps.append([path, info.st_mtime_ns, info.st_size])
        except OSError:
            stamps.append([path, 0, 0])
    key = repr([stamps, context, bool(kube_file)])
    cache_path = os.path.join(directory, "state", "resolved.json")
    try:
        with open(cache_path, encoding="utf-8") as handle:
            cached = jsonlite.loads(handle.read())
        if cached.get("key") == key:
            return cached["cluster"]
    except (OSError, ValueError, AttributeError, KeyError):
        pass
    from kubectl_ace import kubeconfig
    try:
        config = kubeconfig.load(kube_file)
        entry = config.cluster_of(context or config.current_context)
    except AceError:
        entry = None
    cluster: dict = {}
    if entry is not None:
        cluster = {"server": entry.body.get("server", ""),
                   "insecure-skip-tls-verify": bool(entry.body.get("insecure-skip-tls-verify"))}
        pem = kubeconfig.ca_pem(entry.body)
        if pem:
            import base64
            cluster["certificate-authority-data"] = base64.b64encode(pem.encode()).decode()
        ext = kubeconfig.extension_of(entry.body)
        if ext:
            cluster["config"] = {"kubectl-ace": ext}
    import json
    store.ensure_dir(os.path.dirname(cache_path))
    store.write_atomic(cache_path, json.dumps({"key": key, "cluster": cluster}).encode())
    return cluster


def _env_on(name: str) -> bool:
    return os.environ.get(name, "1").strip().lower() not in ("0", "false", "no", "off")


# --- surveys: every endpoint of a cluster probed at once (status, switch --auto, kubectl) ---

class Report:
    """One Rancher cluster's endpoints, their probe results, and the endpoint to use."""

    def __init__(self, endpoints, rancher, results: dict, chosen, token_expires: float | None,
                 token_error: str, token_refused: float | None = None) -> None:
        self.endpoints = endpoints          # kubeconfig.ClusterEndpoints
        self.rancher = rancher
        self.results = results              # endpoint url -> health.Result
        self.chosen = chosen                # kubeconfig.Endpoint or None
        self.token_expires = token_expires
        self.token_error = token_error
        self.token_refused = token_refused  # when the cluster token was last seen refused


def survey(config, context: str, directory: str, settings=None) -> Report | None:
    """Probe Rancher, the proxy and every ACE endpoint of `context`'s cluster in parallel, and choose."""
    from kubectl_ace import health, kubeconfig, tokens
    from kubectl_ace.errors import AceError as Error

    endpoints = kubeconfig.rancher_endpoints(config, context)
    if endpoints is None:
        return None
    settings = settings or health.Settings()
    token, expires, token_error = None, None, ""
    try:
        cred = tokens.get_token(tokens.Request(endpoints.server, endpoints.cluster_id, directory=directory))
        token, expires = cred.token, cred.expires
    except Error as err:
        token_error = err.message
    record = store.read(directory, endpoints.server) or {}
    entry = tokens.cluster_token(tokens.pick_login(record, None), endpoints.cluster_id) or {}
    targets = {"rancher": health.rancher_target(endpoints.server, record.get("cacert") or "",
                                                bool(record.get("insecure")))}
    for endpoint in endpoints.all():
        if endpoint.kind == "proxy":
            target = health.proxy_target(endpoints.server, endpoints.cluster_id, token or "", endpoint.ca_data,
                                         endpoint.insecure)
        else:
            target = health.ace_target(endpoints.cluster_id, endpoint.url, token or "", endpoint.ca_data,
                                       endpoint.insecure)
        targets[endpoint.url] = target
    found = health.refresh(directory, endpoints.server, list(targets.values()), settings)
    results = {url: found[target.key] for url, target in targets.items() if url != "rancher"}
    proxy = endpoints.proxy
    if proxy and results[proxy.url].healthy:
        chosen = proxy
    else:
        chosen = choose(endpoints.ace, results)
    return Report(endpoints, found["rancher"], results, chosen, expires, token_error, entry.get("refused_at"))


def rancher_contexts(config) -> list[str]:
    """One context per Rancher cluster in the kubeconfig (its proxy context when it has one)."""
    from kubectl_ace import kubeconfig
    seen, picked = set(), []
    for name in sorted(config.contexts):
        endpoints = kubeconfig.rancher_endpoints(config, name)
        if endpoints is None:
            continue
        key = (endpoints.server, endpoints.cluster_id)
        if key not in seen:
            seen.add(key)
            picked.append(endpoints.proxy.context if endpoints.proxy else name)
    return picked


def choose_by_user(config, context: str, directory: str) -> None:
    """Make `context` current as the user's own choice: the tool will not switch it back."""
    from kubectl_ace import kubeconfig
    config.context(context)
    kubeconfig.set_current_context(config, context, directory=directory)
    files = [os.path.abspath(f) for f in config.paths]
    _edit_switches(directory, lambda records: [r for r in records if r.get("files") != files])
