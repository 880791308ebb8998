"""Benchmark the blind window: the first 30 s of a Rancher outage for an active user (a kubectl call every 1.5 s).

Per run: a user on the proxy context calls kubectl for a while (a random warm-up, the same for both variants of a
pair), then Rancher is refused (stopped) or stalled, and the calls go on for 30 s. Measured: how many calls take
over 5 s, how many fail, when the first call after the outage's start works (through ACE), and the slowest working
ACE call (did one pay for probing the dead Rancher?). "before" runs the package at an older commit (default: the
merge base with main), "after" this worktree's (or --after REV); runs are paired and alternate in order; medians are
printed as JSON.

Usage: python bench/blind_window.py [--runs N] [--before REV] [--after REV] [--window S] [--interval S] [--pause]
Targets (issue 12): no call hangs over 5 s, ACE works within 10 s of the outage's start, no ACE call pays for a probe.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import KUBECTLS, NEWEST, PASSWORD, Sandbox, background_runs  # noqa: E402
from tests.sim import ClusterSpec, World  # noqa: E402

PROD = "c-m-prod0001"


def old_package(rev: str, into: Path) -> Path:
    """The kubectl_ace package at `rev`, unpacked into `into` (put first on PYTHONPATH to run it)."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "kubectl_ace"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def one_run(
    sandbox: Sandbox,
    world: World,
    env: dict,
    fault: str,
    warmup: float,
    window: float,
    interval: float,
    pause: tuple[float, float] = (0.0, 0.0),
) -> dict:
    """Warm up on the proxy context, start the outage, and time every call of the window that follows.

    With a pause (length, when in it the outage starts), the user stops calling after the warm-up and the outage
    begins while no call is made: the first call after the pause is the first of the window."""
    kubectl = KUBECTLS[NEWEST]
    stop_background(sandbox)  # a watcher the other variant's calls left must not work for this run
    world.rancher.set_mode("up")
    for name in ("health", "state"):
        shutil.rmtree(sandbox.store / name, ignore_errors=True)
    (sandbox.store / "switches.json").unlink(missing_ok=True)
    sandbox.exec_kubeconfig(PROD, current="prod")

    def call() -> tuple[float, float, int, str]:
        start = time.monotonic()
        done = subprocess.run(
            [kubectl, "get", "namespaces"],
            env=env,
            cwd=sandbox.root,  # older code starts background runs as `python -m kubectl_ace`: not this checkout's
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        return start, time.monotonic() - start, done.returncode, sandbox.current_context()

    began = time.monotonic()
    while time.monotonic() - began < warmup:
        _, took, code, _ = call()
        time.sleep(max(0.0, interval - took))
    if pause[0]:
        paused = time.monotonic()
        time.sleep(pause[1])
        world.rancher.set_mode(fault)
        outage = time.monotonic()
        time.sleep(max(0.0, pause[0] - (outage - paused)))
    else:
        world.rancher.set_mode(fault)
        outage = time.monotonic()
    calls = []
    while time.monotonic() - outage < window:
        start, took, code, context = call()
        calls.append((start - outage, took, code, context))
        time.sleep(max(0.0, interval - took))
    world.rancher.set_mode("up")
    working = [c for c in calls if c[2] == 0]
    ace_calls = [c for c in working if c[3] != "prod"]
    return {
        "calls": len(calls),
        "over_5s": sum(1 for c in calls if c[1] > 5),
        "failed": sum(1 for c in calls if c[2] != 0),
        "ace_works_after_s": round(working[0][0] + working[0][1], 2) if working else None,
        "slowest_ace_call_s": round(max(c[1] for c in ace_calls), 2) if ace_calls else None,
        "longest_call_s": round(max(c[1] for c in calls), 2),
        "trace": [[round(c[0], 2), round(c[1], 2), c[2], c[3]] for c in calls],
    }


def stop_background(sandbox: Sandbox) -> None:
    for pid in background_runs(str(sandbox.store)):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def median_of(runs: list[dict], key: str):
    values = [r[key] for r in runs if r[key] is not None]
    return round(statistics.median(values), 2) if values else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="pairs of runs per fault")
    parser.add_argument("--before", help="the commit to compare with (default: merge base of HEAD and main)")
    parser.add_argument("--after", help="the commit to measure (default: this worktree)")
    parser.add_argument("--window", type=float, default=30.0)
    parser.add_argument("--interval", type=float, default=1.5)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument(
        "--pause",
        action="store_true",
        help="the outage starts while the user pauses (6-15 s without a call), not between two calls",
    )
    args = parser.parse_args()
    before = (
        args.before
        or subprocess.run(
            ["git", "-C", str(ROOT), "merge-base", "HEAD", "main"], capture_output=True, text=True, check=True
        ).stdout.strip()
    )
    rng = random.Random(args.seed)
    report: dict = {
        "before": before[:12],
        "after": args.after or "worktree",
        "interval_s": args.interval,
        "window_s": args.window,
        "pause": args.pause,
    }
    with (
        World(clusters=[ClusterSpec(name="prod", id=PROD, ace="fqdn")], users={"admin": PASSWORD}) as world,
        tempfile.TemporaryDirectory() as tmp,
    ):
        (Path(tmp) / "before").mkdir()
        (Path(tmp) / "after").mkdir()
        (Path(tmp) / "user").mkdir()
        old = old_package(before, Path(tmp) / "before")
        sandbox = Sandbox(Path(tmp) / "user", world)
        sandbox.login()
        envs = {"after": dict(sandbox.env), "before": dict(sandbox.env, PYTHONPATH=str(old))}
        if args.after:
            envs["after"]["PYTHONPATH"] = str(old_package(args.after, Path(tmp) / "after"))
        for fault in ("stopped", "stalled"):
            results: dict = {"before": [], "after": []}
            for index in range(args.runs):
                warmup = 8 + rng.uniform(0, 10)  # where the outage falls in the health TTL varies per pair
                length = rng.uniform(6, 15) if args.pause else 0.0
                pause = (length, rng.uniform(1, length - 4) if args.pause else 0.0)
                order = ("before", "after") if index % 2 == 0 else ("after", "before")
                for variant in order:
                    results[variant].append(
                        one_run(sandbox, world, envs[variant], fault, warmup, args.window, args.interval, pause)
                    )
            report[fault] = {
                variant: {key: median_of(runs, key) for key in runs[0] if key != "trace"} | {"runs": runs}
                for variant, runs in results.items()
            }
        stop_background(sandbox)
        print(json.dumps(report, indent=2), flush=True)
    return 0


if __name__ == "__main__":
    os.environ.pop("KUBECONFIG", None)
    raise SystemExit(main())
