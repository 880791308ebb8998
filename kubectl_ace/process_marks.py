"""Small files the exec path keeps about the kubectl processes that run it (stdlib only).

client-go gives a plugin no way to tell a fresh call from a re-run after a 401, nor a way to tell
other plugin processes why a login failed; these marks, kept under `<store>/state/`, do both.
They are caches of facts about short-lived processes: losing one costs at most one notice.
"""

import os
import time

from kubectl_ace import kubectl_process
from kubectl_ace.errors import StoreError
from kubectl_ace.files import write_atomic
from kubectl_ace.records import ClusterToken, token_id_of
from kubectl_ace.store import Store
from kubectl_ace.urls import server_key

STARTED = time.time()  # when this process started: a login that failed since then was meant for us too
TOLD_FOR = 600.0  # kubectl runs the plugin again within seconds; a long-lived client is asked again later


# --- which token each kubectl process got (a second ask before expiry means a 401) ---


def handout_dir(store: Store, server: str, cluster: str | None) -> str:
    return store.state_file(f"handed-{server_key(server)}-{cluster or '_'}")


def handed_to_this_kubectl(store: Store, server: str, cluster: str | None, entry: ClusterToken) -> bool:
    """Did this very kubectl process already get this token? (client-go asks again only after a 401 or expiry.)

    One small file per kubectl process: parallel kubectl runs must not overwrite each other's marks.
    """
    try:
        with open(
            os.path.join(handout_dir(store, server, cluster), kubectl_process.file_key()), encoding="utf-8"
        ) as handle:
            return handle.read() == entry.token_id
    except OSError:
        return False


def remember_handout(store: Store, server: str, cluster: str | None, token: str) -> None:
    """The one small write of the hot path: which token this kubectl process got."""
    folder = handout_dir(store, server, cluster)
    try:
        if not os.path.isdir(folder):
            store.ensure("state", os.path.basename(folder))
        write_atomic(os.path.join(folder, kubectl_process.file_key()), token_id_of(token).encode(), durable=False)
    except StoreError:
        pass  # losing the mark only costs noticing one rejection


def prune_handouts(store: Store, server: str, cluster: str | None, older_than: float = 86400.0) -> None:
    """Forget the marks of kubectl processes long gone (done on the mint path, never the hot path)."""
    folder = handout_dir(store, server, cluster)
    now = time.time()
    try:
        for name in os.listdir(folder):
            path = os.path.join(folder, name)
            if now - os.stat(path).st_mtime > older_than:
                os.unlink(path)
    except OSError:
        pass


# --- why the last exec-path login failed, and which kubectl processes were told ---


def login_failure_path(store: Store, server: str) -> str:
    return store.state_file(f"login-failed-{server_key(server)}")


def note_login_failure(store: Store, server: str, why: str, from_kubectl: bool) -> None:
    """Tell the processes waiting for this login, and the kubectl it failed for, why it failed (no secrets)."""
    write_login_failure(store, server, time.time(), why, [kubectl_process.file_key()] if from_kubectl else [])


def recent_login_failure(store: Store, server: str, from_kubectl: bool) -> tuple[str, bool]:
    """Why a login failed since this process started or for the kubectl running it ("" when none did),
    and whether that kubectl was already told.

    Called under the login lock. A kubectl told about the failure is remembered: it runs the plugin
    again for each of its later requests, and those runs must not prompt again either.
    """
    from kubectl_ace import jsonlite

    try:
        with open(login_failure_path(store, server), encoding="utf-8") as handle:
            data = jsonlite.loads(handle.read())
        at, why, callers = float(data["at"]), str(data["why"]), [str(c) for c in data.get("callers") or []]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return "", False
    me = kubectl_process.file_key() if from_kubectl else ""
    if me and me in callers and time.time() - at < TOLD_FOR:
        return why, True
    if at < STARTED:
        return "", False
    if me:
        write_login_failure(store, server, at, why, callers + [me])
    return why, False


def write_login_failure(store: Store, server: str, at: float, why: str, callers: list[str]) -> None:
    import json

    try:
        store.ensure("state")
        write_atomic(
            login_failure_path(store, server),
            json.dumps({"at": at, "why": why, "callers": callers[-64:]}).encode(),
            durable=False,
        )
    except StoreError:
        pass  # the waiters then try a login of their own
