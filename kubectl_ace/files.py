"""Writing files so that a crash leaves the old or the new content, never half (stdlib only)."""

import os
import sys
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


def writer_of(name: str, of: str | None = None) -> int | None:
    """The pid in a temp file name `<file>.<pid>.<ns>.tmp` (of `of` when given), or None when it is not one of ours."""
    if not name.endswith(TMP_SUFFIX):
        return None
    parts = name[: -len(TMP_SUFFIX)].rsplit(".", 2)
    if len(parts) != 3 or not parts[0] or not parts[1].isdigit() or not parts[2].isdigit():
        return None
    if of is not None and parts[0] != of:
        return None
    return int(parts[1])


def is_running(pid: int) -> bool:
    """Whether a process with this pid exists (a pid we may not signal belongs to someone, so it exists)."""
    if pid == os.getpid():
        return True
    if sys.platform == "win32":
        return True  # os.kill(pid, 0) would end the process there: leave Windows temp files alone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def orphans(folder: str, of: str | None = None) -> list[str]:
    """Temp files in `folder` (of the file `of` only, when given) whose writer is gone (killed before its rename)."""
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    target = os.path.basename(of) if of is not None else None
    found = []
    for name in names:
        pid = writer_of(name, target)
        if pid is not None and not is_running(pid):
            found.append(os.path.join(folder, name))
    return sorted(found)


def remove_orphans(folder: str, of: str | None = None, found: list[str] | None = None) -> None:
    """Delete the temp files dead writers left in `folder` (they may hold secrets), or the ones `found` names."""
    for path in orphans(folder, of) if found is None else found:
        try:
            os.unlink(path)
        except OSError:
            pass


def write_atomic(
    path: str, data: bytes, mode: int = 0o600, durable: bool = True, orphaned: list[str] | None = None
) -> None:
    """Write a temporary file beside `path`, flush it to disk, then rename it over `path`.

    durable=False skips the fsync, for small marks whose loss costs nothing (the rename stays atomic).
    A durable write then removes the temp files dead writers of `path` left (`orphaned`, when the caller
    has read them already; removed only after the new content is in place, so a crash keeps them).
    """
    folder = os.path.dirname(path) or "."
    if durable and orphaned is None:
        orphaned = orphans(folder, of=path)
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
    if orphaned:
        remove_orphans(folder, found=orphaned)


def write_new(path: str, data: bytes, mode: int) -> None:
    """Create `path` (which must not exist) with `mode` from the start, and flush it to disk."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(path, mode)  # the umask may have narrowed it
