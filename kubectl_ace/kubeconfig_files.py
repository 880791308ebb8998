"""Kubeconfig files loaded, merged and written back by client-go's rules (which file gets what), atomically."""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field

import yaml

from kubectl_ace.credential import EXTENSION_NAME, decode_ca
from kubectl_ace.errors import InputError
from kubectl_ace.files import write_atomic
from kubectl_ace.kubectl_process import kubeconfig_files
from kubectl_ace.store import Store
from kubectl_ace.urls import normalize_server

CURRENT_CONTEXT_LINE = re.compile(r"^current-context:[ \t]*(?P<value>.*?)[ \t]*$", re.MULTILINE)
PLAIN_SCALAR = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@/-]*$")


@dataclass
class Entry:
    """A named cluster, user or context, and the file it came from."""

    name: str
    body: dict
    path: str


@dataclass
class Kubeconfig:
    """The merged view of the files kubectl would read, remembering where each entry came from."""

    paths: list[str]
    explicit: bool
    clusters: dict[str, Entry] = field(default_factory=dict)
    users: dict[str, Entry] = field(default_factory=dict)
    contexts: dict[str, Entry] = field(default_factory=dict)
    current_context: str = ""

    def context(self, name: str) -> Entry:
        if name not in self.contexts:
            raise InputError(f"context {name!r} is not in the kubeconfig ({', '.join(self.paths)})")
        return self.contexts[name]

    def cluster_of(self, context: str) -> Entry | None:
        return self.clusters.get(self.context(context).body.get("cluster", ""))

    def user_of(self, context: str) -> str:
        return self.context(context).body.get("user", "")


def file_list(explicit: str | None = None, environ: dict | None = None) -> tuple[list[str], bool]:
    """The files kubectl reads: --kubeconfig alone, else every KUBECONFIG entry, else ~/.kube/config."""
    return kubeconfig_files(explicit, environ)


def load(explicit: str | None = None, environ: dict | None = None) -> Kubeconfig:
    """Merge like client-go: the first file to name an entry or set current-context wins."""
    paths, is_explicit = file_list(explicit, environ)
    config = Kubeconfig(paths=paths, explicit=is_explicit)
    for path in paths:
        data = read_file(path, must_exist=is_explicit)
        if data is None:
            continue
        for key, target in (("clusters", config.clusters), ("users", config.users), ("contexts", config.contexts)):
            for item in data.get(key) or []:
                if isinstance(item, dict) and item.get("name") and item["name"] not in target:
                    inner = key[:-1]
                    target[item["name"]] = Entry(item["name"], item.get(inner) or {}, path)
        if not config.current_context and data.get("current-context"):
            config.current_context = data["current-context"]
    return config


def read_file(path: str, must_exist: bool = False) -> dict | None:
    """One kubeconfig file as data; None for a missing or empty file; InputError for one that is not a kubeconfig."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        if must_exist:
            raise InputError(f"kubeconfig {path} does not exist") from None
        return None
    except OSError as err:
        raise InputError(f"cannot read kubeconfig {path}: {err.strerror}") from None
    except UnicodeDecodeError:
        raise InputError(f"kubeconfig {path} is not UTF-8 text; fix or move it") from None
    return parse(text, path)


def parse(text: str, path: str) -> dict | None:
    try:
        data = yaml.safe_load(text)
    except RecursionError:
        raise InputError(f"{path} is nested too deeply to be a kubeconfig; fix or move it") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        subject = path if path.startswith("the ") else f"kubeconfig {path}"  # a file, or a described text
        raise InputError(f"{subject} is not valid YAML{where}; fix or move it") from None
    if data is None:
        return None
    if not isinstance(data, dict) or not all(
        isinstance(data.get(k) or [], list) for k in ("clusters", "users", "contexts")
    ):
        raise InputError(f"{path} is not a kubeconfig (expected a mapping with clusters, users and contexts lists)")
    for key, inner in ENTRY_KINDS:  # entries kubectl itself refuses to load (a name and a mapping each)
        if not all(
            isinstance(i, dict) and isinstance(i.get("name"), str) and isinstance(i.get(inner) or {}, dict)
            for i in data.get(key) or []
        ) or not isinstance(data.get("current-context") or "", str):
            raise InputError(f"{path} is not a kubeconfig (a {inner} entry or the current-context has the wrong type)")
    return data


# --- writing ---


def current_context_file(config: Kubeconfig) -> str:
    """Where client-go writes a new current-context (writeCurrentContext)."""
    if config.explicit:
        return config.paths[0]
    for path in config.paths:
        data = read_file(path)
        if data and data.get("current-context"):
            return path
    return default_file(config)


def default_file(config: Kubeconfig) -> str:
    """client-go's GetDefaultFilename: the explicit file, the only file, the first that exists, else the last."""
    if config.explicit or len(config.paths) == 1:
        return config.paths[0]
    for path in config.paths:
        if os.path.exists(path):
            return path
    return config.paths[-1]


