"""`kubectl ace status`: probe Rancher, each cluster's proxy path and every ACE endpoint."""

from __future__ import annotations

from kubectl_ace import endpoints, kubeconfig_files, output, survey
from kubectl_ace.errors import UsageError
from kubectl_ace.store import Store

HELP = "Probe Rancher, each cluster's proxy and ACE endpoints; show what is healthy and what would be used"


def configure(parser) -> None:
    parser.add_argument("contexts", nargs="*", metavar="CONTEXT", help="contexts to check (default: the current one)")
    parser.add_argument("--all", action="store_true", help="every Rancher cluster in the kubeconfig")
    parser.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table")


def run(args) -> int:
    store = Store(getattr(args, "store", None))
    config = kubeconfig_files.require_contexts(kubeconfig_files.load(getattr(args, "kubeconfig", None)))
    if args.all:
        contexts = endpoints.rancher_contexts(config)
    else:
        contexts = args.contexts or [getattr(args, "context", None) or config.current_context]
    if not contexts or not contexts[0]:
        raise UsageError("no current context; name one or pass --all")
    reports = []
    for context in contexts:
        config.context(context)
        report = survey.survey(config, context, store)
        if report is None:
            raise UsageError(
                f"context {context!r} is not a Rancher cluster (no /k8s/clusters/<id> server, "
                "no kubectl-ace extension, no Rancher-named sibling)"
            )
        reports.append(report)
    data = [as_data(report, config.current_context) for report in reports]
    output.emit(data, args.output, lambda: print_table(data))
    return 0 if all(report.chosen for report in reports) else 1


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
        "chosen": report.chosen.context if report.chosen else None,
        "endpoints": rows,
    }


def print_table(data: list[dict]) -> None:
    header = ("CONTEXT", "KIND", "REACHABLE", "LATENCY", "RESULT", "")
    lines = [header]
    for cluster in data:
        for row in cluster["endpoints"]:
            marks = ", ".join(m for m, on in (("current", row["current"]), ("chosen", row["chosen"])) if on)
            latency = f"{row['latencyMs']:.0f}ms" if row["latencyMs"] is not None else "-"
            lines.append(
                (
                    row["context"],
                    row["kind"],
                    "yes" if row["reachable"] else "no",
                    latency,
                    "OK" if row["healthy"] else row["result"],
                    marks,
                )
            )
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    for line in lines:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths)).rstrip())
    for cluster in data:
        rancher = cluster["rancher"]
        state = f"reachable ({rancher['latencyMs']:.0f} ms)" if rancher["reachable"] else f"DOWN ({rancher['result']})"
        token = cluster["token"]["expires"] or f"none ({cluster['token']['error']})"
        if cluster["token"]["refusedAt"]:
            token += f", last refused {cluster['token']['refusedAt']}"
        chosen = cluster["chosen"] or "nothing healthy"
        print(
            f"\ncluster {cluster['cluster']}: Rancher {cluster['server']} {state}; would use {chosen}; "
            f"token expires {token}"
        )
