"""Benchmark failover against the simulator: the hot path with fresh and stale health state, and how
long the first kubectl call takes to fail over when Rancher is stopped, stalled or its agent is gone.

Usage: python bench/failover.py [--rounds N] [--trials N]
Targets (issue 3): fresh state no slower than without failover; stale adds one probe round trip;
first call after an outage ends within 2 s (refused) or 4 s (stalled, agent disconnected).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import KUBECTLS, NEWEST, PASSWORD, Sandbox  # noqa: E402
from tests.sim import ClusterSpec, World  # noqa: E402


def timed(argv, env) -> float:
    # Each kubectl run is a new process: forget which process got the token last, as a new one would.
    import glob
    for marker in glob.glob(os.path.join(env["KUBECTL_ACE_STORE"], "state", "handed-*", "*")):
        os.unlink(marker)
    start = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def paired(first, second, env_first, env_second, rounds: int) -> tuple[float, float]:
    a, b = [], []
    for i in range(rounds):
        if i % 2:
            b.append(timed(second, env_second)); a.append(timed(first, env_first))
        else:
            a.append(timed(first, env_first)); b.append(timed(second, env_second))
    return statistics.median(a) * 1000, statistics.median(b) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--trials", type=int, default=5)
    args = parser.parse_args()
    import compileall
    compileall.compile_dir(str(ROOT / "kubectl_ace"), quiet=1)
    clusters = [ClusterSpec(name="prod", id="c-m-prod0001", ace="fqdn")]
    report = {}
    with World(clusters=clusters, users={"admin": PASSWORD}) as world, tempfile.TemporaryDirectory() as tmp:
        sandbox = Sandbox(Path(tmp), world)
        sandbox.login()
        sandbox.exec_kubeconfig("c-m-prod0001", current="prod")
        ace = [shutil.which("kubectl-ace", path=sandbox.env["PATH"]), "token", f"--server={world.rancher_url}", "--cluster=c-m-prod0001"]
        proxy_info = json.dumps({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                                 "spec": {"interactive": False, "cluster": {"server": world.cluster("c-m-prod0001").proxy_url}}})
        no_cluster = json.dumps({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                                 "spec": {"interactive": False}})
        env_proxy = dict(sandbox.env, KUBERNETES_EXEC_INFO=proxy_info)
        env_plain = dict(sandbox.env, KUBERNETES_EXEC_INFO=no_cluster)
        subprocess.run(ace, env=env_proxy, capture_output=True)  # mint and probe once
        env_fresh = dict(env_proxy, KUBECTL_ACE_HEALTH_TTL="86400")
        fresh, plain = paired(ace, ace, env_fresh, env_plain, args.rounds)
        env_stale = dict(env_proxy, KUBECTL_ACE_HEALTH_TTL="0")
        stale, plain2 = paired(ace, ace, env_stale, env_plain, args.rounds)
        report["hot_path"] = {"no_failover_check_ms": round(plain, 2), "fresh_health_state_ms": round(fresh, 2),
                              "fresh_ratio": round(fresh / plain, 3), "stale_health_state_ms": round(stale, 2),
                              "stale_extra_ms": round(stale - plain2, 2)}
        kubectl = KUBECTLS[NEWEST]  # the real binary (a version dispatcher would rerun the command)
        for fault in ("stopped", "stalled", "agent-disconnected"):
            times = []
            for trial in range(args.trials):
                sandbox.exec_kubeconfig("c-m-prod0001", current="prod")
                world.rancher.set_mode("up")
                world.cluster("c-m-prod0001").agent_connected = True
                sandbox.age_health()  # forget the last trial's outage
                warm = subprocess.run([kubectl, "get", "namespaces"], env=sandbox.env, capture_output=True, text=True)
                assert warm.returncode == 0, warm.stderr
                sandbox.age_health()
                if fault == "agent-disconnected":
                    world.cluster("c-m-prod0001").agent_connected = False
                else:
                    world.rancher.set_mode(fault)
                before = sandbox.current_context()
                start = time.perf_counter()
                done = subprocess.run([kubectl, "get", "namespaces"], env=sandbox.env, capture_output=True, text=True)
                times.append(time.perf_counter() - start)
                assert "switched the current context" in done.stderr, (fault, trial, before, done.returncode, done.stderr)
                assert sandbox.current_context() == "prod-fqdn"
            report[f"first_call_{fault}_s"] = round(statistics.median(times), 2)
            world.rancher.set_mode("up")
            world.cluster("c-m-prod0001").agent_connected = True
        # An expired token while Rancher is down (issue 7: a clear message within 2 s, no prompt, no hang).
        times = []
        for _ in range(args.trials):
            sandbox.exec_kubeconfig("c-m-prod0001", current="prod-fqdn")
            world.rancher.set_mode("up")
            sandbox.age_health()
            assert subprocess.run([kubectl, "get", "namespaces"], env=sandbox.env, capture_output=True).returncode == 0
            path = next((sandbox.store / "servers").glob("*.json"))
            data = json.loads(path.read_text())
            data["logins"]["admin"]["clusters"]["c-m-prod0001"]["expires"] = time.time() - 60
            path.write_text(json.dumps(data))
            world.rancher.set_mode("stopped")
            start = time.perf_counter()
            done = subprocess.run([kubectl, "get", "namespaces"], env=sandbox.env, capture_output=True, text=True)
            times.append(time.perf_counter() - start)
            assert "expired at" in done.stderr, done.stderr
        report["expired_token_rancher_down_s"] = round(statistics.median(times), 2)
        world.rancher.set_mode("up")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
