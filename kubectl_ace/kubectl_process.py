"""The kubectl process that ran this plugin: the kubectl process's identity and the flags it was given (stdlib only).

client-go tells an exec plugin neither the kubeconfig nor the context kubectl uses, nor whether it
is being run again in the same process; the parent process answers both.
"""

import os
import sys

_parent: dict[int, str] = {}  # the parent's identity, read once per run (it is asked for two or three times)
_acting_for: list[tuple[str | None, str | None]] = []  # a detached run's kubectl flags, passed down by the call


def identity(pid: int | None = None) -> str:
    """`<pid>:<start time>:<executable>` of the parent process: one kubectl run, even across an exec.

    The executable matters because version dispatchers (gcloud's kubectl) exec the real kubectl in
    the same process, and both run the plugin.
    """
    pid = pid or os.getppid()
    if pid not in _parent:
        _parent[pid] = _read_identity(pid)
    return _parent[pid]


def _read_identity(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        start = fields[19].decode()  # field 22 (starttime), counted after the command name
    except (OSError, IndexError):
        start = "?"
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        exe = "?"
    return f"{pid}:{start}:{exe}"


def file_key(ident: str | None = None) -> str:
    """The identity as a short file name."""
    pid, start, exe = (ident or identity()).split(":", 2)
    return f"{pid}-{start}-{fnv1a(exe):08x}"


def fnv1a(text: str) -> int:
    """A stable 32-bit hash (zlib would do, at 0.2 ms of import on every kubectl call)."""
    value = 0x811C9DC5
    for byte in text.encode():
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


def kubectl_args(pid: int | None = None) -> tuple[str | None, str | None]:
    """--kubeconfig and --context of the kubectl that ran this plugin."""
    if pid is None and _acting_for:
        return _acting_for[0]
    from kubectl_ace.argv import flag_values

    found = flag_values(cmdline(pid or os.getppid()), ("--kubeconfig", "--context"))
    return found["--kubeconfig"], found["--context"]


def act_for(kube_file: str | None, context: str | None) -> None:
    """In a detached run a kubectl call started: answer kubectl_args() with that call's flags."""
    _acting_for[:] = [(kube_file, context)]


def cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return [part.decode(errors="replace") for part in handle.read().split(b"\0") if part]
    except OSError:
        pass
    if sys.platform == "win32":
        return []
    import subprocess

    from kubectl_ace.procenv import child_env

    try:
        out = subprocess.run(
            ["ps", "-o", "args=", "-p", str(pid)], capture_output=True, text=True, timeout=2, env=child_env()
        )
        return out.stdout.split()
    except (OSError, subprocess.SubprocessError):
        return []


def kubeconfig_files(explicit: str | None, environ=None) -> tuple[list[str], bool]:
    """The files kubectl reads, and whether they were named on its command line.

    --kubeconfig alone, else every KUBECONFIG entry (each once, in order), else ~/.kube/config.
    """
    if explicit:
        return [os.path.expanduser(explicit)], True
    environ = os.environ if environ is None else environ
    listed = [p for p in environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    if listed:
        return list(dict.fromkeys(listed)), False
    return [os.path.join(os.path.expanduser("~"), ".kube", "config")], False
