"""The token store: one JSON file per Rancher server, 0600 in a 0700 directory, replaced atomically.

`Store(directory)` owns every path under the store directory (server files, locks, per-process
marks, health state, context switches, CA files) and every edit of a server file. Reads take no
lock (a file is only ever replaced whole); edits hold the server's lock file, never the data file.
Only the standard library is imported at module level: reading the store is part of the hot path.
"""

import os
import sys
import time

from kubectl_ace import jsonlite
from kubectl_ace.errors import StoreError
from kubectl_ace.files import ensure_private_dir, is_running, orphans, remove_orphans, write_atomic, writer_of
from kubectl_ace.records import ClusterToken, Login, ServerRecord
from kubectl_ace.urls import server_key

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


class Store:
    """The store directory: --store, else $KUBECTL_ACE_STORE, else the platform's user data directory."""

    __slots__ = ("directory",)

    def __init__(self, directory: str | None = None) -> None:
        self.directory = directory or os.environ.get(STORE_ENV) or default_dir()

    # --- paths ---

    def server_file(self, server: str) -> str:
        return os.path.join(self.directory, "servers", server_key(server) + ".json")

    def lock_file(self, name: str) -> str:
        return os.path.join(self.directory, "locks", name + ".lock")

    def state_file(self, name: str) -> str:
        """A per-process mark or note under `state/` (caches of facts: losing one costs at most a notice)."""
        return os.path.join(self.directory, "state", name)

    def health_file(self, server: str) -> str:
        return os.path.join(self.directory, "health", server_key(server) + ".json")

    def switches_file(self) -> str:
        return os.path.join(self.directory, "switches.json")

    def ensure(self, *parts: str) -> str:
        """The folder `<store>/<parts…>`, created 0700 with the store itself when missing."""
        path = self.directory
        ensure_private_dir(path)
        for part in parts:  # each level: makedirs gives missing parents the usual mode, not 0700
            path = os.path.join(path, part)
            ensure_private_dir(path)
        return path

    def ca_file(self, server: str, pem: str) -> str:
        """Rancher's CA written out as a file, for TLS libraries that want a path."""
        path = os.path.join(self.ensure("ca"), server_key(server) + ".pem")
        try:
            with open(path, encoding="utf-8") as handle:
                if handle.read() == pem:
                    return path
        except OSError:
            pass
        write_atomic(path, pem.encode(), mode=0o644)
        return path

    def drop_ca_unless_known(self, server: str) -> None:
        """Remove the CA file written for a server that has no record (a login that failed keeps nothing)."""
        if self.read(server) is not None:
            return
        try:
            os.unlink(os.path.join(self.directory, "ca", server_key(server) + ".pem"))
        except OSError:
            pass

    # --- locks ---

    def lock(self, name: str, timeout: float = LOCK_TIMEOUT):
        """A lock on `<store>/locks/<name>.lock`, never on a data file (Windows locks are mandatory)."""
        import filelock

        self.ensure("locks")
        return filelock.FileLock(self.lock_file(name), timeout=timeout)

    def locked(self, name: str, timeout: float, what: str):
        """Like lock(), but a timeout becomes a StoreError that says what was being waited for."""
        import contextlib

        import filelock

        @contextlib.contextmanager
        def held():
            try:
                with self.lock(name, timeout):
                    yield
            except filelock.Timeout:
                raise StoreError(
                    f"gave up after {timeout:.0f} s waiting for another kubectl-ace process {what}; "
                    f"if none is running, delete {self.lock_file(name)}"
                ) from None

        return held()

    @staticmethod
    def mint_lock(server: str, cluster: str | None) -> str:
        """The lock one process holds while it gets a new token for a cluster (the others wait and read)."""
        return f"{server_key(server)}.{cluster or '_'}.mint"

    @staticmethod
    def login_lock(server: str) -> str:
        """The lock of an interactive login: one prompt or browser tab at a time per server."""
        return f"{server_key(server)}.login"

    # --- permissions ---

    def keep_private(self, fd: int, path: str) -> None:
        """Repair an open server file readable by others to 0600, and its folders to 0700, warning once each."""
        mode = os.fstat(fd).st_mode & 0o777  # the file already open: no path lookup
        if mode & 0o077:
            try:
                os.fchmod(fd, 0o600)
                _warn(f"the token store file {path} was open to others (mode {mode:04o}); set it to 0600")
            except OSError as err:
                _warn(
                    f"the token store file {path} is open to others (mode {mode:04o}) and cannot be "
                    f"repaired: {err.strerror}"
                )
        for folder in (self.directory, os.path.dirname(path)):
            try:
                mode = os.stat(folder).st_mode & 0o777
                if mode & 0o077:
                    os.chmod(folder, 0o700)
                    _warn(f"the token store directory {folder} was open to others (mode {mode:04o}); set it to 0700")
            except OSError:
                pass

    # --- server records ---

    def read(self, server: str) -> ServerRecord | None:
        """The server's record, or None when there is none; StoreError when the file is unreadable or corrupt."""
        path = self.server_file(server)
        try:
            with open(path, "rb") as handle:  # bytes: parse() reports text that is not UTF-8
                text = handle.read()
                if PRIVATE_MODES:
                    self.keep_private(handle.fileno(), path)
        except FileNotFoundError:
            return None
        except NotADirectoryError:
            raise StoreError(not_a_directory(self.directory)) from None
        except OSError as err:
            raise StoreError(
                f"cannot read the token store {path}: {err.strerror}; check its owner and permissions"
            ) from None
        return parse(path, text, server)

    def servers(self) -> list[str]:
        """Every server with a record or a killed writer's temp file (it may hold secrets to revoke), in name order;
        corrupt files are skipped."""
        folder = os.path.join(self.directory, "servers")
        try:
            names = sorted(os.listdir(folder))
        except FileNotFoundError:
            return []
        except NotADirectoryError:
            raise StoreError(not_a_directory(self.directory)) from None
        found = []
        for name in names:
            pid = writer_of(name)
            if not name.endswith(".json") and (pid is None or is_running(pid)):
                continue
            try:
                with open(os.path.join(folder, name), encoding="utf-8") as handle:
                    found.append(str(jsonlite.loads(handle.read())["server"]))
            except (OSError, ValueError, KeyError, TypeError):
                continue
        return list(dict.fromkeys(found))

    def update(self, server: str, change, *, reset_corrupt: bool = False, forget: bool = False) -> ServerRecord | None:
        """Apply `change(record or None) -> record or None` under the server's lock and save it atomically.

        Returning None deletes the record (and, with forget, the killed writers' temp files logout revoked). With
        reset_corrupt a corrupt file is kept aside as `<file>.corrupt-<time>` and the change starts from nothing;
        otherwise it raises StoreError. Tokens in temp files of killed writers are kept as retired or pending
        (for logout) before those files go."""
        path = self.server_file(server)
        self.ensure("servers")
        with self.lock(server_key(server)):
            try:
                current = self.read(server)
            except StoreError:
                if not reset_corrupt:
                    raise
                aside = f"{path}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}"
                os.replace(path, aside)
                print(
                    f"kubectl-ace: the token store file {path} was corrupt; kept it as {aside} and started afresh",
                    file=sys.stderr,
                )
                current = None
            left = orphans(os.path.dirname(path), of=path)
            record = change(current)
            if record is None:
                if current is not None:
                    os.unlink(path)
                if forget:  # logout revoked what they held; any other change leaves them for the next write
                    remove_orphans(os.path.dirname(path), of=path)
                return None
            record.server = server
            now = time.time()
            record.keep_orphaned(read_orphans(left, server), now)
            record.prune(now)
            import json

            text = json.dumps(record.to_dict(FORMAT_VERSION), indent=1, sort_keys=True) + "\n"
            write_atomic(path, text.encode(), orphaned=left)
            return record

    # --- the edits ---

    def save_cluster_token(self, server: str, login: Login, cluster_key: str, entry: ClusterToken) -> None:
        """Keep a token just minted from `login` (which may have been replaced meanwhile: then under the new one)."""

        def put(current: ServerRecord | None) -> ServerRecord:
            current = current or ServerRecord(server)
            target = current.logins.setdefault(login.name, login)
            target.put_cluster(cluster_key, entry, time.time())
            return current

        self.update(server, put)

    def stamp_token(self, server: str, cluster_key: str, token: str, stamp: str, when: float) -> None:
        """Note on the held cluster token when it was last refused (`refused_at`) or accepted at ACE (`verified_at`)."""

        def put(current: ServerRecord | None) -> ServerRecord | None:
            for login in current.logins.values() if current else ():
                entry = login.cluster(cluster_key)
                if entry is not None and entry.token == token:
                    setattr(entry, stamp, when)
            return current

        self.update(server, put)

    def forget_login(self, server: str, user: str) -> None:
        """Drop a login's credential that Rancher refused, keeping its cluster tokens (they may work at ACE)."""

        def drop(current: ServerRecord | None) -> ServerRecord | None:
            if current is not None and user in current.logins:
                current.logins[user].token = ""
                current.logins[user].expires = 0
            return current

        self.update(server, drop)

    def save_login(self, server: str, login: Login, cacert: str | None, insecure: bool) -> Login | None:
        """Keep a new login as the server's current one; returns the login of that user it replaced, if any.

        Cluster tokens of the replaced login stay, and so do those `convert` moved in for this user before
        there was a login (an imported login is merged into it).
        """
        previous: list[Login] = []

        def put(record: ServerRecord | None) -> ServerRecord:
            record = record or ServerRecord(server)
            now = time.time()
            old = record.logins.get(login.name)
            if old is not None:
                previous.append(old)
                login.clusters = {**old.clusters, **login.clusters}
                login.retired = [*old.retired, *login.retired]
                login.succeed(old, now)
                if old.token and old.origin == "login":  # revoked by the caller; kept until that is done
                    login.retire("", ClusterToken(old.token, old.token_id, expires=old.expires), now, "login")
            for name, other in list(record.logins.items()):
                if other.origin == "imported" and name != login.name and login.user_id in (other.user_id, name):
                    for key, entry in other.clusters.items():
                        if login.clusters.setdefault(key, entry) is not entry:
                            login.retire(key, entry, now)
                    login.retired += other.retired
                    del record.logins[name]
            record.logins[login.name] = login
            record.current_user = login.name
            record.cacert = cacert
            record.insecure = insecure
            return record

        self.update(server, put, reset_corrupt=True)
        return previous[0] if previous else None

    def drop_retired(self, server: str, tokens: set[str]) -> None:
        """Forget retired tokens that were just revoked."""

        def drop(current: ServerRecord | None) -> ServerRecord | None:
            for login in current.logins.values() if current else ():
                login.retired = [old for old in login.retired if old.entry.token not in tokens]
            return current

        if tokens:
            self.update(server, drop)

    def delete(self, server: str) -> None:
        self.update(server, lambda current: None, forget=True)

    def drop_cluster(self, server: str, cluster: str) -> None:
        """Forget every login's token for one cluster; the logins stay."""

        def drop(current: ServerRecord | None) -> ServerRecord | None:
            for login in current.logins.values() if current else ():
                login.clusters.pop(cluster, None)
            return current

        self.update(server, drop)

    def adopt_tokens(
        self, server: str, items: list[tuple[str, ClusterToken, str]], cacert: str | None, insecure: bool
    ) -> int:
        """Keep tokens found in a kubeconfig, each given as (cluster key, token, its owner's user id or "").

        A token goes under the current login unless that is another user's; else under an "imported" login
        with no credential of its own (it cannot mint). A usable token that outlives the found one stays.
        Returns how many were kept.
        """
        kept = [0]

        def put(record: ServerRecord | None) -> ServerRecord:
            record = record or ServerRecord(server, cacert, insecure)
            now = time.time()
            for key, entry, user_id in items:
                login = record.login(None)
                if login is None or (user_id and login.user_id and login.user_id != user_id):
                    name = user_id or "imported"
                    login = record.logins.setdefault(name, Login(name, user_id=user_id, origin="imported", created=now))
                    if record.current_user not in record.logins:
                        record.current_user = name
                old = login.cluster(key)
                if (
                    old is not None
                    and old.token != entry.token
                    and old.is_usable(now)
                    and entry.expires is not None
                    and (old.expires is None or old.expires > entry.expires)
                ):
                    continue
                login.put_cluster(key, entry, now)
                kept[0] += 1
            return record

        self.update(server, put)
        return kept[0]

    def ensure_record(self, server: str, cacert: str | None, insecure: bool) -> None:
        """A record that says how to trust Rancher, for a server nobody logged in to yet."""
        self.update(server, lambda current: current or ServerRecord(server, cacert, insecure))

    # --- issue 11 (token API per server) ---

    def remember_token_api(self, server: str, api: str) -> None:
        """Keep which token API ("v3" or "ext") mints the server's cluster tokens, in its record if it has one."""

        def put(current: ServerRecord | None) -> ServerRecord | None:
            if current is not None:
                current.token_api = api
            return current

        self.update(server, put)


