"""Benchmark fleet-sized kubeconfigs (issue 14): a generated 200-cluster file (600 contexts, ~1.1 MB) and 1,000,
and a simulator world with as many clusters as it can start.

Every figure is a median of paired runs (the two sides back to back, in alternating order, so machine load hits
both alike) or a median of trials; with valgrind on PATH, hot-path figures also come as instruction counts
(callgrind: deterministic, unlike wall time on a shared machine).
Usage: python bench/fleet.py [--rounds N] [--trials N] [--merge-clusters N] [--skip-world]
Targets (issue 14, 200 clusters): switch <= 0.3 s; first call after Rancher stopped <= 1 s; status CONTEXT <= 1.2x
the small file; the exec call <= 1.1x the small file; after a kubeconfig edit (no provideClusterInfo) <= 1.2x the
cached call; 1,000 clusters `kubeconfig --all --merge` <= 15 s; cached call / `python -c pass` <= 1.4.
"""

from __future__ import annotations

import argparse
import glob
import itertools
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from fleetgen import fleet_kubeconfig  # noqa: E402
from hot_path import CLUSTER, SERVER, seed_store  # noqa: E402

from kubectl_ace import kubeconfig_text  # noqa: E402


def run_once(argv: list[str], env: dict, check: bool = False) -> float:
    """Wall time of one run, as a new kubectl process would make it (no handed-token marker)."""
    for marker in glob.glob(os.path.join(env.get("KUBECTL_ACE_STORE", "/nonexistent"), "state", "handed-*", "*")):
        os.unlink(marker)
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)
    took = time.perf_counter() - start
    assert done.returncode == 0 or not check, (argv, done.stderr)
    return took


def paired(first, second, rounds: int) -> dict:
    """Medians of two callables (each returns seconds) run back to back, and the median of the per-round ratios."""
    a, b = [], []
    for i in range(rounds):
        if i % 2:
            b.append(second())
            a.append(first())
        else:
            a.append(first())
            b.append(second())
    return {"a_ms": round(statistics.median(a) * 1000, 2), "b_ms": round(statistics.median(b) * 1000, 2),
            "median_ratio": round(statistics.median(x / y for x, y in zip(a, b)), 3)}


def instructions(argv: list[str], env: dict, before=None) -> float | None:
    """Millions of instructions one run executes (callgrind), or None without valgrind."""
    if not shutil.which("valgrind"):
        return None
    if before:
        before()
    for marker in glob.glob(os.path.join(env.get("KUBECTL_ACE_STORE", "/nonexistent"), "state", "handed-*", "*")):
        os.unlink(marker)
    with tempfile.TemporaryDirectory() as out:
        done = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}/cg", *argv], env=env,
                              capture_output=True, text=True, timeout=600)
    found = re.search(r"Collected : (\d+)", done.stderr)
    return round(int(found.group(1)) / 1e6, 2) if found else None


