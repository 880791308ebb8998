"""Benchmark the frozen exec hot path against a bare PyInstaller onedir program and against the source install.

The hot path is `kubectl-ace token` with a valid cached token (the store is seeded as bench/hot_path.py
does). The baseline is a print('{}') program frozen by packaging/build.py --bare with exactly the same
options, so the ratio shows what kubectl-ace adds on top of PyInstaller's own start-up. Paired rounds:
each round runs the three programs back to back, in a rotating order, so drift in machine load hits
all alike. Reports medians and the median of the per-round ratios.
Usage: python bench/frozen.py [--rounds N] [--dist DIR] [--rebuild] [--source PATH]   (target: frozen/bare <= 1.25)
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

TARGET = 1.25


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


def main() -> int:
    """Build what is missing, time the three programs, print the medians as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--dist", type=Path, default=ROOT / "build" / "bench",
                        help="where the two frozen builds are (built there when missing)")
    parser.add_argument("--rebuild", action="store_true", help="build both again first")
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
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
