"""The token store: one JSON file per Rancher server, 0600 in a 0700 directory, replaced atomically.

Layout of a server file (all times are local epoch seconds, already corrected for clock skew):

    {"version": 1, "server": "https://rancher.example.com", "cacert": "<PEM or null>", "insecure": false,
     "current_user": "alice",
     "logins": {"alice": {"token": "kubeconfig-u-x:…", "token_id": "kubeconfig-u-x", "user_id": "u-x",
                          "provider": "localProvider", "origin": "login", "expires": 1.7e9, "expires_at": "…",
                          "clusters": {"c-m-abcd1234": {"token": "…", "token_id": "…", "expires": 1.7e9,
                                                        "expires_at": "…", "minted": 1.7e9}}}}}

Reads take no lock (a file is only ever replaced whole); writes hold the server's lock file.
"""

from __future__ import annotations

import os
import sys
import time

from kubectl_ace import jsonlite
from kubectl_ace.errors import StoreError

APP = "kubectl-ace"
STORE_ENV = "KUBECTL_ACE_STORE"
FORMAT_VERSION = 1
LOCK_TIMEOUT = 60.0


def default_dir() -> str:
    """platformdirs' user_data_dir("kubectl-ace", appauthor=False), computed without importing it (hot path)."""
    home = os.path.expanduser("~")
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or os.path.join(home, "AppData", "Local")
    elif sys.platform == "darwin":
        base = os.path.join(home, "Library", "Application Support")
    else:
        base = os.environ.get("XDG_DATA_HOME", "").strip() or os.path.join(home, ".local", "share")
    return os.path.join(base, APP)


def store_dir(override: str | None = None) -> str:
    """The store directory: --store, else $KUBECTL_ACE_STORE, else the platform's user data directory."""
    return override or os.environ.get(STORE_ENV) or default_dir()


def normalize_server(value: str) -> str:
    """`rancher.example.com`, `https://Rancher.example.com:443/` → `https://rancher.example.com`."""
    value = value.strip()
    if "://" not in value:
        value = "https://" + value
    scheme, _, rest = value.partition("://")
    host, slash, path = rest.partition("/")
    host = host.lower()
    scheme = scheme.lower()
    if scheme == "https" and host.endswith(":443"):
        host = host[:-4]
    path = path.rstrip("/")
    return f"{scheme}://{host}" + (f"/{path}" if path else "")


def server_key(server: str) -> str:
    """A file-name-safe key for a normalized server URL."""
    rest = server.partition("://")[2]
    return "".join(c if c.isalnum() or c in ".-" else "_" for c in rest)


def server_path(directory: str, server: str) -> str:
    return os.path.join(directory, "servers", server_key(server) + ".json")


def read(directory: str, server: str) -> dict | None:
    """The server's record, or None when there is none; StoreError when the file is unreadable or corrupt."""
    path = server_path(directory, server)
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        return None
    except OSError as err:
        raise StoreError(f"cannot read the token store {path}: {err.strerror}; check its owner and permissions") from None
    return _parse(path, text, server)


def servers(directory: str) -> list[str]:
    """Every server with a record, in name order; corrupt files are skipped."""
    folder = os.path.join(directory, "servers")
    try:
        names = sorted(os.listdir(folder))
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        if not name.endswith(".json"):
            continue
        try:
            with open(os.path.join(folder, name), encoding="utf-8") as handle:
                record = jsonlite.loads(handle.read())
            found.append(record["server"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return found


def update(directory: str, server: str, change, *, reset_corrupt: bool = False) -> dict | None:
    """Apply `change(record or None) -> record or None` under the server's lock and save the result atomically.

    Returning None deletes the record. With reset_corrupt a corrupt file is kept aside as
    `<file>.corrupt-<time>` and the change starts from nothing; otherwise it raises StoreError.
    """
    path = server_path(directory, server)
    ensure_dir(directory)
    ensure_dir(os.path.dirname(path))
    with lock(directory, server_key(server)):
        try:
            current = read(directory, server)
        except StoreError:
            if not reset_corrupt:
                raise
            aside = f"{path}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}"
            os.replace(path, aside)
            print(f"kubectl-ace: the token store file {path} was corrupt; kept it as {aside} and started afresh",
                  file=sys.stderr)
            current = None
        record = change(current)
        if record is None:
            if current is not None:
                os.unlink(path)
            return None
        record["version"] = FORMAT_VERSION
        record["server"] = server
        import json
        write_atomic(path, (json.dumps(record, indent=1, sort_keys=True) + "\n").encode())
        return record


def lock(directory: str, name: str, timeout: float = LOCK_TIMEOUT):
    """A lock on `<store>/locks/<name>.lock`, never on a data file (Windows locks are mandatory)."""
    import filelock

    folder = os.path.join(directory, "locks")
    ensure_dir(directory)
    ensure_dir(folder)
    return filelock.FileLock(os.path.join(folder, name + ".lock"), timeout=timeout)


def locked(directory: str, name: str, timeout: float, what: str):
    """Like lock(), but a timeout becomes a StoreError that says what was being waited for."""
    import contextlib
    import filelock

    @contextlib.contextmanager
    def held():
        try:
            with lock(directory, name, timeout):
                yield
        except filelock.Timeout:
            raise StoreError(f"gave up after {timeout:.0f} s waiting for another kubectl-ace process {what}; "
                             "if none is running, delete " + os.path.join(directory, "locks", name + ".lock")) from None
    return held()


def ensure_dir(path: str) -> None:
    """Create the directory with mode 0700 (missing parents get the usual mode)."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
    except OSError as err:
        raise StoreError(f"cannot create the token store directory {path}: {err.strerror}") from None


def write_atomic(path: str, data: bytes, mode: int = 0o600, durable: bool = True) -> None:
    """Write a temporary file beside `path`, flush it to disk, then rename it over `path`.

    durable=False skips the fsync, for small marks whose loss costs nothing (the rename stays atomic).
    """
    tmp = f"{path}.{os.getpid()}.{time.monotonic_ns()}.tmp"
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


def ca_file(directory: str, server: str, pem: str) -> str:
    """The record's CA written out as a file for TLS libraries that want a path."""
    folder = os.path.join(directory, "ca")
    ensure_dir(directory)
    ensure_dir(folder)
    path = os.path.join(folder, server_key(server) + ".pem")
    try:
        with open(path, encoding="utf-8") as handle:
            if handle.read() == pem:
                return path
    except OSError:
        pass
    write_atomic(path, pem.encode(), mode=0o644)
    return path


def _parse(path: str, text: str, server: str) -> dict:
    try:
        record = jsonlite.loads(text)
    except ValueError as err:
        raise StoreError(f"the token store file {path} is corrupt ({err}); run `kubectl ace login --server {server}` "
                         "to start it afresh (the old file is kept beside it)") from None
    if not isinstance(record, dict) or not isinstance(record.get("logins", {}), dict):
        raise StoreError(f"the token store file {path} is not a kubectl-ace store; run "
                         f"`kubectl ace login --server {server}` to start it afresh (the old file is kept beside it)")
    if record.get("version", FORMAT_VERSION) > FORMAT_VERSION:
        raise StoreError(f"the token store file {path} was written by a newer kubectl-ace; upgrade kubectl-ace")
    return record
