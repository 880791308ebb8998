"""Detached work that keeps the tool ready without costing a kubectl call its time: token refresh and re-probes.

A kubectl call only decides from what it has already read and spawns `kubectl-ace prepare --background …` in its
own session with no terminal and no pipes; the child takes a lock without waiting (one at a time), and stamps its
start where the next calls read it anyway (the server record, the health state), which throttles the spawns.
"""

from __future__ import annotations

import sys

from kubectl_ace.store import Store


def command() -> list[str]:
    """How to run kubectl-ace again: the frozen binary itself, else this Python with the launcher that started us.

    Not `python -m kubectl_ace`: that imports the package from kubectl's working directory first, so a
    `kubectl_ace` folder there (a checkout, or someone else's) would run instead of the installed one.
    """
    if getattr(sys, "frozen", False):
        return [sys.executable]
    import os

    launcher = os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if os.path.isfile(launcher) and os.path.basename(launcher) != "__main__.py":
        return [sys.executable, launcher]
    return [sys.executable, "-m", "kubectl_ace"]  # run as `python -m kubectl_ace` itself: the same path again


def spawn(args: list[str], env: dict[str, str] | None = None) -> bool:
    """Start `kubectl-ace ARGS` detached (own session, stdin/stdout/stderr to devnull); never raises."""
    import os
    import subprocess

    try:
        subprocess.Popen(
            command() + args,
            env=dict(os.environ, **env) if env else None,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
        )
    except OSError:
        return False
    return True


def start_refresh(store: Store, server: str) -> bool:
    """Refresh the server's prepared tokens that are due, in the background."""
    return spawn(["prepare", "--background", "--all", "--server", server, "--store", store.directory, *kubectl_flags()])


def start_reprobe(store: Store, server: str, cluster_id: str, settings, failover: bool = True) -> bool:
    """Watch the endpoint kubectl is using while calls go on (watcher.py; the exec info is inherited), probing with
    the call's settings (health.Settings: its flags reach the watcher as the environment they override)."""
    args = ["prepare", "--background", "--reprobe", "--server", server, "--store", store.directory]
    args += (["--cluster", cluster_id] if cluster_id else []) + ([] if failover else ["--no-failover"])
    timings = {
        "KUBECTL_ACE_CONNECT_TIMEOUT": settings.connect_timeout,
        "KUBECTL_ACE_PROBE_TIMEOUT": settings.read_timeout,
        "KUBECTL_ACE_HEALTH_TTL": settings.healthy_ttl,
    }
    return spawn(args + kubectl_flags(), {name: repr(value) for name, value in timings.items()})


def kubectl_flags() -> list[str]:
    """The calling kubectl's --kubeconfig and --context, as ours: the detached run cannot read them from its parent."""
    from kubectl_ace import kubectl_process

    kube_file, context = kubectl_process.kubectl_args()
    return (["--kubeconfig", kube_file] if kube_file else []) + (["--context", context] if context else [])
