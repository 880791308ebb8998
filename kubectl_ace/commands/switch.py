"""`kubectl ace switch`: set the current context, by name or to the best endpoint of the current cluster."""

from __future__ import annotations

import sys

from kubectl_ace import endpoints, kubeconfig_files, kubeconfig_view, survey
from kubectl_ace.errors import AceError, UsageError
from kubectl_ace.store import Store

EXAMPLES = """\
  kubectl ace switch --auto          the best healthy endpoint of the current cluster
  kubectl ace switch --ace           its ACE endpoint (e.g. while Rancher is down for maintenance)
  kubectl ace switch --proxy         back to the Rancher proxy
  kubectl ace switch prod-fqdn       a context by name (as kubectl config use-context, and the tool remembers it)"""


def configure(parser) -> None:
    parser.add_argument("target", nargs="?", metavar="CONTEXT", help="context to make current")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--auto", action="store_true", help="the best healthy endpoint of the current cluster")
    which.add_argument("--proxy", action="store_true", help="the Rancher proxy context of the current cluster")
    which.add_argument("--ace", action="store_true", help="the best healthy ACE context of the current cluster")


def run(args) -> int:
    store = Store(getattr(args, "store", None))
    config = kubeconfig_files.require_contexts(kubeconfig_view.load(getattr(args, "kubeconfig", None)))
    modes = [args.auto, args.proxy, args.ace, bool(args.target)]
    if sum(modes) != 1:
        raise UsageError("say what to switch to: a CONTEXT, or one of --auto, --proxy, --ace")
    if args.target:
        target = args.target
    else:
        current = getattr(args, "context", None) or config.current_context
        if not current:
            raise UsageError("no current context to start from; name a CONTEXT")
        target = pick(config, current, store, args)
    survey.choose_by_user(config, target, store)
    print(f"Switched to context {target}.", file=sys.stderr)
    return 0


def pick(config, current: str, store: Store, args) -> str:
    found = endpoints.rancher_endpoints(config, current)
    if found is None:
        raise UsageError(f"context {current!r} is not a Rancher cluster; name a CONTEXT")
    if args.proxy:
        if found.proxy is None:
            raise UsageError(f"cluster {found.cluster_id} has no proxy context in the kubeconfig")
        return found.proxy.context
    if args.ace and not found.ace:
        raise UsageError(f"cluster {found.cluster_id} has no ACE context in the kubeconfig")
    report = survey.survey(config, current, store)
    assert report is not None
    if args.ace:
        chosen = endpoints.choose(found.ace, report.results)
    else:
        chosen = report.chosen
    if chosen is None:
        tried = "; ".join(
            f"{e.context} {report.results[e.url].describe()}" for e in (found.ace if args.ace else found.all())
        )
        raise AceError(f"no healthy endpoint for cluster {found.cluster_id} ({tried})")
    return chosen.context
