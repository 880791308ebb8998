"""`kubectl ace prepare`: make every ACE cluster ready for a Rancher outage (a token its ACE endpoints accept)."""

from __future__ import annotations

import sys

from kubectl_ace.errors import UsageError

EXAMPLES = """\
  kubectl ace prepare --all          every ACE cluster in the kubeconfig (login, kubeconfig and convert do this too)
  kubectl ace prepare prod-fqdn      one cluster
  kubectl ace prepare --all --wait 120   wait longer for Rancher to sync new tokens to the clusters"""


def configure(parser) -> None:
    import argparse

    parser.add_argument("contexts", nargs="*", metavar="CONTEXT", help="contexts to prepare (default: the current one)")
    parser.add_argument("--all", action="store_true", help="every ACE-enabled Rancher cluster in the kubeconfig")
    parser.add_argument(
        "--wait",
        metavar="SECONDS",
        type=float,
        default=None,
        help="how long to wait for Rancher to sync a new token to a cluster (default 30)",
    )
    # What a kubectl call starts detached (background.py): a refresh of due tokens, or a re-probe of its endpoint.
    parser.add_argument("--background", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--reprobe", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--server", help=argparse.SUPPRESS)
    parser.add_argument("--cluster", help=argparse.SUPPRESS)
    parser.add_argument("--no-failover", action="store_true", help=argparse.SUPPRESS)


def run(args) -> int:
    from kubectl_ace import kubeconfig_view, kubectl_process, readiness
    from kubectl_ace.store import Store

    store = Store(getattr(args, "store", None))
    if args.background:
        # Started by a kubectl call: its --kubeconfig and --context came as ours (this run's parent is not kubectl).
        kubectl_process.act_for(getattr(args, "kubeconfig", None), getattr(args, "context", None))
    if args.background and args.reprobe:
        from kubectl_ace import watcher

        return watcher.watch(store, args.server or "", args.cluster or "", fail_over=not args.no_failover)
    wait = readiness.WAIT if args.wait is None else args.wait
    if wait < 0:
        raise UsageError(f"--wait {args.wait:g} must not be negative")
    config = kubeconfig_view.load(getattr(args, "kubeconfig", None))
    if args.all:
        contexts = None
    else:
        contexts = args.contexts or [getattr(args, "context", None) or config.current_context]
        if not contexts[0]:
            raise UsageError("no current context; name one or pass --all")
        for name in contexts:
            config.context(name)  # an unknown context is the user's mistake: say so
    clusters = readiness.ace_clusters(config, contexts, server=args.server)
    if args.background:
        return readiness.refresh_due(store, clusters, args.server or "", wait)
    if not clusters:
        what = "the kubeconfig has no" if args.all else f"{', '.join(contexts or [])}: no"
        print(f"kubectl-ace: {what} ACE-enabled Rancher cluster; nothing to prepare", file=sys.stderr)
        return 0
    outcomes = readiness.run_and_report(store, clusters, wait)
    return readiness.exit_code(outcomes)
