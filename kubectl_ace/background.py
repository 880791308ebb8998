"""Detached work that keeps the tool ready without costing a kubectl call its time (token refresh, re-probes)."""

from __future__ import annotations

import os
import sys
import time

from kubectl_ace.store import Store

REFRESH_EVERY = 300.0  # at most one background refresh spawn per this many seconds
STAMP = "background-refresh"


def command() -> list[str]:
    """How to run kubectl-ace again: the frozen binary itself, else this Python with the package."""
    if getattr(sys, "frozen", False):
        return [sys.executable]
    return [sys.executable, "-m", "kubectl_ace"]


def spawn(args: list[str]) -> bool:
    """Start `kubectl-ace ARGS` detached (own session, no terminal, no pipes); never raises."""
    import subprocess

    try:
        subprocess.Popen(
            command() + args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
        )
    except OSError:
        return False
    return True


def due(store: Store, name: str, every: float, now: float | None = None) -> bool:
    """Whether `every` seconds have passed since the stamp `name` was last touched (and touch it if so)."""
    path = store.state_file(name)
    now = time.time() if now is None else now
    try:
        if 0 <= now - os.stat(path).st_mtime < every:
            return False
    except OSError:
        pass
    try:
        store.ensure("state")
        with open(path, "a", encoding="utf-8"):
            pass
        os.utime(path, (now, now))
    except OSError:
        return False
    return True


def refresh(store: Store, clusters: list, wait: float) -> int:
    """`prepare --background`: one at a time (a lock held without waiting), quietly; 0 also when another runs."""
    import filelock

    from kubectl_ace import readiness
    from kubectl_ace.errors import AceError

    try:
        with store.lock("background-refresh", timeout=0):
            readiness.prepare(store, clusters, wait)
    except filelock.Timeout:
        return 0
    except AceError:
        return 1
    return 0
