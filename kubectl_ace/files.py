"""Writing files so that a crash leaves the old or the new content, never half (stdlib only)."""

from __future__ import annotations

import os
import time

from kubectl_ace.errors import StoreError

TMP_SUFFIX = ".tmp"


def ensure_private_dir(path: str) -> None:
    """Create the directory with mode 0700 (missing parents get the usual mode)."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
    except OSError as err:
        raise StoreError(f"cannot create the directory {path}: {err.strerror}") from None


def temp_name(path: str) -> str:
    """`<path>.<pid>.<ns>.tmp`: unique per writer, and names the writer (so an orphan can be told apart)."""
    return f"{path}.{os.getpid()}.{time.monotonic_ns()}{TMP_SUFFIX}"


def write_atomic(path: str, data: bytes, mode: int = 0o600, durable: bool = True) -> None:
    """Write a temporary file beside `path`, flush it to disk, then rename it over `path`.

    durable=False skips the fsync, for small marks whose loss costs nothing (the rename stays atomic).
    """
    tmp = temp_name(path)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            os.write(fd, data)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        if durable:
            os.chmod(tmp, mode)  # the umask may have narrowed it; a mark only ever needs to be private
        os.replace(tmp, path)
    except OSError as err:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise StoreError(f"cannot write {path}: {err.strerror}") from None


def write_new(path: str, data: bytes, mode: int) -> None:
    """Create `path` (which must not exist) with `mode` from the start, and flush it to disk."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(path, mode)  # the umask may have narrowed it
