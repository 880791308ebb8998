"""Kubeconfig files loaded, merged and written back by client-go's rules (which file gets what), atomically."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import yaml

from kubectl_ace import kubeconfig_index, kubeconfig_text
from kubectl_ace.credential import EXTENSION_NAME
from kubectl_ace.errors import InputError
from kubectl_ace.files import write_atomic
from kubectl_ace.kubeconfig_lock import locked_file
from kubectl_ace.kubeconfig_yaml import DUMPER, ca_pem, parse
from kubectl_ace.kubectl_process import kubeconfig_files
from kubectl_ace.store import Store
from kubectl_ace.urls import normalize_server

__all__ = ["ca_pem", "locked_file", "parse"]  # kept here for callers: kubeconfig_yaml.py, kubeconfig_lock.py


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
    # What this command read of each file: its text and its parse (so no file is parsed twice in one command), or,
    # for a view from the index (kubeconfig_view.py), where in that text the index proved current-context's value.
    texts: dict[str, str] = field(default_factory=dict, repr=False)
    data: dict[str, dict | None] = field(default_factory=dict, repr=False)
    spans: dict[str, tuple[int, int]] = field(default_factory=dict, repr=False)

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
    # The parse cache (kubeconfig_index.py) lives in the default store (commands pass no --store here), and only
    # once that exists: reading a kubeconfig never creates a store.
    store = Store()
    cache = os.path.isdir(store.directory)
    for path in paths:
        raw = read_bytes(path, must_exist=is_explicit)
        if raw is None:
            continue
        text = config.texts[path] = decode(raw, path)
        data = config.data[path] = kubeconfig_index.parsed(store, path, raw) if cache else parse(text, path)
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
    text = read_text(path, must_exist)
    return None if text is None else parse(text, path)


def read_text(path: str, must_exist: bool = False) -> str | None:
    """One kubeconfig file's text; None for a missing file."""
    raw = read_bytes(path, must_exist)
    return None if raw is None else decode(raw, path)


def decode(raw: bytes, path: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"kubeconfig {path} is not UTF-8 text") from None


def read_bytes(path: str, must_exist: bool = False) -> bytes | None:
    """One kubeconfig file's bytes; None for a missing file."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        if must_exist:
            raise InputError(f"kubeconfig {path} does not exist") from None
        return None
    except OSError as err:
        raise InputError(f"cannot read kubeconfig {path}: {err.strerror}") from None


# --- writing ---


def current_context_file(config: Kubeconfig) -> str:
    """Where client-go writes a new current-context (writeCurrentContext): the first file that sets one, as now."""
    if config.explicit:
        return config.paths[0]
    for path, value in fresh_currents(config):
        if value:
            return path
    return default_file(config)


def current_context_now(config: Kubeconfig) -> str:
    """The merged current-context as the files say now (a file unchanged since load is not parsed again)."""
    return next((value for _, value in fresh_currents(config) if value), "")


def fresh_currents(config: Kubeconfig):
    """Each existing file's current-context as it is now, in kubectl's order."""
    for path in config.paths:
        text = read_text(path)
        if text is not None:
            yield path, file_current(config, path, text)


def file_current(config: Kubeconfig, path: str, text: str) -> str:
    """A file's current-context: from what this command knows of this very text (its parse, or the value's place
    its index proved), else from a parse, which the command then knows."""
    if text == config.texts.get(path):
        span = config.spans.get(path)
        value = kubeconfig_text.decode(text[span[0] : span[1]]) if span else None
        if value is not None:
            return value
        if path in config.data:
            return str((config.data[path] or {}).get("current-context") or "")
    config.texts[path], config.data[path] = text, parse(text, path)
    config.spans.pop(path, None)
    return str((config.data[path] or {}).get("current-context") or "")


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
        current = current_context_now(config)
        if current == name or (only_if is not None and current != only_if):
            return False
        edit_file(path, lambda text: edited_current_context(config, path, text, name))
        return True


def edited_current_context(config: Kubeconfig, path: str, text: str, name: str) -> str:
    """The text with current-context `name`: a line edit, proven by this command's parse of the same text or by the
    index's proof of where the value is (no parse at all), else checked by parsing before and after."""
    same = text == config.texts.get(path)
    span = config.spans.get(path) if same else None
    known = None
    if span is None:
        known = config.data[path] if same and path in config.data else parse(text, path)
        span = kubeconfig_text.proven_span(text, known)
    result = kubeconfig_text.replace_value(text, span, name) if span else None
    config.spans.pop(path, None)
    if result is None:
        result = with_current_context(text, name, path, known)
        config.data[path] = parse(result, path)
    elif known is None:  # the index's proof holds for the new value too: only the value changed
        new_span = kubeconfig_text.value_span(result)
        if new_span is not None:
            config.spans[path] = new_span
        config.data.pop(path, None)
    else:
        config.data[path] = {**(known or {}), "current-context": name}  # the same parse, but for the one value
    config.texts[path] = result
    return result


def with_current_context(text: str, name: str, path: str, before: dict | None = None) -> str:
    """The file's text with current-context set to `name` and nothing else changed (checked by parsing)."""
    before = (parse(text, path) if before is None else before) or {}
    if text.lstrip().startswith("{"):
        data = json.loads(text)
        data["current-context"] = name
        result = json.dumps(data, indent=2) + "\n"
    else:
        span = kubeconfig_text.value_span(text)
        if span:
            result = text[: span[0]] + kubeconfig_text.quote(name, text[span[0] : span[1]]) + text[span[1] :]
            if span[0] == span[1] and text[span[0] - 1 : span[0]] == ":":
                result = text[: span[0]] + " " + result[span[0] :]
        else:
            quoted = kubeconfig_text.quote(name, "")
            result = text + ("" if text.endswith("\n") or not text else "\n") + f"current-context: {quoted}\n"
    after = parse(result, path) or {}
    if {k: v for k, v in after.items() if k != "current-context"} != {
        k: v for k, v in before.items() if k != "current-context"
    } or after.get("current-context") != name:
        raise InputError(
            f"cannot set current-context in {path} without changing other lines; run: kubectl config use-context {name}"
        )
    return result


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


# --- reading cluster entries ---


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
    return yaml.dump(
        data, Dumper=DUMPER, sort_keys=False, default_flow_style=False, allow_unicode=True, width=1_000_000
    )


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
            # The parse load() made of this very text, if it has not changed since (the config is stale after this).
            known = path in config.data and text == config.texts.get(path)
            data = config.data[path] if known else parse(text, path) if text.strip() else None
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
            if not touched:
                return text
            config.texts[path], config.data[path] = dump(data, text), data
            return config.texts[path]

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
