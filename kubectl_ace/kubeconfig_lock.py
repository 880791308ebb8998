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


@contextlib.contextmanager
def locked_file(path: str, store: object = None, timeout: float = LOCK_WAIT):
    """Hold kubectl's own lock on a kubeconfig: `<path>.lock` made with O_CREAT|O_EXCL, removed afterwards.

    kubectl (client-go's lockFile) fails at once when the lock exists; we wait a bounded time and retry,
    so a kubectl edit and ours never interleave. `store` is unused (the lock lives beside the file).
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
    os.close(fd)
    try:
        yield
    finally:
        try:
            os.unlink(lock)
        except OSError:
            pass
