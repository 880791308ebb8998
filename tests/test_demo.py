"""The README's first command: the guided demo runs from start to end and shows each step working."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def demo(*first_on_path: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBE", "KUBECTL_ACE"))}
    env["PATH"] = os.pathsep.join([*map(str, first_on_path), os.path.dirname(sys.executable), env.get("PATH", "")])
    env["NO_COLOR"] = "1"
    return subprocess.run([sys.executable, "-m", "tests.demo"], cwd=ROOT, capture_output=True, text=True,
                          env=env, timeout=240)


@pytest.mark.timeout(260)  # above demo()'s own subprocess timeout, so that one reports first
def test_demo_walks_through_login_failover_and_back():
    done = demo()
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    steps = ["Logged in to", "merged into", "kube-system", "Username    u-",
             "switched the current context from prod to prod-fqdn",
             "using prod-fqdn for this command", "switched the current context back from prod-fqdn to prod",
             "Logged out of"]
    positions = [out.find(step) for step in steps]
    assert -1 not in positions, [s for s, p in zip(steps, positions) if p == -1]
    assert positions == sorted(positions)
    assert "Traceback" not in out + done.stderr


@pytest.mark.timeout(260)
def test_a_failing_step_stops_the_demo_with_a_non_zero_exit(tmp_path):
    """A kubectl-ace that fails (as a broken install would) makes the first step fail, and the demo says so."""
    broken = tmp_path / "kubectl-ace"
    broken.write_text("#!/bin/sh\necho 'kubectl-ace: error: broken on purpose' >&2\nexit 3\n")
    broken.chmod(0o755)
    done = demo(tmp_path)
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    assert "broken on purpose" in done.stdout and "(exit code 3)" in done.stdout
    assert "demo: failed: `echo '********' | kubectl ace login" in done.stderr and "exited with 3, not 0" in done.stderr
    assert "Logged in to" not in done.stdout and "Traceback" not in done.stdout + done.stderr
