"""doctor's checks of this machine: the plugin on PATH, kubectl, kuberc, the kubeconfig's exec users, the store."""

from __future__ import annotations

import os
import shutil
import sys

from kubectl_ace import endpoints, kuberc
from kubectl_ace.credential import V1, V1BETA1
from kubectl_ace.diagnosis.findings import FAIL, OK, WARN, Check
from kubectl_ace.errors import AceError

MIN_KUBECTL = (1, 22)  # client.authentication.k8s.io/v1, which kubectl-ace writes


# --- the plugin and kubectl ---


def check_plugin(environ) -> Check:
    """kubectl finds plugins on PATH by name; the one it finds is what every exec user runs."""
    found = shutil.which("kubectl-ace", path=environ.get("PATH"))
    if not found:
        return Check(
            "kubectl-ace on PATH",
            FAIL,
            "kubectl cannot run kubectl-ace: it is not on PATH",
            'put the folder holding kubectl-ace on PATH (with krew: export PATH="${KREW_ROOT:-$HOME/.krew}/bin:$PATH")',
        )
    running = _running_program()
    if running and os.path.realpath(running) != os.path.realpath(found):
        return Check(
            "kubectl-ace on PATH",
            WARN,
            f"kubectl runs {found}, but this is {running}",
            "remove the other copy or put the one you want first on PATH",
        )
    return Check("kubectl-ace on PATH", OK, found)


def _running_program() -> str:
    if getattr(sys, "frozen", False):
        return sys.executable
    name = os.path.basename(sys.argv[0] or "")
    return sys.argv[0] if name.startswith("kubectl-ace") else ""


def check_kubectl(environ) -> Check:
    found, version = kuberc.kubectl_client(environ)
    if not found:
        return Check(
            "kubectl", FAIL, "kubectl is not on PATH", "install kubectl: https://kubernetes.io/docs/tasks/tools/"
        )
    if not version:
        return Check(
            "kubectl", WARN, f"{found} did not say its version", "check that kubectl runs: kubectl version --client"
        )
    minor = kuberc.minor_version(version)
    if minor is None:
        return Check("kubectl", WARN, f"{found} reports an unknown version {version!r}", "")
    if minor < MIN_KUBECTL:
        return Check(
            "kubectl",
            FAIL,
            f"{found} is {version}; the kubectl-ace exec users need kubectl 1.22 or newer",
            "upgrade kubectl",
        )
    return Check("kubectl", OK, f"{found} {version}")


def check_kuberc(environ) -> Check:
    """kubectl 1.35+ runs a credential plugin only if the kuberc in force allows it; kubectl_ace.kuberc decides."""
    verdict = kuberc.check(environ)
    if not verdict.allowed:
        return Check("kuberc", FAIL, verdict.detail, verdict.fix)
    return Check("kuberc", OK if verdict.certain else WARN, verdict.detail, "" if verdict.certain else verdict.fix)


# --- the kubeconfig's exec users ---


def rancher_contexts(config) -> dict[str, tuple[str, str, str]]:
    """Every context of a Rancher cluster → (server, cluster id, endpoint kind)."""
    found = {}
    for name in config.contexts:
        try:
            cluster = endpoints.rancher_endpoints(config, name)
        except AceError:
            continue
        if cluster is None:
            continue
        endpoint = cluster.by_context(name)
        found[name] = (cluster.server, cluster.cluster_id, endpoint.kind if endpoint else "proxy")
    return found


def check_stanzas(config, contexts: dict) -> list[Check]:
    """Each user of a Rancher context must run kubectl-ace the way it needs to be run."""
    if not contexts:
        return [
            Check(
                "exec users",
                WARN,
                f"no Rancher contexts in {', '.join(config.paths)}",
                "fetch them: kubectl ace kubeconfig --all --merge (or convert a downloaded file: "
                "kubectl ace convert -f FILE)",
            )
        ]
    by_user: dict[str, list[str]] = {}
    for name in sorted(contexts):
        by_user.setdefault(config.user_of(name), []).append(name)
    checks = []
    for user, names in sorted(by_user.items()):
        where = f"user {user!r} (context{'s' if len(names) > 1 else ''} {', '.join(names[:3])}" + (
            f", … {len(names)} in all)" if len(names) > 3 else ")"
        )
        problems = stanza_problems(config.users.get(user).body if user in config.users else None)
        for status, detail, fix in problems:
            checks.append(Check("exec user", status, f"{where}: {detail}", fix.replace("FILE", _file_of(config, user))))
    if not checks:
        checks.append(
            Check(
                "exec users",
                OK,
                f"{len(by_user)} user(s) of {len(contexts)} Rancher context(s) run kubectl-ace as they should",
            )
        )
    return checks


