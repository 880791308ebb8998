"""`kubectl ace kubectl ARGS…`: run kubectl once against the best endpoint, changing no file."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from kubectl_ace import kubeconfig_files, kubeconfig_view, survey
from kubectl_ace.argv import flag_value, without_flag
from kubectl_ace.errors import AceError, UsageError
from kubectl_ace.store import Store

EXAMPLES = """\
  kubectl ace kubectl get nodes                   the current context's cluster, through its best endpoint
  kubectl ace kubectl --context prod get pods -A  another cluster; no file is changed either way
ARGS go to kubectl as they are, except --context, which becomes the endpoint chosen (kubectl's own --help:
kubectl ace kubectl get --help)."""


def configure(parser) -> None:
    parser.add_argument("kubectl_args", nargs="*", metavar="ARGS", help="arguments for kubectl")


def run_raw(argv: list[str], global_args: dict) -> int:
    """ARGS go to kubectl untouched, except --context, which this command chooses."""
    store = Store(global_args.get("store"))
    kube_file = global_args.get("kubeconfig") or flag_value(argv, "--kubeconfig")
    if not argv:
        raise UsageError(
            "kubectl: give kubectl's arguments, e.g. kubectl ace kubectl get pods (see `kubectl ace kubectl --help`)"
        )
    config = kubeconfig_files.require_contexts(kubeconfig_view.load(kube_file))
    wanted = flag_value(argv, "--context") or global_args.get("context") or config.current_context
    if not wanted:
        raise UsageError("no current context; pass --context")
    config.context(wanted)
    report = survey.survey(config, wanted, store)
    if report is None:
        target = wanted  # not a Rancher cluster: plain kubectl
    elif report.chosen is None:
        tried = "; ".join(f"{e.context} {report.results[e.url].describe()}" for e in report.endpoints.all())
        raise AceError(f"no endpoint of cluster {report.endpoints.cluster_id} is healthy ({tried})")
    else:
        target = report.chosen.context
        if target != wanted:
            print(f"kubectl-ace: {wanted} is unhealthy; using {target} for this command", file=sys.stderr)
    binary = os.environ.get("KUBECTL") or shutil.which("kubectl")
    if not binary:
        raise UsageError("kubectl is not on PATH (or set KUBECTL)")
    command = [binary, *without_flag(argv, "--context"), f"--context={target}"]
    if kube_file and flag_value(argv, "--kubeconfig") is None:
        command.append(f"--kubeconfig={kube_file}")
    from kubectl_ace.procenv import child_env

    return subprocess.run(command, env=child_env()).returncode


def run(args) -> int:
    return run_raw(args.kubectl_args, vars(args))
