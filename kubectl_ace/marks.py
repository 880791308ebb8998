"""Small files the exec path keeps about the kubectl processes that run it (stdlib only).

client-go gives a plugin no way to tell a fresh call from a re-run after a 401, nor a way to tell
other plugin processes why a login failed; these marks, kept under `<store>/state/`, do both.
They are caches of facts about short-lived processes: losing one costs at most one notice.
`req` is a kubectl_ace.tokens.Request throughout.
"""

from __future__ import annotations

import os
import time

from kubectl_ace import caller, store
from kubectl_ace.errors import StoreError

STARTED = time.time()  # when this process started: a login that failed since then was meant for us too


# --- which token each kubectl process got (a second ask before expiry means a 401) ---

def handout_dir(req) -> str:
    return os.path.join(req.directory, "state", f"handed-{store.server_key(req.server)}-{req.cluster or '_'}")


def handed_to_this_caller(req, entry: dict) -> bool:
    """Did this very kubectl process already get this token? (client-go asks again only after a 401 or expiry.)

    One small file per kubectl process: parallel kubectl runs must not overwrite each other's marks.
    """
    try:
        with open(os.path.join(handout_dir(req), caller.file_key()), encoding="utf-8") as handle:
            return handle.read() == entry.get("token_id")
    except OSError:
        return False


def remember_handout(req, token: str) -> None:
    """The one small write of the hot path: which token this kubectl process got."""
    folder = handout_dir(req)
    try:
        if not os.path.isdir(folder):
            store.ensure_dir(req.directory)
            store.ensure_dir(os.path.dirname(folder))
            store.ensure_dir(folder)
        store.write_atomic(os.path.join(folder, caller.file_key()),
                           token.partition(":")[0].removeprefix("ext/").encode(), durable=False)
    except StoreError:
        pass  # losing the mark only costs noticing one rejection


def prune_handouts(req, older_than: float = 86400.0) -> None:
    """Forget the marks of kubectl processes long gone (done on the mint path, never the hot path)."""
    folder = handout_dir(req)
    now = time.time()
    try:
        for name in os.listdir(folder):
            path = os.path.join(folder, name)
            if now - os.stat(path).st_mtime > older_than:
                os.unlink(path)
    except OSError:
        pass


# --- why the last exec-path login failed, and which kubectl processes were told ---


def login_failure_path(req) -> str:
    return os.path.join(req.directory, "state", f"login-failed-{store.server_key(req.server)}")


def note_login_failure(req, why: str) -> None:
    """Tell the processes waiting for this login, and the kubectl it failed for, why it failed (one line, no secrets)."""
    write_login_failure(req, time.time(), why, [caller_key()] if req.from_kubectl else [])


def recent_login_failure(req) -> tuple[str, bool]:
    """Why a login failed since this process started or for the kubectl running it ("" when none did),
    and whether that kubectl was already told.

    Called under the login lock. A kubectl told about the failure is remembered: it runs the plugin
    again for each of its later requests, and those runs must not prompt again either.
    """
    from kubectl_ace import jsonlite
    try:
        with open(login_failure_path(req), encoding="utf-8") as handle:
            data = jsonlite.loads(handle.read())
        at, why, callers = float(data["at"]), str(data["why"]), [str(c) for c in data.get("callers") or []]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return "", False
    me = caller_key() if req.from_kubectl else ""
    if me and me in callers and time.time() - at < 600:
        return why, True  # kubectl runs the plugin again within seconds; a long-lived client is asked again later
    if at < STARTED:
        return "", False
    if me:
        write_login_failure(req, at, why, callers + [me])
    return why, False


def write_login_failure(req, at: float, why: str, callers: list[str]) -> None:
    import json
    try:
        store.ensure_dir(os.path.join(req.directory, "state"))
        store.write_atomic(login_failure_path(req), json.dumps({"at": at, "why": why, "callers": callers[-64:]})
                           .encode(), durable=False)
    except StoreError:
        pass  # the waiters then try a login of their own


def caller_key() -> str:
    """The kubectl process that runs this plugin (only meaningful when run by kubectl)."""
    return caller.file_key()