PRIVATE_MODES = sys.platform != "win32"  # POSIX modes; Windows keeps the store private by its ACLs


def blocking_file(directory: str) -> str | None:
    """The file standing where the store directory (or one of its parents) should be, if any."""
    path = os.path.abspath(directory)
    while not os.path.exists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    return None if os.path.isdir(path) else path


def not_a_directory(directory: str) -> str:
    """One line: the store path is a file."""
    blocker = blocking_file(directory) or directory
    where = "" if os.path.abspath(directory) == blocker else f" ({blocker} is)"
    return f"the token store {directory} is a file, not a directory{where}; pass --store DIR or move the file away"


def _warn(message: str) -> None:
    print(f"kubectl-ace: {message}", file=sys.stderr)


def read_orphans(paths: list[str], server: str) -> list[ServerRecord]:
    """The records in temp files of killed writers; one cut off mid-write holds nothing readable."""
    found = []
    for tmp in paths:
        try:
            with open(tmp, encoding="utf-8") as handle:
                found.append(parse(tmp, handle.read(), server))
        except (OSError, ValueError, StoreError):  # ValueError: not UTF-8
            continue
    return found


def parse(path: str, text: str | bytes, server: str) -> ServerRecord:
    """A server file's text as a record; StoreError (with the fix) when it is not one."""
    try:  # UnicodeDecodeError is a ValueError; RecursionError: nested too deep to be a store file
        data = jsonlite.loads(text if isinstance(text, str) else text.decode("utf-8"))
    except (ValueError, RecursionError) as err:
        raise StoreError(
            f"the token store file {path} is corrupt ({str(err)[:100]}); run `kubectl ace login --server {server}` "
            "to start it afresh (the old file is kept beside it)"
        ) from None
    damaged = StoreError(
        f"the token store file {path} is not a kubectl-ace store; run "
        f"`kubectl ace login --server {server}` to start it afresh (the old file is kept beside it)"
    )
    version = data.get("version", FORMAT_VERSION) if isinstance(data, dict) else None
    if not isinstance(version, int) or not isinstance(data.get("logins", {}), dict):
        raise damaged
    if version > FORMAT_VERSION:
        raise StoreError(f"the token store file {path} was written by a newer kubectl-ace; upgrade kubectl-ace")
    try:
        return ServerRecord.from_dict(data)
    except (AttributeError, TypeError, ValueError):
        raise damaged from None
