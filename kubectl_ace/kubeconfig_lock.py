"""kubectl's own lock on a kubeconfig file (client-go's lockFile): `<path>.lock`, made exclusively, removed after."""

from __future__ import annotations

import contextlib
import os
import sys
import time

from kubectl_ace.errors import InputError

LOCK_WAIT = 10.0  # kubectl holds its lock for milliseconds; longer means a crashed writer left it behind
LOCK_NOTICE_AFTER = 0.5  # say what is being waited for once the wait is long enough to be noticed


def lock_name(path: str) -> str:
    """client-go's lockName: the kubeconfig path as given, plus `.lock`."""
    return path + ".lock"


MARK = "kubectl-ace "  # what our lock files say (kubectl's own are empty): `kubectl-ace <pid>`


@contextlib.contextmanager
def locked_file(path: str, store=None, timeout: float = LOCK_WAIT):
    """Hold kubectl's own lock on a kubeconfig: `<path>.lock` made with O_CREAT|O_EXCL, removed afterwards.

    kubectl (client-go's lockFile) fails at once when the lock exists; we wait a bounded time and retry,
    so a kubectl edit and ours never interleave. Our lock names our pid, so one left by a kubectl-ace that
    was killed while holding it is removed (kubectl's own, empty, never is); `store` (a Store) serializes that.
    """
    lock = lock_name(path)
    started = time.monotonic()
    told = False
    pause = 0.002
    while True:
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0)
            break
        except FileExistsError:
            if store is not None and _break_if_stale(lock, store):
                continue
            waited = time.monotonic() - started
            if waited >= timeout:
                raise InputError(
                    f"gave up after {timeout:.0f} s waiting for {lock} (kubectl's lock on the "
                    f"kubeconfig); if no kubectl is running, delete {lock}"
                ) from None
            if not told and waited >= LOCK_NOTICE_AFTER:
                print(
                    f"kubectl-ace: waiting for {lock} (another program is editing {path})", file=sys.stderr, flush=True
                )
                told = True
            time.sleep(min(pause, timeout - waited))
            pause = min(pause * 2, 0.05)
        except OSError as err:
            raise InputError(f"cannot lock kubeconfig {path} ({lock}): {err.strerror}") from None
    try:
        os.write(fd, f"{MARK}{os.getpid()}\n".encode())
    finally:
        os.close(fd)
    try:
        yield
    finally:
        try:
            os.unlink(lock)
        except OSError:
            pass


def _holder(lock: str) -> int | None:
    """The pid a lock of ours names; None for kubectl's (empty) or an unreadable one."""
    try:
        with open(lock, encoding="utf-8") as handle:
            text = handle.read(64)
    except (OSError, UnicodeDecodeError):
        return None
    return int(text[len(MARK) :]) if text.startswith(MARK) and text[len(MARK) :].strip().isdigit() else None


def _break_if_stale(lock: str, store) -> bool:
    """Remove a lock a dead kubectl-ace left behind; True when it did (then try again at once)."""
    from kubectl_ace.files import is_running

    pid = _holder(lock)
    if pid is None or is_running(pid):
        return False
    with store.lock("kubeconfig-stale-lock", 10.0):  # two breakers must not remove each other's fresh locks
        if _holder(lock) != pid:
            return False
        try:
            os.unlink(lock)
        except OSError:
            return False
    print(f"kubectl-ace: removed {lock}, left by kubectl-ace process {pid}, which no longer runs", file=sys.stderr)
    return True
