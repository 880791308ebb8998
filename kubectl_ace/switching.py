"""Switching kubectl's current context when an endpoint (proxy or ACE) fails, and back when it returns (cold half)."""

from __future__ import annotations

import os
import sys
import time

from kubectl_ace import endpoints, kubeconfig_files, kubeconfig_view, kubectl_process, notices, switches
from kubectl_ace.errors import AceError, FailedOver
from kubectl_ace.failover import Due, Location, Options
from kubectl_ace.store import Store


def fail_over(where: Location, result, token: str, store: Store, options: Options) -> None:
    """Switch kubectl's current context to the best healthy endpoint of the cluster and end this call at once."""
    err, topic = switch_away(where, result, token, store, options)
    raise _once(store, err, topic)


def switch_away(
    where: Location, result, token: str, store: Store, options: Options, background: bool = False
) -> tuple[AceError, str]:
    """Switch to the best healthy endpoint of the cluster; the error that ends the call, and its topic to say once.

    background: the watcher's fail-over, whose notice the switch record keeps for the next call (which uses it)."""
    kube_file, explicit_context = kubectl_process.kubectl_args()
    config = kubeconfig_view.load(kube_file)
    using = explicit_context or config.current_context
    serving = kubeconfig_files.context_for_server(config, where.url)
    mine = None if explicit_context else switches.mine(store, where.server, where.cluster_id)
    if mine is not None and mine.target == using and mine.source in serving:
        using = mine.source  # the watcher switched away while this kubectl was starting on the old context
        if mine.notice:
            switches.claim_notice(store, config.paths)  # this call says it below
    if using not in serving:
        # kubectl was pointed at this cluster some other way (--cluster, --server): switch nothing.
        explicit_context = using = serving[0] if serving else ""
    found = endpoints.rancher_endpoints(config, using) if using else None
    from_proxy = where.kind == "proxy"
    if from_proxy:
        down = f"the Rancher proxy of cluster {where.cluster_id} at {where.server} is down ({result.describe()})"
    else:
        down = (
            f"the ACE endpoint {using or where.url} of cluster {where.cluster_id} does not answer ({result.describe()})"
        )
    topic = f"failover:{where.server}:{where.cluster_id}"
    current = config.current_context
    now_on = found.by_context(current) if found else None
    if not explicit_context and using != current and now_on is not None and (now_on.is_ace or not from_proxy):
        # An earlier run in this same kubectl process switched already; kubectl still holds the old context.
        return (
            FailedOver(f"{down}; the current context is now {current}: kubectl commands started from now on use it"),
            topic,
        )
    others = [e for e in found.ace if e.url.rstrip("/") != where.url.rstrip("/")] if found else []
    if found is None or (from_proxy and not others):
        message = (
            f"{down}, and the kubeconfig has no Authorized Cluster Endpoint context for it to fail over "
            "to; enable ACE for the cluster in Rancher, or wait for Rancher"
        )
        return (AceError(message), message)
    chosen, results = best_ace(found, token, store, options.settings, others)
    if chosen is None and not from_proxy and found.proxy is not None:
        chosen, results = healthy_proxy(found, token, store, options.settings, results)
    if chosen is None:
        tried = "; ".join(f"{e.context} {results[e.url].describe()}" for e in others)
        if not from_proxy and found.proxy is not None:
            tried += ("; " if tried else "") + f"{found.proxy.context} {results[found.proxy.url].describe()}"
        message = (
            f"{down}, and no {'ACE' if from_proxy else 'other'} endpoint answers either ({tried})"
            if tried
            else f"{down}, and the kubeconfig has no other endpoint of the cluster to switch to"
        )
        return (AceError(message), message)
    if explicit_context:
        return (
            FailedOver(f"{down}; the context {chosen.context} is healthy: rerun with --context {chosen.context}"),
            topic,
        )
    switched = f"{down}; switched the current context from {using} to {chosen.context} ({chosen.label})"
    changed = kubeconfig_files.set_current_context(config, chosen.context, store, only_if=using)
    now_current = kubeconfig_files.current_context_now(config)  # this command's parse proves an unchanged file
    if changed:
        source = config.cluster_of(using)
        switches.remember(
            store,
            config.paths,
            where.server,
            where.cluster_id,
            using,
            chosen.context,
            kubeconfig_files.ca_pem(source.body, source.path) if source else "",
            bool(source and source.body.get("insecure-skip-tls-verify")),
            "" if from_proxy else where.url,
            f"{switched} at {time.strftime('%H:%M:%S')}" if background else "",
        )
    if now_current != chosen.context:
        return (FailedOver(f"{down}; the current context is now {now_current}, set meanwhile: not switching"), topic)
    return FailedOver(f"{switched}: kubectl commands started from now on use it"), topic


