"""Switching kubectl's current context when an endpoint fails, and back when it returns (the guard's cold half)."""

from __future__ import annotations

import os
import sys

from kubectl_ace import endpoints, kubeconfig_files, kubectl_process, notices, switches
from kubectl_ace.errors import AceError, FailedOver
from kubectl_ace.failover import Due, Location, Options
from kubectl_ace.store import Store


def fail_over(where: Location, result, token: str, store: Store, options: Options) -> None:
    """Switch kubectl's current context to the best healthy ACE endpoint and end this call at once."""

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
        message = (
            f"{down}, and the kubeconfig has no Authorized Cluster Endpoint context for it to fail over "
            "to; enable ACE for the cluster in Rancher, or wait for Rancher"
        )
        raise _once(store, AceError(message), message)
    chosen, results = best_ace(found, token, store, options.settings)
    if chosen is None:
        tried = "; ".join(f"{e.context} {results[e.url].describe()}" for e in found.ace)
        message = f"{down}, and no ACE endpoint answers either ({tried})"
        raise _once(store, AceError(message), message)
    if explicit_context:
        raise _once(
            store,
            FailedOver(f"{down}; the ACE context {chosen.context} is healthy: rerun with --context {chosen.context}"),
            topic,
        )
    changed = kubeconfig_files.set_current_context(config, chosen.context, store, only_if=using)
    now_current = kubeconfig_files.current_context_now(config)  # this command's parse proves an unchanged file
    if changed:
        proxy = config.cluster_of(using)
        switches.remember(
            store,
            config.paths,
            where.server,
            where.cluster_id,
            using,
            chosen.context,
            kubeconfig_files.ca_pem(proxy.body) if proxy else "",
            bool(proxy and proxy.body.get("insecure-skip-tls-verify")),
        )
    if now_current != chosen.context:
        raise _once(
            store, FailedOver(f"{down}; the current context is now {now_current}, set meanwhile: not switching"), topic
        )
    raise _once(
        store,
        FailedOver(
            f"{down}; switched the current context from {using} to {chosen.context} "
            f"({chosen.label}): run the command again"
        ),
        topic,
    )


def best_ace(found, token: str, store: Store, settings):
    """Probe every ACE endpoint of `found` (endpoints.ClusterEndpoints); the FQDN when healthy, else the fastest
    healthy node."""
    from kubectl_ace import health

    targets = {e.url: health.ace_target(found.cluster_id, e.url, token, e.ca_data, e.insecure) for e in found.ace}
    by_key = health.check(store, found.server, list(targets.values()), settings)
    results = {url: by_key[target.key] for url, target in targets.items()}
    return endpoints.choose(found.ace, results), results


def carry_out(due: Due, token: str, store: Store, options: Options) -> None:
    """Do the switch the guard found due (a fail-over ends this call with FailedOver)."""
    if due.action == "fail over":
        fail_over(due.where, due.result, token, store, options)
    else:
        switch_back(due.where, due.switch, token, store, options)


def switch_back(where: Location, record: switches.Switch, token: str, store: Store, options: Options) -> None:
    """On an ACE context the tool switched to: once the proxy is healthy again, switch back (this call goes on)."""
    from kubectl_ace import health

    target = health.proxy_target(where.server, record.cluster, token, record.proxy_ca, record.proxy_insecure)
    if not health.check(store, where.server, [target], options.settings)[target.key].healthy:
        return
    try:
        config = kubeconfig_files.load(None, {"KUBECONFIG": os.pathsep.join(record.files)})
        changed = kubeconfig_files.set_current_context(config, record.source, store, only_if=record.target)
    except AceError:
        return  # this call works through ACE anyway; the next one tries again
    switches.forget(store, record.files)
    if changed:
        print(
            f"kubectl-ace: Rancher at {where.server} is reachable again; switched the current context back "
            f"from {record.target} to {record.source}",
            file=sys.stderr,
        )


def _once(store: Store, err: AceError, topic: str) -> AceError:
    """The error, marked as already said when this kubectl process was told about the topic before."""
    err.already_said = not notices.first_time(store, topic)
    return err
