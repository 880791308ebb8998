"""`kubectl ace convert`: rewrite Rancher kubeconfigs in place so that their users run kubectl-ace."""

from __future__ import annotations

import os
import sys

from kubectl_ace.errors import AceError, InputError

EXAMPLES = """\
  kubectl ace convert                        the kubeconfig kubectl uses (a backup is kept beside each file)
  kubectl ace convert -f ~/Downloads/prod.yaml   a kubeconfig downloaded from the Rancher UI"""


def configure(parser) -> None:
    parser.add_argument(
        "-f", "--filename", metavar="FILE", help="the kubeconfig to convert (default: the files kubectl uses)"
    )
    parser.add_argument(
        "--no-prepare",
        action="store_true",
        help="do not get and check a token for each ACE cluster afterwards (see `kubectl ace prepare`)",
    )


def run(args) -> int:
    from kubectl_ace import kubeconfig_files, kuberc
    from kubectl_ace.onboarding.in_place import convert_file
    from kubectl_ace.store import Store

    store = Store(getattr(args, "store", None))
    if args.filename:
        paths = [args.filename]
    else:
        listed, explicit = kubeconfig_files.file_list(getattr(args, "kubeconfig", None))
        paths = listed if explicit else [p for p in listed if os.path.exists(p)]
        if not paths:
            raise InputError(f"no kubeconfig to convert ({', '.join(listed)} does not exist); pass -f FILE")
    results, failed = [], 0
    for path in paths:
        if len(paths) == 1:
            results.append(convert_file(path, store))  # its error is the command's error
            continue
        try:
            results.append(convert_file(path, store))
        except AceError as err:  # one bad file of several: say so, convert the others
            print(f"kubectl-ace: error: {err.message}", file=sys.stderr)
            failed += 1
            continue
        report(results[-1])
    if len(paths) == 1:
        if not results[0].conversion.rancher_users:
            raise InputError(
                f"no Rancher users in {paths[0]}: nothing to convert (a Rancher user has a token or "
                "runs `rancher token`, and its context's server is https://<rancher>/k8s/clusters/<id>)"
            )
        report(results[0])
    elif not failed and not any(r.conversion.rancher_users for r in results):
        raise InputError(f"no Rancher users in {', '.join(paths)}: nothing to convert")
    blocked = kuberc.warning(os.environ)  # the converted users would not run
    if blocked:
        print(blocked, file=sys.stderr)
    if results and not args.no_prepare:  # ready for a Rancher outage
        from kubectl_ace import readiness

        readiness.prepare_after(store, None, paths=[r.path for r in results])
    return 2 if failed else 0


def report(result) -> None:
    """What convert did to one file, on stderr."""
    conversion = result.conversion
    if not conversion.rancher_users:
        return
    if not conversion.changed:
        print(f"{result.path}: already converted; nothing changed.", file=sys.stderr)
        return
    parts = [
        f"{len(conversion.users)} user(s) now run kubectl-ace" if conversion.users else "",
        f"{len(conversion.clusters)} cluster entr{'y' if len(conversion.clusters) == 1 else 'ies'} marked"
        if conversion.clusters
        else "",
        f"{result.adopted} token(s) moved into the token store" if conversion.found else "",
    ]
    print(f"{result.path}: converted; " + ", ".join(p for p in parts if p) + ".", file=sys.stderr)
    keep = " (its token secrets are replaced by a note: they live in the token store now)" if conversion.found else ""
    print(f"  backup: {result.backup}{keep}", file=sys.stderr)
    for note in result.notes:
        print(f"  note: {note}", file=sys.stderr)