def set_current_context(config: Kubeconfig, name: str, store: Store, *, only_if: str | None = None) -> bool:
    """Make `name` the current context, editing only that line of the right file, under a lock, atomically.

    With only_if, the change is made only while the current context is still `only_if` (so that
    parallel processes switch once and never undo a user's choice made meanwhile). Returns whether
    it changed anything.
    """
    path = current_context_file(config)
    with locked_file(path, store):
        fresh = load(
            config.paths[0] if config.explicit else None,
            None if config.explicit else {"KUBECONFIG": os.pathsep.join(config.paths)},
        )
        if fresh.current_context == name or (only_if is not None and fresh.current_context != only_if):
            return False
        edit_file(path, lambda text: with_current_context(text, name, path))
        return True


def with_current_context(text: str, name: str, path: str) -> str:
    """The file's text with current-context set to `name` and nothing else changed."""
    before = parse(text, path) or {}
    if text.lstrip().startswith("{"):
        data = json.loads(text)
        data["current-context"] = name
        result = json.dumps(data, indent=2) + "\n"
    else:
        match = CURRENT_CONTEXT_LINE.search(text)
        if match:
            old = match["value"]
            result = text[: match.start("value")] + quote_like(name, old) + text[match.end("value") :]
        else:
            result = (
                text + ("" if text.endswith("\n") or not text else "\n") + f"current-context: {quote_like(name, '')}\n"
            )
    after = parse(result, path) or {}
    if {k: v for k, v in after.items() if k != "current-context"} != {
        k: v for k, v in before.items() if k != "current-context"
    } or after.get("current-context") != name:
        raise InputError(
            f"cannot set current-context in {path} without changing other lines; run: kubectl config use-context {name}"
        )
    return result


def quote_like(value: str, old: str) -> str:
    """Quote `value` the way the old value was quoted, or plainly when YAML allows it."""
    if old.startswith("'"):
        return "'" + value.replace("'", "''") + "'"
    if (
        old.startswith('"')
        or not PLAIN_SCALAR.match(value)
        or value.lower() in ("true", "false", "null", "yes", "no", "on", "off", "~")
    ):
        return json.dumps(value)
    return value


def edit_file(path: str, change, *, whole: bool = False) -> None:
    """Rewrite a kubeconfig through `change(text) -> text`, atomically, keeping its mode (and its symlink).

    Call it holding locked_file(path). A file that exists but reads empty is never written back (a writer
    that truncates in place, as kubectl does, may be half-way), unless `whole` replaces the file outright.
    """
    real = os.path.realpath(path)
    try:
        with open(real, encoding="utf-8") as handle:
            text = handle.read()
            mode = os.fstat(handle.fileno()).st_mode & 0o777
    except FileNotFoundError:
        text, mode = None, 0o600
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read kubeconfig {path}: {getattr(err, 'strerror', None) or err}") from None
    if text is not None and not text.strip() and not whole:
        raise InputError(
            f"kubeconfig {path} reads as empty (another program may be rewriting it); left it "
            "unchanged; rerun, or delete the file if it should be empty"
        )
    new = change(text or "")
    if new != (text or ""):
        write_atomic(real, new.encode("utf-8"), mode=mode)


