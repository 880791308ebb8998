"""`kubectl ace switch`: set the current context, by name or to the best endpoint of the current cluster."""

from __future__ import annotations

import sys

from kubectl_ace import failover, kubeconfig, store
from kubectl_ace.errors import AceError, UsageError

HELP = "Set the current context: by name, or to the best (--auto), proxy (--proxy) or ACE (--ace) endpoint"


def configure(parser) -> None:
    parser.add_argument("target", nargs="?", metavar="CONTEXT", help="context to make current")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--auto", action="store_true", help="the best healthy endpoint of the current cluster")
    which.add_argument("--proxy", action="store_true", help="the Rancher proxy context of the current cluster")
    which.add_argument("--ace", action="store_true", help="the best healthy ACE context of the current cluster")


def run(args) -> int:
    directory = store.store_dir(getattr(args, "store", None))
    config = kubeconfig.load(getattr(args, "kubeconfig", None))
    modes = [args.auto, args.proxy, args.ace, bool(args.target)]
    if sum(modes) != 1:
        raise UsageError("say what to switch to: a CONTEXT, or one of --auto, --proxy, --ace")
    if args.target:
        target = args.target
    else:
        current = getattr(args, "context", None) or config.current_context
        if not current:
            raise UsageError("no current context to start from; name a CONTEXT")
        target = pick(config, current, directory, args)
    failover.choose_by_user(config, target, directory)
    print(f"Switched to context {target}.", file=sys.stderr)
    return 0


def pick(config, current: str, directory: str, args) -> str:
    endpoints = kubeconfig.rancher_endpoints(config, current)
    if endpoints is None:
        raise UsageError(f"context {current!r} is not a Rancher cluster; name a CONTEXT")
    if args.proxy:
        if endpoints.proxy is None:
            raise UsageError(f"cluster {endpoints.cluster_id} has no proxy context in the kubeconfig")
        return endpoints.proxy.context
    if args.ace and not endpoints.ace:
        raise UsageError(f"cluster {endpoints.cluster_id} has no ACE context in the kubeconfig")
    report = failover.survey(config, current, directory)
    if args.ace:
        chosen = failover.choose(endpoints.ace, report.results)
    else:
        chosen = report.chosen
    if chosen is None:
        tried = "; ".join(f"{e.context} {report.results[e.url].describe()}"
                          for e in (endpoints.ace if args.ace else endpoints.all()))
        raise AceError(f"no healthy endpoint for cluster {endpoints.cluster_id} ({tried})")
    return chosen.context
