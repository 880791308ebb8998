"""The environment for programs this tool launches (kubectl, a browser): free of the frozen bundle's settings."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

# Variables the PyInstaller bootloader prepends the bundle to, saving the user's value as NAME_ORIG
# (LIBPATH is AIX's LD_LIBRARY_PATH).
LIBRARY_PATH_VARS = ("LD_LIBRARY_PATH", "LIBPATH")

_dll_directory_reset = False


def child_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of env (default os.environ) that a child program can run with, frozen or not."""
    result = dict(os.environ if env is None else env)
    if not getattr(sys, "frozen", False):
        return result  # from source the library path is the user's own: leave it alone
    bundle = getattr(sys, "_MEIPASS", None)
    for name in LIBRARY_PATH_VARS:
        original = result.pop(name + "_ORIG", None)
        if original is not None:
            result[name] = original
        elif name in result and bundle:
            # No saved value: the user had none (Linux), or the bootloader never touched it (macOS).
            kept = drop_bundle_dirs(result[name], bundle)
            if kept.strip(os.pathsep):
                result[name] = kept
            else:
                del result[name]
    # The bootloader's own bookkeeping: a child that is itself a PyInstaller app (kubectl running
    # `kubectl-ace token` as its exec plugin) must start as a fresh program, not as our second stage.
    for name in [key for key in result if key.startswith("_PYI_")]:
        del result[name]
    result["PYINSTALLER_RESET_ENVIRONMENT"] = "1"
    if sys.platform == "win32":
        if bundle and "PATH" in result:
            result["PATH"] = drop_bundle_dirs(result["PATH"], bundle)
        reset_dll_directory()
    return result


def drop_bundle_dirs(path: str, bundle: str) -> str:
    """PATH without the entries that point into the bundle directory."""
    root = os.path.normcase(os.path.abspath(bundle))
    kept = []
    for entry in path.split(os.pathsep):
        full = os.path.normcase(os.path.abspath(entry)) if entry else ""
        if full and (full == root or full.startswith(root.rstrip(os.sep) + os.sep)):
            continue
        kept.append(entry)
    return os.pathsep.join(kept)


def reset_dll_directory() -> None:
    """Undo the bootloader's SetDllDirectoryW(bundle), which child processes inherit on Windows."""
    global _dll_directory_reset
    if _dll_directory_reset or sys.platform != "win32":
        return
    import ctypes

    # Our own later imports still find their DLLs: Python loads extension modules with
    # LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR, and their DLLs sit beside them in the bundle.
    ctypes.windll.kernel32.SetDllDirectoryW(None)
    _dll_directory_reset = True