def peak_rss_mb(argv: list[str], env: dict) -> float:
    """Peak resident memory of one run (getrusage of the children of a fresh helper process)."""
    probe = ("import resource, subprocess, sys\n"
             "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
    done = subprocess.run([sys.executable, "-c", probe, *argv], env=env, capture_output=True, text=True, timeout=1800)
    return round(int(done.stdout.strip()) / 1024, 1)


def exec_info(cluster: dict | None) -> str:
    spec: dict = {"interactive": False}
    if cluster is not None:
        spec["cluster"] = cluster
    return json.dumps({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", "spec": spec})


def set_current(path: Path, name: str) -> None:
    """Change the current-context line the way kubectx or `kubectl config use-context` does."""
    text = path.read_text()
    span = kubeconfig_text.value_span(text)
    assert span is not None
    path.write_text(text[: span[0]] + name + text[span[1] :])


def offline(args, ace: str, report: dict) -> None:
    """What needs no simulator: switch, the exec hot path, the no-provideClusterInfo path, peak memory."""
    from kubectl_ace import health
    from kubectl_ace.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        store = root / "store"
        seed_store(str(store))
        # The fleet's proxy and FQDN health is fresh too, so the guard on a fleet context reads state and goes on.
        fresh = [health.proxy_key(f"c-m-{k:08x}") for k in range(3)]
        fresh += [health.ace_key(f"c-m-{k:08x}", f"https://fleet-{k:04d}.fleet.invalid") for k in range(3)]
        health.remember(Store(str(store)), SERVER, {key: health.Result(key, True, 200, 40.0) for key in fresh})
        big, small = root / "big.yaml", root / "small.yaml"
        for path, clusters in ((big, args.clusters), (small, 3)):
            path.write_text(fleet_kubeconfig(clusters, server=SERVER, provide_cluster_info=False))
        huge = root / "huge.yaml"
        huge.write_text(fleet_kubeconfig(1000, server=SERVER))
        report["kubeconfig_bytes"] = {"200_clusters": big.stat().st_size, "1000_clusters": huge.stat().st_size}
        base_env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBE", "KUBECTL_ACE"))}
        base_env.update(KUBECTL_ACE_STORE=str(store), KUBECTL_ACE_HEALTH_TTL="86400", HOME=str(root))
        env_big, env_small = dict(base_env, KUBECONFIG=str(big)), dict(base_env, KUBECONFIG=str(small))

        # switch by name on the big file, alternating targets so each run changes the file.
        names = itertools.cycle(["fleet-0002-fqdn", "fleet-0001-node0"])
        switch = lambda env: run_once([ace, "switch", next(names)], env, check=True)
        kubectl = shutil.which("kubectl", path=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
        figures = {"switch_200": paired(lambda: switch(env_big), lambda: switch(env_small), max(5, args.rounds // 4))}
        if kubectl:
            use = lambda: run_once([kubectl, "config", "use-context", next(names)], env_big)
            figures["switch_200_vs_kubectl_use_context"] = paired(lambda: switch(env_big), use,
                                                                 max(5, args.rounds // 4))
        env_huge = dict(base_env, KUBECONFIG=str(huge))
        figures["switch_1000_s"] = round(statistics.median(switch(env_huge) for _ in range(5)), 3)

        # The exec call as kubectl makes it (provideClusterInfo): the file is not ours to read.
        cluster = {"server": f"{SERVER}/k8s/clusters/{CLUSTER}",
                   "config": {"kubectl-ace": {"server": SERVER, "clusterId": CLUSTER, "endpoint": "proxy"}}}
        token = [ace, "token", f"--server={SERVER}", f"--cluster={CLUSTER}"]
        with_info = lambda env: dict(env, KUBERNETES_EXEC_INFO=exec_info(cluster))
        figures["exec_call_200_vs_small"] = paired(lambda: run_once(token, with_info(env_big)),
                                                   lambda: run_once(token, with_info(env_small)), args.rounds)
        # Without provideClusterInfo: the call right after a current-context edit vs the cached call.
        no_info_big = dict(env_big, KUBERNETES_EXEC_INFO=exec_info(None))
        fleet_token = token  # the guard reads the fleet context's cluster; the token is the seeded one
        contexts = itertools.cycle(["fleet-0000", "fleet-0000-fqdn"])
        run_once(fleet_token, no_info_big)  # builds the index once

        def after_edit() -> float:
            set_current(big, next(contexts))
            return run_once(fleet_token, no_info_big)

        figures["no_cluster_info_after_edit_vs_cached"] = paired(after_edit, lambda: run_once(fleet_token, no_info_big),
                                                                 args.rounds)
        scratch = root / "scratch.yaml"

        def cached_after_a_write() -> float:
            # The control: the same 1 MB write just before (its cost to the machine), to another file.
            scratch.write_text(big.read_text())
            return run_once(fleet_token, no_info_big)

        figures["no_cluster_info_after_edit_vs_cached_after_a_write"] = paired(after_edit, cached_after_a_write,
                                                                               args.rounds)
        python_pass = [sys.executable, "-c", "pass"]
        figures["exec_call_vs_python_pass"] = paired(lambda: run_once(token, with_info(env_small)),
                                                     lambda: run_once(python_pass, env_small), args.rounds)
        figures["instructions_M"] = {
            "python_pass": instructions(python_pass, env_small),
            "exec_call_small": instructions(token, with_info(env_small)),
            "exec_call_200": instructions(token, with_info(env_big)),
            "no_cluster_info_cached_200": instructions(fleet_token, no_info_big),
            "no_cluster_info_after_edit_200": instructions(fleet_token, no_info_big,
                                                           before=lambda: set_current(big, next(contexts))),
        }
        figures["peak_rss_mb"] = {"exec_call": peak_rss_mb(token, with_info(env_small)),
                                  "python_pass": peak_rss_mb(python_pass, env_small)}
        report.update(figures)


def with_fleet(sandbox, clusters: int) -> None:
    """The sandbox's kubeconfig (one real cluster) plus a generated fleet: ~1.1 MB for 200 clusters."""
    import yaml

    own = yaml.safe_load(sandbox.kubeconfig.read_text())
    fleet = yaml.load(fleet_kubeconfig(clusters), Loader=yaml.CSafeLoader)
    for key in ("clusters", "users", "contexts"):
        own[key] += fleet[key]
    sandbox.kubeconfig.write_text(yaml.dump(own, Dumper=yaml.CSafeDumper, sort_keys=False, width=1_000_000))


def world_figures(args, report: dict) -> None:
    """status CONTEXT and the first call after Rancher stopped, with a small and a 200-cluster kubeconfig."""
    from tests.conftest import KUBECTLS, NEWEST, PASSWORD, Sandbox
    from tests.sim import ClusterSpec, World

    kubectl = KUBECTLS[NEWEST]
    with World(clusters=[ClusterSpec(name="prod", id="c-m-prod0001", ace="fqdn")],
               users={"admin": PASSWORD}) as world, tempfile.TemporaryDirectory() as tmp:
        for name in ("s", "b"):
            (Path(tmp) / name).mkdir()
        small, big = Sandbox(Path(tmp) / "s", world), Sandbox(Path(tmp) / "b", world)
        for sandbox in (small, big):
            sandbox.login()
            sandbox.exec_kubeconfig("c-m-prod0001", current="prod")
        with_fleet(big, args.clusters)
        status = lambda sandbox: (sandbox.age_health(), run_once(["kubectl-ace", "status", "prod"], sandbox.env))[1]
        report["status_context_200_vs_small"] = paired(lambda: status(big), lambda: status(small),
                                                       max(5, args.rounds // 4))
        times = {"small": [], "200": []}
        for _ in range(args.trials):
            for label, sandbox in (("small", small), ("200", big)):
                sandbox.shell(f"{kubectl} config use-context prod >/dev/null")
                world.rancher.set_mode("up")
                sandbox.age_health()
                assert sandbox.kubectl("get", "namespaces").returncode == 0
                sandbox.age_health()
                world.rancher.set_mode("stopped")
                start = time.perf_counter()
                done = subprocess.run([kubectl, "get", "namespaces"], env=sandbox.env, capture_output=True, text=True,
                                      timeout=120)
                times[label].append(time.perf_counter() - start)
                assert "switched the current context" in done.stderr, done.stderr
                assert sandbox.current_context() == "prod-fqdn"
        world.rancher.set_mode("up")
        report["first_call_rancher_stopped_s"] = {k: round(statistics.median(v), 3) for k, v in times.items()}


class StalledListener:
    """A loopback port that completes TCP handshakes and then never says a byte (a hung API server or proxy)."""

    def __init__(self) -> None:
        import socket
        import threading

        self.sock = socket.create_server(("127.0.0.1", 0), backlog=4096)
        self.port = self.sock.getsockname()[1]
        self.held: list = []
        self.thread = threading.Thread(target=self._hold, daemon=True)
        self.thread.start()

    def _hold(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


def status_all_figures(args, report: dict) -> None:
    """`status --all` with 200 clusters x 3 endpoints: proxies through the simulated Rancher, FQDN endpoints stalled
    (a third of all), node endpoints a live simulated ACE server: about one probe timeout, not one per endpoint."""
    import base64

    from fleetgen import fake_ca
    from tests.conftest import PASSWORD, Sandbox
    from tests.sim import ClusterSpec, World

    with World(clusters=[ClusterSpec(name="prod", id="c-m-prod0001", ace="fqdn")],
               users={"admin": PASSWORD}) as world, tempfile.TemporaryDirectory() as tmp:
        stalled = StalledListener()
        try:
            sandbox = Sandbox(Path(tmp), world)
            sandbox.login()
            live = world.cluster("c-m-prod0001").endpoint("fqdn")
            live_ca = base64.b64encode(world.cluster("c-m-prod0001").ca_pem.encode()).decode()
            text = fleet_kubeconfig(args.clusters, server=world.rancher_url)
            rancher_ca = base64.b64encode(Path(world.rancher_ca_file).read_bytes()).decode()
            for k in range(args.clusters):
                name, cid = f"fleet-{k:04d}", f"c-m-{k:08x}"
                proxy = f'/k8s/clusters/{cid}"\n'
                text = text.replace(proxy, f'{proxy}    certificate-authority-data: "{rancher_ca}"\n')
                text = text.replace(f"https://{name}.fleet.invalid", f"https://127.0.0.1:{stalled.port}")
                text = text.replace(fake_ca(name + "fqdn"), live_ca)  # the handshake must get as far as the stall
                text = text.replace(f"https://10.{k // 250}.{k % 250}.10:6443", live.url)
                text = text.replace(fake_ca(name + "node0"), live_ca)
            sandbox.kubeconfig.write_text(text)
            runs, codes, printed = [], [], ""
            for _ in range(args.trials):
                began = time.perf_counter()
                done = sandbox.ace("status", "--all", "-o", "json", timeout=600)
                runs.append(time.perf_counter() - began)
                codes.append(done.returncode)  # said, not asserted: a crash at exit is a finding to report
                printed = done.stdout if done.stdout.strip() else printed
            rows = [row for cluster in json.loads(printed) for row in cluster.get("endpoints", [])]
            settings = __import__("kubectl_ace.health", fromlist=["Settings"]).Settings()
            results: dict = {}
            for row in rows:
                kind = "stalled" if str(stalled.port) in str(row.get("url", "")) else row.get("kind")
                results.setdefault(f"{kind}: {row.get('result')}", 0)
                results[f"{kind}: {row.get('result')}"] += 1
            report["status_all"] = {"clusters": args.clusters, "endpoints": len(rows),
                                    "stalled": sum(1 for r in rows if str(stalled.port) in str(r.get("url", ""))),
                                    "healthy": sum(1 for r in rows if r.get("healthy")),
                                    "probe_budget_s": round(settings.budget, 2),
                                    "median_s": round(statistics.median(runs), 2),
                                    "runs_s": [round(r, 2) for r in runs], "exit_codes": codes, "results": results,
                                    "target_s": 5.0}
        finally:
            stalled.close()


def merge_figures(args, report: dict) -> None:
    """`kubectl ace kubeconfig --all --merge` against the largest world the simulator starts, and its peak memory."""
    from tests.conftest import PASSWORD, Sandbox
    from tests.sim import ClusterSpec, World
    from tests.sim.world import MAX_CLUSTERS, MAX_UNBOUND_CLUSTERS

    count = min(args.merge_clusters, MAX_CLUSTERS + MAX_UNBOUND_CLUSTERS)
    specs = [ClusterSpec(name=f"sim-{k:04d}", id=f"c-m-sim{k:05d}", ace="fqdn" if k < MAX_CLUSTERS else None)
             for k in range(count)]
    start = time.perf_counter()
    with World(clusters=specs, users={"admin": PASSWORD}) as world, tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter() - start
        sandbox = Sandbox(Path(tmp), world)
        sandbox.login()
        runs, rss = [], []
        for _ in range(args.trials):
            sandbox.kubeconfig.unlink(missing_ok=True)
            began = time.perf_counter()
            done = sandbox.ace("kubeconfig", "--all", "--merge", timeout=600)
            runs.append(time.perf_counter() - began)
            assert done.returncode == 0, done.stderr
        sandbox.kubeconfig.unlink()
        rss.append(peak_rss_mb(["kubectl-ace", "kubeconfig", "--all", "--merge"], sandbox.env))
        contexts = sandbox.kubeconfig.read_text().count("\n- context:") + sandbox.kubeconfig.read_text().count(
            "\n  context:")
        again = time.perf_counter()
        assert sandbox.ace("kubeconfig", "--all", "--merge", timeout=600).returncode == 0
        report["merge_all"] = {"clusters": count, "ace_clusters": min(count, MAX_CLUSTERS),
                               "world_start_s": round(started, 1), "first_merge_s": round(statistics.median(runs), 2),
                               "merge_again_s": round(time.perf_counter() - again, 2),
                               "kubeconfig_bytes": sandbox.kubeconfig.stat().st_size, "contexts": contexts,
                               "peak_rss_mb": rss[0]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--clusters", type=int, default=200)
    parser.add_argument("--merge-clusters", type=int, default=1000, help="capped at what the simulator can start")
    parser.add_argument("--skip-world", action="store_true", help="only the figures that need no simulator")
    parser.add_argument("--only", choices=("offline", "world", "status", "merge"))
    parser.add_argument("--command", default=str(Path(sys.executable).parent / "kubectl-ace"),
                        help="the kubectl-ace to measure (default: the one beside this Python)")
    args = parser.parse_args()
    import compileall

    compileall.compile_dir(str(ROOT / "kubectl_ace"), quiet=1)
    report: dict = {"clusters": args.clusters}
    parts = [args.only] if args.only else ["offline"] + ([] if args.skip_world else ["world", "status", "merge"])
    if "offline" in parts:
        offline(args, args.command, report)
    if "world" in parts:
        world_figures(args, report)
    if "status" in parts:
        status_all_figures(args, report)
    if "merge" in parts:
        merge_figures(args, report)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
