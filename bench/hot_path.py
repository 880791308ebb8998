"""Benchmark the exec hot path (`kubectl-ace token` with a valid cached token) against `python -c pass`.

Paired runs: each round runs the baseline and the hot path back to back, in alternating order, so
drift in machine load hits both alike. Reports medians and the median of the per-round ratios.
Usage: python bench/hot_path.py [--rounds N] [--command PATH]   (target, issue 14: ratio <= 1.4)
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
import time

SERVER = "https://rancher.bench.invalid"
CLUSTER = "c-m-bench001"


def seed_store(directory: str) -> None:
    """A store holding a valid login and cluster token, as after `kubectl ace login` and one mint."""
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from kubectl_ace.records import ClusterToken, Login, ServerRecord
    from kubectl_ace.store import Store
    now = time.time()
    store = Store(directory)
    token = ClusterToken("kubeconfig-u-bench.c-m-bench001x:" + "b" * 54, expires=now + 30 * 86400, minted=now)
    login = Login("admin", "kubeconfig-u-benchy:" + "c" * 54, user_id="u-bench", provider="localProvider",
                  expires=now + 31 * 86400, clusters={CLUSTER: token})
    store.update(SERVER, lambda _: ServerRecord(SERVER, current_user="admin", logins={"admin": login}))
    # A fresh, healthy probe result for the cluster's proxy path, as after a call a moment ago.
    from kubectl_ace import health
    health.remember(store, SERVER, {f"proxy:{CLUSTER}": health.Result(f"proxy:{CLUSTER}", True, 200, 40.0)})


def timed(argv: list[str], env: dict) -> float:
    # Each kubectl run is a new process: forget which process got the token last, as a new one would.
    for marker in glob.glob(os.path.join(env.get("KUBECTL_ACE_STORE", "/nonexistent"), "state", "handed-*", "*")):
        os.unlink(marker)
    start = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--command", default=shutil.which("kubectl-ace"), help="the kubectl-ace to measure")
    parser.add_argument("--python", default=sys.executable, help="the interpreter for the baseline")
    args = parser.parse_args()
    # Installed packages carry compiled bytecode; a source tree may not (PYTHONDONTWRITEBYTECODE).
    import compileall
    compileall.compile_dir(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "kubectl_ace"),
                           quiet=1)
    with tempfile.TemporaryDirectory() as directory:
        seed_store(directory)
        # As kubectl sends it for kubectl-ace's exec user (provideClusterInfo): about to call the proxy.
        info = json.dumps({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                           "spec": {"interactive": False,
                                    "cluster": {"server": f"{SERVER}/k8s/clusters/{CLUSTER}",
                                                "config": {"kubectl-ace": {"server": SERVER, "clusterId": CLUSTER,
                                                                           "endpoint": "proxy"}}}}})
        # The health state must stay fresh for the whole run (it is 10 s by default).
        env = dict(os.environ, KUBECTL_ACE_STORE=directory, KUBERNETES_EXEC_INFO=info,
                   KUBECTL_ACE_HEALTH_TTL="86400")
        hot = [args.command, "token", f"--server={SERVER}", f"--cluster={CLUSTER}"]
        base = [args.python, "-c", "pass"]
        # What pip's console-script wrapper alone would cost (it imports re and sys), for comparison.
        floor = [args.python, "-c", "import re, sys"]
        for _ in range(5):  # warm the page cache
            timed(hot, env), timed(base, env), timed(floor, env)
        hots, bases, floors = [], [], []
        for i in range(args.rounds):
            order = [(hot, hots), (base, bases), (floor, floors)]
            if i % 2:
                order.reverse()
            for argv, into in order:
                into.append(timed(argv, env))
    ratios = [h / b for h, b in zip(hots, bases)]
    result = {"rounds": args.rounds, "hot_path_ms": round(statistics.median(hots) * 1000, 2),
              "python_pass_ms": round(statistics.median(bases) * 1000, 2),
              "ratio_of_medians": round(statistics.median(hots) / statistics.median(bases), 3),
              "median_of_ratios": round(statistics.median(ratios), 3), "target": 1.4,
              "console_script_wrapper_alone_ms": round(statistics.median(floors) * 1000, 2)}
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
