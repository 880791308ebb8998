"""Benchmark the frozen exec hot path against a bare PyInstaller onedir program and against the source install.

The hot path is `kubectl-ace token` with a valid cached token (the store is seeded as bench/hot_path.py
does). The baseline is a print('{}') program frozen by packaging/build.py --bare with exactly the same
options, so the ratio shows what kubectl-ace adds on top of PyInstaller's own start-up. Paired rounds:
each round runs the three programs back to back, in a rotating order, so drift in machine load hits
all alike. Reports medians and the median of the per-round ratios.
With --kubectl, also `kubectl get --raw /version` against a simulated ACE endpoint with the frozen exec plugin,
paired against the same kubeconfig with the same token inline (and with the source install's plugin).
Usage: python bench/frozen.py [--rounds N] [--dist DIR] [--rebuild] [--source PATH] [--kubectl]
Targets (issue 14): frozen/bare <= 1.15; kubectl with the frozen plugin / with the inline token <= 1.15.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from hot_path import CLUSTER, SERVER, seed_store, timed  # noqa: E402  (the same store and timer)

TARGET = 1.15


def executable(path: Path) -> Path:
    """The path with .exe on Windows."""
    return path.with_suffix(".exe") if os.name == "nt" else path


def ensure_builds(dist: Path, rebuild: bool) -> tuple[Path, Path]:
    """The frozen kubectl-ace and the frozen hello world, built with packaging/build.py when missing."""
    frozen = executable(dist / "kubectl-ace" / "kubectl-ace")
    bare = executable(dist / "hello" / "hello")
    build = [sys.executable, str(ROOT / "packaging" / "build.py"), "--out", str(dist)]
    if rebuild or not frozen.is_file():
        subprocess.run(build, check=True)
    if rebuild or not bare.is_file():
        subprocess.run([*build, "--bare"], check=True)
    return frozen, bare


def kubectl_figures(frozen: Path, source: str, rounds: int) -> dict:
    """`kubectl get --raw /version` on an ACE context: the frozen plugin, the source one, and an inline token."""
    import yaml

    sys.path.insert(0, str(ROOT))
    from tests.conftest import KUBECTLS, NEWEST, PASSWORD, Sandbox
    from tests.sim import ClusterSpec, World

    kubectl = KUBECTLS[NEWEST]
    with World(clusters=[ClusterSpec(name="prod", id="c-m-prod0001", ace="fqdn")],
               users={"admin": PASSWORD}) as world, tempfile.TemporaryDirectory() as tmp:
        sandbox = Sandbox(Path(tmp), world)
        sandbox.login()
        config = sandbox.exec_kubeconfig("c-m-prod0001", current="prod-fqdn", extensions=True)
        files = {}
        for name, command in (("frozen", str(frozen)), ("source", source)):
            config["users"][0]["user"]["exec"]["command"] = command
            files[name] = Path(tmp) / f"{name}.yaml"
            files[name].write_text(yaml.safe_dump(config, sort_keys=False))
        env = dict(sandbox.env, KUBECTL_ACE_HEALTH_TTL="86400")  # the ACE probe of the first call stays fresh
        get = lambda name: [kubectl, "--kubeconfig", str(files[name]), "get", "--raw", "/version"]
        first = subprocess.run(get("frozen"), env=env, capture_output=True, text=True, timeout=120)
        assert first.returncode == 0, first.stderr  # mints the cluster token and probes the endpoint
        minted = subprocess.run([str(frozen), "token", f"--server={world.rancher_url}", "--cluster=c-m-prod0001"],
                                env=env, capture_output=True, text=True, timeout=60)
        token = json.loads(minted.stdout)["status"]["token"]
        config["users"][0]["user"] = {"token": token}
        files["inline"] = Path(tmp) / "inline.yaml"
        files["inline"].write_text(yaml.safe_dump(config, sort_keys=False))
        order = ["frozen", "inline", "source"]
        for name in order:
            done = subprocess.run(get(name), env=env, capture_output=True, text=True, timeout=120)
            assert done.returncode == 0 and "gitVersion" in done.stdout, (name, done.stderr)
        times: dict[str, list[float]] = {name: [] for name in order}
        for i in range(rounds):
            for name in order[i % 3:] + order[:i % 3]:
                times[name].append(timed(get(name), env))
    median = {name: statistics.median(values) for name, values in times.items()}
    return {"rounds": rounds, "kubectl": kubectl,
            "kubectl_frozen_plugin_ms": round(median["frozen"] * 1000, 2),
            "kubectl_inline_token_ms": round(median["inline"] * 1000, 2),
            "kubectl_source_plugin_ms": round(median["source"] * 1000, 2),
            "frozen_over_inline_median_of_ratios": round(
                statistics.median(f / b for f, b in zip(times["frozen"], times["inline"])), 3),
            "source_over_inline_median_of_ratios": round(
                statistics.median(f / b for f, b in zip(times["source"], times["inline"])), 3),
            "target_frozen_over_inline": 1.15}


def main() -> int:
    """Build what is missing, time the three programs, print the medians as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--dist", type=Path, default=ROOT / "build" / "bench",
                        help="where the two frozen builds are (built there when missing)")
    parser.add_argument("--rebuild", action="store_true", help="build both again first")
    parser.add_argument("--kubectl", action="store_true", help="also kubectl get --raw with the plugin vs inline")
    parser.add_argument("--source", default=str(Path(sys.executable).parent / "kubectl-ace"),
                        help="the source install's kubectl-ace (default: the one beside this Python)")
    args = parser.parse_args()
    if not Path(args.source).exists():
        args.source = shutil.which("kubectl-ace") or args.source
    try:
        frozen, bare = ensure_builds(args.dist.resolve(), args.rebuild)
    except subprocess.CalledProcessError:
        print("frozen.py: error: the build failed (see above)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as directory:
        seed_store(os.path.join(directory, "store"))
        info = json.dumps({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                           "spec": {"interactive": False}})
        # No kubeconfig of the user's: every program sees the same empty home.
        env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        env.update(HOME=directory, KUBECTL_ACE_STORE=os.path.join(directory, "store"), KUBERNETES_EXEC_INFO=info)
        token_args = ["token", f"--server={SERVER}", f"--cluster={CLUSTER}"]
        programs = {"frozen": [str(frozen), *token_args], "bare": [str(bare)],
                    "source": [args.source, *token_args]}
        for name in ("frozen", "source"):  # both must really take the hot path and print a credential
            # As from a new kubectl process each (a second call from this one would look like a retry after a 401).
            for marker in glob.glob(os.path.join(directory, "store", "state", "handed-*", "*")):
                os.unlink(marker)
            out = subprocess.run(programs[name], env=env, capture_output=True, text=True, timeout=60)
            if out.returncode != 0 or '"token"' not in out.stdout:
                print(f"frozen.py: error: {name} did not print a credential: {out.stderr.strip()}", file=sys.stderr)
                return 1
        order = list(programs)
        for _ in range(5):  # warm the page cache
            for name in order:
                timed(programs[name], env)
        times: dict[str, list[float]] = {name: [] for name in order}
        for i in range(args.rounds):
            for name in order[i % 3:] + order[:i % 3]:
                times[name].append(timed(programs[name], env))
    median = {name: statistics.median(values) for name, values in times.items()}
    paired = statistics.median(f / b for f, b in zip(times["frozen"], times["bare"]))
    result = {"rounds": args.rounds,
              "frozen_hot_path_ms": round(median["frozen"] * 1000, 2),
              "bare_onedir_ms": round(median["bare"] * 1000, 2),
              "source_hot_path_ms": round(median["source"] * 1000, 2),
              "frozen_over_bare": round(median["frozen"] / median["bare"], 3),
              "frozen_over_bare_median_of_ratios": round(paired, 3),
              "frozen_over_source": round(median["frozen"] / median["source"], 3),
              "target_frozen_over_bare": TARGET}
    if args.kubectl:
        result["kubectl_get_raw_version"] = kubectl_figures(frozen, args.source, max(10, args.rounds // 4))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
