"""The README's first command: the guided demo runs from start to end and shows each step working."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_demo_walks_through_login_failover_and_back():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBE", "KUBECTL_ACE"))}
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["NO_COLOR"] = "1"
    done = subprocess.run([sys.executable, "-m", "tests.demo"], cwd=ROOT, capture_output=True, text=True,
                          env=env, timeout=300)
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