def healthy_proxy(found, token: str, store: Store, settings, results: dict):
    """The cluster's proxy context when Rancher serves it (the last resort of a failover from ACE)."""
    from kubectl_ace import health

    proxy = found.proxy
    target = health.proxy_target(found.server, found.cluster_id, token, proxy.ca_data, proxy.insecure)
    result = health.check(store, found.server, [target], settings)[target.key]
    results = dict(results, **{proxy.url: result})
    return (proxy if result.healthy else None), results


def best_ace(found, token: str, store: Store, settings, among: list | None = None):
    """Probe the ACE endpoints of `found` (endpoints.ClusterEndpoints; or `among` them); the FQDN when healthy, else
    the fastest healthy node."""
    from kubectl_ace import health

    ace = found.ace if among is None else among
    targets = {e.url: health.ace_target(found.cluster_id, e.url, token, e.ca_data, e.insecure) for e in ace}
    by_key = health.check(store, found.server, list(targets.values()), settings) if targets else {}
    results = {url: by_key[target.key] for url, target in targets.items()}
    return endpoints.choose(ace, results), results


def carry_out(due: Due, token: str, store: Store, options: Options) -> None:
    """Do the switch the guard found due (a fail-over ends this call with FailedOver)."""
    if due.action == "fail over":
        fail_over(due.where, due.result, token, store, options)
    else:
        switch_back(due.where, due.switch, token, store, options)


def switch_back(where: Location, record: switches.Switch, token: str, store: Store, options: Options) -> None:
    """On a context the tool switched to: once the source endpoint is healthy again, switch back (this call goes on)."""
    from kubectl_ace import health

    if record.notice:
        notice = switches.claim_notice(store, record.files)  # the watcher switched; this call is the first to use it
        if notice:
            print(f"kubectl-ace: {notice}", file=sys.stderr)
    target = switches.source_target(record, where.server, token)
    back = f"{record.source} answers again" if record.source_url else f"Rancher at {where.server} is reachable again"
    settings = options.settings
    known = health.fresh_results(store, where.server, [target.key], settings)
    hung = None if target.key in known else last_hung(store, where.server, target.key)
    if hung is not None:
        # The source hung last time (e.g. a stalled Rancher): probe it in the background, not on this call's time.
        if hung.reprobe_at is None or not 0 <= time.time() - hung.reprobe_at < settings.unhealthy_ttl:
            from kubectl_ace import background

            background.start_reprobe(store, where.server, record.cluster, settings, options.failover)
        return
    result = known.get(target.key) or health.refresh(store, where.server, [target], settings)[target.key]
    if not result.healthy:
        return
    try:
        config = kubeconfig_view.load(None, {"KUBECONFIG": os.pathsep.join(record.files)})
        changed = kubeconfig_files.set_current_context(config, record.source, store, only_if=record.target)
    except AceError:
        return  # this call works through the other endpoint anyway; the next one tries again
    switches.forget(store, record.files)
    if changed:
        print(
            f"kubectl-ace: {back}; switched the current context back from {record.target} to {record.source}",
            file=sys.stderr,
        )


def last_hung(store: Store, server: str, key: str):
    """The last result of `key`, however old, when it timed out (probing it again may take the whole budget)."""
    from kubectl_ace import health

    old = health.fresh_results(store, server, [key], health.Settings(healthy_ttl=1e12, unhealthy_ttl=1e12))
    return old[key] if key in old and old[key].error == "timed out" else None


def _once(store: Store, err: AceError, topic: str) -> AceError:
    """The error, marked as already said when this kubectl process was told about the topic before."""
    err.already_said = not notices.first_time(store, topic)
    return err
