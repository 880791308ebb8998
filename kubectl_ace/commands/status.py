"""`kubectl ace status`: probe Rancher, each cluster's proxy path and every ACE endpoint; say what is outage-ready.

Read-only: nothing is minted or asked of Rancher but its /ping; readiness comes from what the token store holds.
"""

from __future__ import annotations

from kubectl_ace import endpoints, kubeconfig_files, kubeconfig_view, output, survey
from kubectl_ace.errors import UsageError
from kubectl_ace.store import Store

EXAMPLES = """\
  kubectl ace status                 the current context's cluster: each endpoint, the one kubectl would use
  kubectl ace status --all           every Rancher cluster in the kubeconfig, and which are outage-ready
  kubectl ace status prod -o json    one cluster, for scripts (readiness, token expiry, every probe)"""


def configure(parser) -> None:
    parser.add_argument("contexts", nargs="*", metavar="CONTEXT", help="contexts to check (default: the current one)")
    parser.add_argument("--all", action="store_true", help="every Rancher cluster in the kubeconfig")
    parser.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table")


def run(args) -> int:
    from kubectl_ace import readiness

    store = Store(getattr(args, "store", None))
    config = kubeconfig_files.require_contexts(kubeconfig_view.load(getattr(args, "kubeconfig", None)))
    if args.all:  # every cluster in one pass over the kubeconfig (per context would be quadratic in a fleet)
        clusters = endpoints.all_rancher_endpoints(config)
        contexts: list[str] = []
    else:
        contexts = args.contexts or [getattr(args, "context", None) or config.current_context]
        clusters = []
    if not (clusters if args.all else contexts and contexts[0]):
        raise UsageError("no current context; name one or pass --all")  # as before for --all without Rancher
    for context in contexts:
        config.context(context)
        found = endpoints.rancher_endpoints(config, context)
        if found is None:
            raise UsageError(
                f"context {context!r} is not a Rancher cluster (no /k8s/clusters/<id> server, "
                "no kubectl-ace extension, no Rancher-named sibling)"
            )
        clusters.append(found)
    reports = survey.survey_many(clusters, store)
    data = [as_data(report, config.current_context) for report in reports]
    outcomes = [r.readiness for r in reports if r.endpoints.ace]
    if args.output == "table":
        print_table(data)
        print(f"\n{readiness.summary(outcomes) if outcomes else 'no cluster here has an ACE endpoint'}")
    else:
        output.emit(data, args.output, lambda: None)
    return 0


def as_data(report: survey.Report, current: str) -> dict:
    rows = []
    for endpoint in report.endpoints.all():
        result = report.results[endpoint.url]
        rows.append(
            {
                "context": endpoint.context,
                "kind": endpoint.kind,
                "url": endpoint.url,
                "reachable": result.reachable,
                "healthy": result.healthy,
                "latencyMs": result.latency_ms,
                "result": result.describe(),
                "current": endpoint.context == current,
                "chosen": report.chosen is not None and endpoint.context == report.chosen.context,
            }
        )
    return {
        "server": report.endpoints.server,
        "cluster": report.endpoints.cluster_id,
        "rancher": {
            "reachable": report.rancher.reachable,
            "latencyMs": report.rancher.latency_ms,
            "result": report.rancher.describe(),
        },
        "token": {
            "expires": output.utc_stamp(report.token_expires),
            "error": report.token_error or None,
            "refusedAt": output.utc_stamp(report.token_refused),
        },
        "readiness": report.readiness.as_data(),
        "chosen": report.chosen.context if report.chosen else None,
        "endpoints": rows,
    }


def print_table(data: list[dict]) -> None:
    header = ("CLUSTER", "CONTEXT", "KIND", "REACHABLE", "LATENCY", "RESULT", "MARKS")
    lines = [header]
    for cluster in data:
        for row in cluster["endpoints"]:
            marks = ", ".join(m for m, on in (("current", row["current"]), ("chosen", row["chosen"])) if on)
            latency = f"{row['latencyMs']:.0f}ms" if row["latencyMs"] is not None else "-"
            lines.append(
                (
                    cluster["cluster"],
                    row["context"],
                    row["kind"],
                    "yes" if row["reachable"] else "no",
                    latency,
                    "OK" if row["healthy"] else row["result"],
                    marks or "-",
                )
            )
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    for line in lines:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths)).rstrip())
    for cluster in data:
        rancher = cluster["rancher"]
        state = f"reachable ({rancher['latencyMs']:.0f} ms)" if rancher["reachable"] else f"DOWN ({rancher['result']})"
        token = f"expires {_local(cluster['token']['expires'])}" if cluster["token"]["expires"] else "none held"
        if cluster["token"]["refusedAt"]:
            token += f", last refused {_local(cluster['token']['refusedAt'])}"
        chosen = cluster["chosen"] or "nothing healthy"
        ready = cluster["readiness"]
        outage = (
            "ready for a Rancher outage" if ready["ready"] else f"NOT ready for a Rancher outage: {ready['reason']}"
        )
        print(
            f"\ncluster {cluster['cluster']}: Rancher {cluster['server']} {state}; would use {chosen}; "
            f"token {token}; {outage}"
        )


def _local(stamp: str) -> str:
    """An RFC 3339 stamp from as_data, in the local time format used everywhere else."""
    import calendar
    import time

    return output.local_time(calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")))
