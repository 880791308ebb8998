"""`kubectl ace kubeconfig`: fetch kubeconfigs from Rancher, convert them, and merge, write or print them."""

from __future__ import annotations

import os
import sys

from kubectl_ace.errors import AceError, UsageError

EXAMPLES = """\
  kubectl ace kubeconfig --all --merge          every cluster, merged into the kubeconfig kubectl uses
  kubectl ace kubeconfig prod --merge           one cluster, by name or id
  kubectl ace kubeconfig --all -o ~/.kube/rancher.yaml   a file of its own (use it with KUBECONFIG)
  kubectl ace kubeconfig prod > prod.yaml       printed"""


def configure(parser) -> None:
    parser.add_argument("clusters", nargs="*", metavar="CLUSTER", help="cluster names or ids")
    parser.add_argument("--all", action="store_true", help="every cluster the login can see")
    parser.add_argument("--server", help="the Rancher server (needed when logged in to several)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--merge",
        action="store_true",
        help="merge into the kubeconfig kubectl uses (existing entries are updated where they are)",
    )
    where.add_argument("-o", "--output-file", metavar="FILE", help="write them to FILE (replacing it)")
    parser.add_argument(
        "--no-prepare",
        action="store_true",
        help="do not get and check a token for each ACE cluster afterwards (see `kubectl ace prepare`)",
    )


def run(args) -> int:
    from kubectl_ace import kubeconfig_files, kuberc
    from kubectl_ace.onboarding import fetch
    from kubectl_ace.store import Store
    from kubectl_ace.urls import checked_server

    store = Store(getattr(args, "store", None))
    server = fetch.pick_server(store, checked_server(args.server) if args.server is not None else None)
    progress = _progress if _is_tty(sys.stderr) else None
    result = fetch.fetch(server, store, args.clusters, args.all, progress=progress)
    if progress:
        sys.stderr.write("\n")
    good = [f for f in result.fetched if f.entries is not None]
    contexts = len(result.entries["contexts"])
    if good:
        if args.merge:
            config = kubeconfig_files.load(getattr(args, "kubeconfig", None))
            merged = kubeconfig_files.merge_entries(config, result.entries, store, result.current)
            files = merged.files or [kubeconfig_files.default_file(config)]
            added, updated = sum(merged.added.values()), sum(merged.updated.values())
            where = f"merged into {', '.join(files)} ({added} entries added, {updated} updated)"
            if merged.current_context:
                where += f"; current context {merged.current_context}"
        elif args.output_file:
            kubeconfig_files.write_new(args.output_file, fetch.as_kubeconfig(result), store)
            where = f"written to {args.output_file}"
        else:
            sys.stdout.write(kubeconfig_files.dump(fetch.as_kubeconfig(result)))
            where = "printed"
        print(
            f"kubectl-ace: {len(good)} cluster(s) from {result.server}, {contexts} context(s), {where}.",
            file=sys.stderr,
        )
    revoked = f"revoked the {result.revoked} token(s) Rancher put into the generated files" if result.revoked else ""
    if result.unrevoked:
        revoked += ("; " if revoked else "") + (
            f"Rancher did not revoke {len(result.unrevoked)} generated token(s) "
            f"({', '.join(result.unrevoked[:5])}); delete them in the Rancher UI "
            "or let them expire"
        )
    if revoked:
        print(f"kubectl-ace: {revoked}.", file=sys.stderr)
    blocked = kuberc.warning(os.environ) if good else ""  # the users just written would not run
    if blocked:
        print(blocked, file=sys.stderr)
    if good and not args.no_prepare and (args.merge or args.output_file):  # ready for a Rancher outage
        from kubectl_ace import readiness

        paths = [args.output_file] if args.output_file else None
        readiness.prepare_after(store, getattr(args, "kubeconfig", None), server=result.server, paths=paths)
    if result.failed:
        shown = "; ".join(f"{f.name} ({f.cluster_id}): {f.error}" for f in result.failed[:3])
        more = f"; and {len(result.failed) - 3} more" if len(result.failed) > 3 else ""
        raise AceError(f"{len(result.failed)} of {len(result.fetched)} cluster(s) failed: {shown}{more}")
    if not good:
        raise UsageError("no kubeconfig was fetched")
    return 0


def _progress(done: int, total: int) -> None:
    sys.stderr.write(f"\rkubectl-ace: fetching kubeconfigs {done}/{total}")
    sys.stderr.flush()


def _is_tty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