LOCK_WAIT = 10.0  # kubectl holds its lock for milliseconds; longer means a crashed writer left it behind
LOCK_NOTICE_AFTER = 0.5  # say what is being waited for once the wait is long enough to be noticed


def lock_name(path: str) -> str:
    """client-go's lockName: the kubeconfig path as given, plus `.lock`."""
    return path + ".lock"


@contextlib.contextmanager
def locked_file(path: str, store: Store | None = None, timeout: float = LOCK_WAIT):
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


# --- reading cluster entries ---


def ca_pem(cluster: dict) -> str:
    """The cluster's CA as PEM, from certificate-authority-data or the certificate-authority file."""
    if cluster.get("certificate-authority-data"):
        return decode_ca(cluster["certificate-authority-data"])
    if cluster.get("certificate-authority"):
        try:
            with open(os.path.expanduser(cluster["certificate-authority"]), encoding="utf-8") as handle:
                return handle.read()
        except OSError:
            return ""
    return ""


def context_for_server(config: Kubeconfig, server_url: str) -> list[str]:
    """Contexts whose cluster has this server URL."""
    wanted = server_url.rstrip("/")
    return [
        name
        for name in config.contexts
        if (config.cluster_of(name) or Entry("", {}, "")).body.get("server", "").rstrip("/") == wanted
    ]


# --- writing whole entries (kubectl ace kubeconfig, convert) ---

ENTRY_KINDS = (("clusters", "cluster"), ("users", "user"), ("contexts", "context"))
INSTALL_HINT = "kubectl-ace is needed for this cluster; install it with `kubectl krew install ace`."


def exec_user(server: str, cluster_id: str | None, extra_args: list[str] | tuple = ()) -> dict:
    """The user body kubectl-ace writes: DESIGN.md's exec stanza for one Rancher cluster."""
    from kubectl_ace.credential import V1

    args = ["token", f"--server={normalize_server(server)}"]
    if cluster_id:
        args.append(f"--cluster={cluster_id}")
    return {
        "exec": {
            "apiVersion": V1,
            "command": "kubectl-ace",
            "args": args + list(extra_args),
            "interactiveMode": "IfAvailable",
            "provideClusterInfo": True,
            "installHint": INSTALL_HINT,
        }
    }


def with_extension(body: dict, server: str, cluster_id: str, endpoint: str) -> dict:
    """A copy of a cluster body carrying kubectl-ace's exec extension; other extensions (and keys) are kept."""
    ours = {"server": normalize_server(server), "clusterId": cluster_id, "endpoint": endpoint}
    result = dict(body)
    extensions = [dict(item) if isinstance(item, dict) else item for item in body.get("extensions") or []]
    for item in extensions:
        if isinstance(item, dict) and item.get("name") == EXTENSION_NAME:
            inner = item.get("extension")
            item["extension"] = {**(inner if isinstance(inner, dict) else {}), "kubectl-ace": ours}
            break
    else:
        extensions.append({"name": EXTENSION_NAME, "extension": {"kubectl-ace": ours}})
    result["extensions"] = extensions
    return result


def dump(data: dict, like: str = "") -> str:
    """Kubeconfig data as text: JSON when the file it replaces was JSON, else block YAML with long lines kept whole."""
    if like.lstrip().startswith("{"):
        return json.dumps(data, indent=2) + "\n"
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True, width=1_000_000)


