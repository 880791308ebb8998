"""Per-World temp dirs named rancher-sim-<pid>-*, and removal of those whose process is gone (killed -9)."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from typing import Optional

PREFIX = "rancher-sim-"
_OWNED = re.compile(r"^rancher-sim-(\d+)-")


def _alive(pid: int) -> bool:
    """True when a process with this pid exists (signal 0 checks without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, belongs to someone else
        return True
    return True


def remove_orphans(root: str) -> list[str]:
    """Remove this user's rancher-sim-<pid>-* dirs under root whose pid is dead; returns what was removed."""
    removed = []
    try:
        names = os.listdir(root)
    except OSError:
        return removed
    uid = os.getuid() if hasattr(os, "getuid") else None
    for name in names:
        m = _OWNED.match(name)
        if not m or int(m.group(1)) == os.getpid() or _alive(int(m.group(1))):
            continue
        path = os.path.join(root, name)
        try:
            if not os.path.isdir(path) or os.path.islink(path) or (uid is not None and os.lstat(path).st_uid != uid):
                continue
        except OSError:
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def make_temp_dir(root: Optional[str] = None) -> str:
    """A fresh rancher-sim-<pid>-* dir under root (default the system temp dir), after removing dead ones."""
    parent = root or tempfile.gettempdir()
    os.makedirs(parent, exist_ok=True)
    remove_orphans(parent)
    return tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=parent)


def remove_temp_dir(path: Optional[str]) -> None:
    """Remove a World's temp dir (missing is fine)."""
    if path:
        shutil.rmtree(path, ignore_errors=True)