def _file_of(config, user: str) -> str:
    return config.users[user].path if user in config.users else config.paths[0]


def stanza_problems(body) -> list[tuple[str, str, str]]:
    """(status, what is wrong, the fix) for one user body."""
    convert = "run: kubectl ace convert -f FILE"
    fetch = "fetch the cluster again: kubectl ace kubeconfig CLUSTER --merge"
    if body is None:
        return [(FAIL, "the user is not in the kubeconfig", fetch)]
    if "token" in body and "exec" not in body:
        return [(FAIL, "holds a Rancher token in the file (it expires and nothing renews it)", convert)]
    exec_ = body.get("exec")
    if not isinstance(exec_, dict):
        return [(FAIL, "has no exec section that runs kubectl-ace", convert)]
    command = str(exec_.get("command") or "")
    base = os.path.basename(command).removesuffix(".exe")
    if base == "rancher":
        return [(FAIL, "runs `rancher token` (prompts per cluster, no failover)", convert)]
    if base != "kubectl-ace":
        return [(FAIL, f"runs {command!r}, not kubectl-ace", fetch)]
    problems = []
    if os.path.isabs(command) and not os.access(command, os.X_OK):
        problems.append(
            (
                FAIL,
                f"runs {command}, which does not exist or is not executable",
                "set `command: kubectl-ace` in its exec section in FILE",
            )
        )
    api = exec_.get("apiVersion")
    if api not in (V1, V1BETA1):
        problems.append((FAIL, f"has exec apiVersion {api!r}", f"set `apiVersion: {V1}` in its exec section in FILE"))
    mode = exec_.get("interactiveMode")
    if not mode and api == V1:
        problems.append(
            (
                FAIL,
                "has no interactiveMode (kubectl rejects a v1 exec section without one)",
                "set `interactiveMode: IfAvailable` in its exec section in FILE",
            )
        )
    elif mode == "Never":
        problems.append(
            (
                WARN,
                "has interactiveMode Never: kubectl-ace cannot ask for a password when the login expires",
                "set `interactiveMode: IfAvailable` in FILE, or log in first: kubectl ace login",
            )
        )
    elif mode == "Always":
        problems.append(
            (
                WARN,
                "has interactiveMode Always: kubectl fails where there is no terminal (IDEs, CI)",
                "set `interactiveMode: IfAvailable` in its exec section in FILE",
            )
        )
    elif mode not in (None, "IfAvailable"):
        problems.append((FAIL, f"has interactiveMode {mode!r}", "set `interactiveMode: IfAvailable` in FILE"))
    if exec_.get("provideClusterInfo") is not True:
        problems.append(
            (
                WARN,
                "lacks provideClusterInfo: true (failover must then guess the endpoint from kubectl's command line)",
                "set `provideClusterInfo: true` in its exec section in FILE",
            )
        )
    return problems


# --- the token store, logins and Rancher ---


def check_store(directory: str) -> Check:
    """0700 folder, 0600 files, owned by the user: the store holds every token."""
    from kubectl_ace.store import blocking_file

    blocker = blocking_file(directory)
    if blocker:
        where = "" if blocker == os.path.abspath(directory) else f" ({blocker} is a file)"
        return Check(
            "token store",
            FAIL,
            f"{directory} is a file, not the token store's directory{where}",
            f"move {blocker} away, or pass --store DIR (or set KUBECTL_ACE_STORE)",
        )
    if not os.path.isdir(directory):
        return Check(
            "token store", WARN, f"no token store yet at {directory}", "log in: kubectl ace login --server URL"
        )
    if os.name != "posix":
        return Check("token store", OK, directory)
    bad = []  # folders and token files others can read
    for root, folders, files in os.walk(directory):
        bad += [os.path.join(root, n) for n in folders if _open_to_others(os.path.join(root, n))]
        if root == os.path.join(directory, "servers"):
            bad += [os.path.join(root, n) for n in files if _open_to_others(os.path.join(root, n))]
    info = os.stat(directory)
    if info.st_uid != os.getuid():
        return Check(
            "token store",
            FAIL,
            f"{directory} belongs to another user (uid {info.st_uid})",
            f"sudo chown -R $(id -u) {directory}",
        )
    if info.st_mode & 0o077:
        bad.insert(0, directory)
    if bad:
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        mode = os.stat(bad[0]).st_mode & 0o777
        return Check(
            "token store",
            FAIL,
            f"{bad[0]} is mode {mode:04o}, readable by others{more}",
            f"chmod -R go-rwx {directory}",
        )
    return Check("token store", OK, f"{directory} (0700, token files 0600)")


def _open_to_others(path: str) -> bool:
    try:
        return bool(os.stat(path).st_mode & 0o077)
    except OSError:
        return False  # gone meanwhile (a temporary file)