def new_config() -> dict:
    """An empty kubeconfig as kubectl writes one."""
    return {"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [], "contexts": []}


def upsert(data: dict, key: str, item: dict) -> str:
    """Replace data[key]'s entry of that name in place, else append it: "added", "updated" or "same"."""
    items = data.get(key)
    if not isinstance(items, list):
        items = data[key] = []
    for index, old in enumerate(items):
        if isinstance(old, dict) and old.get("name") == item["name"]:
            if old == item:
                return "same"
            items[index] = item
            return "updated"
    items.append(item)
    return "added"


def keep_extensions(new: dict, old: dict | None) -> dict:
    """A replacement cluster entry that keeps the other extensions the old entry had."""
    if not old or not isinstance(old.get("cluster"), dict):
        return new
    theirs = [
        item
        for item in old["cluster"].get("extensions") or []
        if not (isinstance(item, dict) and item.get("name") == EXTENSION_NAME)
    ]
    if not theirs:
        return new
    body = dict(new["cluster"])
    body["extensions"] = theirs + list(body.get("extensions") or [])
    return {**new, "cluster": body}


@dataclass
class MergeResult:
    """What merge_entries did to each file."""

    added: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    current_context: str = ""

    @property
    def files(self) -> list[str]:
        return sorted(set(self.added) | set(self.updated))


def merge_entries(
    config: Kubeconfig, entries: dict[str, list[dict]], store: Store, current_context: str | None = None
) -> MergeResult:
    """Write entries by client-go's rules: existing ones in their own file, new ones in the default file."""
    # current_context is set (where client-go would write it) only when the merged config has none.
    target = default_file(config)
    plan: dict[str, list[tuple[str, dict]]] = {}
    for key, _ in ENTRY_KINDS:
        table = getattr(config, key)
        for item in entries.get(key) or []:
            path = table[item["name"]].path if item["name"] in table else target
            plan.setdefault(path, []).append((key, item))
    set_current = current_context if current_context and not config.current_context else ""
    current_file = current_context_file(config)
    if set_current:
        plan.setdefault(current_file, [])
    result = MergeResult(current_context=set_current)
    for path, items in plan.items():
        counts = {"added": 0, "updated": 0, "same": 0}

        def change(text: str, path: str = path, items: list = items, counts: dict = counts) -> str:
            data = parse(text, path) if text.strip() else None
            data = new_config() if data is None else data
            for key, item in items:
                old = next(
                    (e for e in data.get(key) or [] if isinstance(e, dict) and e.get("name") == item["name"]), None
                )
                counts[upsert(data, key, keep_extensions(item, old) if key == "clusters" else item)] += 1
            touched = counts["added"] + counts["updated"]
            if set_current and path == current_file and not data.get("current-context"):
                data["current-context"] = set_current
                touched += 1
            return dump(data, text) if touched else text

        ensure_parent(path)
        with locked_file(path, store):
            edit_file(path, change)
        if counts["added"] or counts["updated"]:
            result.added[path] = counts["added"]
            result.updated[path] = counts["updated"]
    return result


def write_new(path: str, data: dict, store: Store) -> None:
    """Replace a kubeconfig file whole (kubectl ace kubeconfig -o): atomically, keeping its mode, else 0600."""
    ensure_parent(path)
    with locked_file(path, store):
        edit_file(path, lambda text: dump(data, text), whole=True)


def ensure_parent(path: str) -> None:
    """Create the folder a new kubeconfig goes into (~/.kube on a fresh machine)."""
    folder = os.path.dirname(os.path.realpath(path))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as err:
        raise InputError(f"cannot create {folder} for the kubeconfig: {err.strerror}") from None


def require_contexts(config: Kubeconfig) -> Kubeconfig:
    """The kubeconfig when it has contexts; else InputError: there is no kubeconfig (and where kubectl looked)."""
    if not config.contexts:
        where, one = ", ".join(config.paths), len(config.paths) == 1
        missing = not any(os.path.exists(path) for path in config.paths)
        what = f"no kubeconfig: {where} {'does' if one else 'do'} not exist" if missing else f"no contexts in {where}"
        raise InputError(f"{what}; fetch them: kubectl ace kubeconfig --all --merge (after kubectl ace login)")
    return config
