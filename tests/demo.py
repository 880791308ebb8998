"""A guided tour: the simulator in a temporary home, then login, exec credentials, failover and back.

Run with `./dev demo`. Every command is shown with its output, as a newcomer would type it. A step that does not
end as it should stops the demo with a non-zero exit code.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from tests.conftest import KUBECTLS, NEWEST, PASSWORD, Sandbox
from tests.sim import ClusterSpec, World

BOLD, DIM, RESET = ("", "", "") if os.environ.get("NO_COLOR") or not sys.stdout.isatty() else \
    ("\033[1m", "\033[2m", "\033[0m")


def say(text: str) -> None:
    print(f"\n{BOLD}# {text}{RESET}")


class StepFailed(Exception):
    """A demo step ended with another exit code than the one the tour expects."""


def show(sandbox: Sandbox, argv: list[str], stdin: str | None = None, shown: str | None = None,
         expect: int = 0) -> int:
    """Print the command as typed, run it as the demo user, print what it printed; raise StepFailed on a surprise."""
    print(f"{BOLD}$ {shown or shlex.join(argv)}{RESET}")
    binary = KUBECTLS[NEWEST] if argv[0] == "kubectl" else argv[0]
    done = subprocess.run([binary, *argv[1:]], input=stdin, capture_output=True, text=True, env=sandbox.env,
                          timeout=120)
    for stream in (done.stdout, done.stderr):
        if stream.strip():
            print(stream.rstrip())
    if done.returncode:
        print(f"{DIM}(exit code {done.returncode}){RESET}")
    if done.returncode != expect:
        raise StepFailed(f"`{shown or shlex.join(argv)}` exited with {done.returncode}, not {expect}")
    return done.returncode


def main() -> int:
    try:
        tour()
    except StepFailed as failed:
        print(f"demo: failed: {failed}", file=sys.stderr)
        return 1
    return 0


def tour() -> None:
    clusters = [ClusterSpec(name="prod", id="c-m-prod0001", ace="fqdn"),
                ClusterSpec(name="edge", id="c-m-edge0001", ace="nodes", nodes=("cp1", "cp2"))]
    with World(clusters=clusters, users={"admin": PASSWORD}) as world, tempfile.TemporaryDirectory() as tmp:
        sandbox = Sandbox(Path(tmp), world)
        sandbox.env["KUBECTL_ACE_HEALTH_TTL"] = "0"
        say(f"A simulated Rancher is running at {world.rancher_url}, with clusters prod (ACE by FQDN) and "
            "edge (ACE per node).")
        print(f"{DIM}(This demo sets KUBECTL_ACE_HEALTH_TTL=0, so every call probes Rancher and the outage below is "
              "seen at once. By default a healthy probe is trusted for 10 s, so for up to 10 s after Rancher goes "
              f"down a call can still try it first.){RESET}")
        say("Log in once. The password is read from stdin here; on a terminal you would be prompted.")
        show(sandbox, ["kubectl", "ace", "login", "--server", world.rancher_url, "--user", "admin",
                       "--password-stdin", "--cacert", str(world.rancher_ca_file)], stdin=PASSWORD + "\n",
             shown=f"echo '********' | kubectl ace login --server {world.rancher_url} --user admin "
                   f"--password-stdin --cacert {world.rancher_ca_file}")

        say("Fetch a kubeconfig for every cluster the login can see; its users run the kubectl-ace plugin.")
        show(sandbox, ["kubectl", "ace", "kubeconfig", "--all", "--merge"])
        show(sandbox, ["kubectl", "config", "get-contexts"])
        user = next(u for u in yaml.safe_load(sandbox.kubeconfig.read_text())["users"] if u["name"] == "prod")
        print(yaml.safe_dump({"users": [user]}, sort_keys=False).rstrip())
        print(f"{DIM}(A kubeconfig downloaded from the Rancher UI, or written for `rancher token`, becomes the "
              f"same with `kubectl ace convert`.){RESET}")
        mints_before = world.counters.mints("c-m-prod0001")

        say("Through the Rancher proxy (context prod): the plugin mints one cluster-scoped token.")
        show(sandbox, ["kubectl", "get", "namespaces"])
        say("Straight to the cluster's Authorized Cluster Endpoint (context prod-fqdn), same token:")
        show(sandbox, ["kubectl", "get", "namespaces", "--context", "prod-fqdn"])
        show(sandbox, ["kubectl", "auth", "whoami", "--context", "prod-fqdn"])
        print(f"{DIM}(Rancher saw {world.counters.logins()} login and "
              f"{world.counters.mints('c-m-prod0001') - mints_before} token mint for prod by kubectl-ace){RESET}")

        say("Rancher goes down.")
        world.rancher.set_mode("stopped")
        say("The first call notices at once, switches the current context to ACE and says so (this call fails):")
        show(sandbox, ["kubectl", "get", "namespaces"], expect=1)
        show(sandbox, ["kubectl", "config", "current-context"])
        say("The next call goes to ACE and works, with the cached token:")
        show(sandbox, ["kubectl", "get", "namespaces"])
        show(sandbox, ["kubectl", "ace", "status"])
        say("`kubectl ace kubectl` picks the healthy endpoint per command and changes no file:")
        show(sandbox, ["kubectl", "ace", "kubectl", "get", "namespaces", "--context", "prod"])

        say("Rancher comes back: the next call switches the context back (and goes on through ACE).")
        world.rancher.set_mode("up")
        show(sandbox, ["kubectl", "get", "namespaces"])
        show(sandbox, ["kubectl", "config", "current-context"])
        show(sandbox, ["kubectl", "ace", "logout"])
        say("Done. Try it by hand: `.venv/bin/python -m tests.sim` (see the README).")


if __name__ == "__main__":
    raise SystemExit(main())
