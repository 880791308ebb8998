"""Onboarding: turn Rancher's kubeconfigs (downloaded from the UI or fetched with generateKubeconfig) into
kubeconfigs whose users run kubectl-ace, and keep the tokens found in them in the token store.

What Rancher writes (research/rancher-api.md §1.2, §4.3): one user named after the cluster, with either
`token: "<name>:<secret>"` or a `rancher token` exec stanza; a proxy cluster
`https://<rancher>/k8s/clusters/<id>`; for ACE an `<name>-fqdn` entry or one `<name>-<node>` entry per
control-plane node, all using that user. Rancher ≤ 2.11 HTML-escaped every value (`+` → `&#43;`).
"""

from __future__ import annotations

import copy
import html
import os
import re
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import quote

from kubectl_ace import kubeconfig, store, tokens
from kubectl_ace.errors import (AceError, AuthenticationFailed, InputError, NotLoggedIn, RancherError,
                                RancherUnreachable, UsageError)

WORKERS = 8  # generateKubeconfig calls in flight at once: enough for 200 clusters, gentle on Rancher
RANCHER_VALUE_FLAGS = ("--server", "--user", "--cluster", "--auth-provider", "--auth-flow", "--cacerts")
CARRIED_VALUE_FLAGS = ("--cacerts", "--auth-provider")  # what `kubectl-ace token` needs from `rancher token`
CARRIED_BOOL_FLAGS = ("--skip-verify",)
TOKEN_LINE = re.compile(r"""^\s*token:\s*["']?([^"':\s]+):""", re.MULTILINE)


# --- converting one kubeconfig's data ---

@dataclass
class FoundToken:
    """A Rancher token found in a kubeconfig user that is being converted."""

    server: str
    cluster_id: str   # "" when the user serves several clusters (an unscoped token)
    token: str = field(repr=False)
    user: str = ""    # the kubeconfig user it was found in
    ca_pem: str = ""  # the CA of the Rancher proxy entry, for a store record that has none yet
    insecure: bool = False

    @property
    def name(self) -> str:
        from kubectl_ace.rancher.tokens import token_id
        return token_id(self.token)


@dataclass
class Conversion:
    """A kubeconfig's data before and after conversion, and what was found on the way."""

    original: dict
    data: dict
    users: list[str] = field(default_factory=list)          # users rewritten to the kubectl-ace exec stanza
    clusters: list[str] = field(default_factory=list)       # cluster entries given the extension
    found: list[FoundToken] = field(default_factory=list)   # tokens taken out of the users
    servers: dict[str, tuple[str, bool]] = field(default_factory=dict)  # server → (Rancher CA PEM, insecure)
    rancher_users: int = 0                                  # Rancher users seen, converted or not

    @property
    def changed(self) -> bool:
        return self.data != self.original


@dataclass
class _Plan:
    """How one Rancher user and its entries are converted."""

    user: str
    kind: str            # "token", "rancher" or "ace"
    server: str
    cluster_id: str
    carried: list[str]
    contexts: list[dict]
    endpoints: dict[str, tuple[str, str]]  # cluster entry name → (cluster id, proxy|fqdn|node)


def convert_data(data: dict | None, label: str) -> Conversion:
    """Rancher users → kubectl-ace exec users, Rancher clusters marked, the rest untouched; InputError if unsafe."""
    check_shape(data, label)
    assert data is not None
    result = copy.deepcopy(data)
    clusters = _first_by_name(result, "clusters")
    users = _first_by_name(result, "users")
    contexts = [item for item in result.get("contexts") or [] if isinstance(item.get("context"), dict)]
    plans = [plan for name, item in users.items()
             if (plan := _plan_user(name, item.get("user"), contexts, clusters, label)) is not None]
    conversion = Conversion(original=data, data=result, rancher_users=len(plans))
    rancher_contexts = {ctx["name"] for plan in plans for ctx in plan.contexts}
    claimed: set[int] = set()
    for plan in plans:
        _apply(plan, users[plan.user], clusters, claimed, conversion)
    current = result.get("current-context")
    if isinstance(current, str) and current in rancher_contexts:
        result["current-context"] = html_unescape(current)  # it names a context whose name was unescaped
    return conversion


def check_shape(data, label: str) -> None:
    """A clear one-line error for data that is not a kubeconfig kubectl-ace can work on."""
    if data is None:
        raise InputError(f"{label} is empty: not a kubeconfig")
    if not isinstance(data, dict):
        raise InputError(f"{label} is not a kubeconfig (expected a mapping with clusters, users and contexts)")
    if data.get("kind") not in (None, "Config"):
        raise InputError(f"{label} is a {data.get('kind')!r}, not a kubeconfig (kind: Config)")
    if not any(isinstance(data.get(key), list) for key, _ in kubeconfig.ENTRY_KINDS):
        raise InputError(f"{label} is not a kubeconfig: it has no clusters, users or contexts")
    for key, inner in kubeconfig.ENTRY_KINDS:
        items = data.get(key) or []
        if not isinstance(items, list):
            raise InputError(f"{label}: `{key}` is not a list")
        for index, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
                raise InputError(f"{label}: entry {index + 1} of `{key}` has no name")
            if item.get(inner) is not None and not isinstance(item[inner], dict):
                raise InputError(f"{label}: the `{inner}` of {inner} {item['name']!r} is not a mapping")


def _first_by_name(data: dict, key: str) -> dict[str, dict]:
    """Entries by name; the first of a name wins, as when kubectl loads the file."""
    found: dict[str, dict] = {}
    for item in data.get(key) or []:
        found.setdefault(item["name"], item)
    return found


def user_kind(body) -> str:
    """token | empty-token | rancher (`rancher token`) | ace (kubectl-ace already) | unknown-exec | other."""
    if not isinstance(body, dict):
        return "other"
    exec_ = body.get("exec")
    if isinstance(exec_, dict):
        command = os.path.basename(str(exec_.get("command") or "")).removesuffix(".exe")
        args = exec_.get("args") or []
        if command == "kubectl-ace":
            return "ace"
        if command == "rancher" and isinstance(args, list) and args[:1] == ["token"]:
            return "rancher"
        return "unknown-exec"
    if "token" in body:
        return "token" if isinstance(body["token"], str) and body["token"].strip() else "empty-token"
    return "other"


def exec_flags(args) -> dict:
    """`rancher token`/`kubectl-ace token` args as {flag: value or True}; both `--f=v` and `--f v` forms."""
    flags: dict = {}
    items = [str(a) for a in args] if isinstance(args, list) else []
    index = 1 if items[:1] == ["token"] else 0
    while index < len(items):
        name, has_value, value = items[index].partition("=")
        if name in RANCHER_VALUE_FLAGS and not has_value and index + 1 < len(items):
            value, has_value = items[index + 1], True
            index += 1
        if name.startswith("-"):
            flags[name] = value if has_value else True
        index += 1
    return flags


def _proxy_of(body: dict) -> tuple[str, str] | None:
    """(Rancher server, cluster id) of a proxy cluster entry: from our extension, else the /k8s/clusters URL."""
    ext = kubeconfig.extension_of(body)
    if ext.get("server") and ext.get("clusterId"):
        return (store.normalize_server(ext["server"]), ext["clusterId"]) if ext.get("endpoint", "proxy") == "proxy" \
            else None
    match = kubeconfig.PROXY_PATH.match(html_unescape(str(body.get("server") or "")))
    return (store.normalize_server(match["base"]), match["id"]) if match else None


def _plan_user(name: str, body, contexts: list[dict], clusters: dict[str, dict], label: str) -> _Plan | None:
    """Decide whether a user is Rancher's and what its entries are; None for users that are not."""
    kind = user_kind(body)
    if kind == "other":
        return None
    mine = [c for c in contexts if c["context"].get("user") == name]
    proxies: dict[str, tuple[str, str]] = {}
    for ctx in mine:
        entry = clusters.get(ctx["context"].get("cluster") or "")
        where = _proxy_of(entry["cluster"]) if entry and isinstance(entry.get("cluster"), dict) else None
        if where:
            proxies[entry["name"]] = where
    shown = html_unescape(name)
    if kind == "unknown-exec":
        if proxies:
            command = body["exec"].get("command") or "(none)"
            raise InputError(f"{label}: user {shown!r} of Rancher cluster(s) {', '.join(sorted(proxies))} runs "
                             f"the exec plugin {command!r}, which kubectl-ace does not know how to replace; convert or remove "
                             "that user by hand and run convert again (nothing was changed)")
        return None
    if kind in ("token", "empty-token") and not proxies:
        return None  # a token for some other Kubernetes: not ours to touch
    if kind == "empty-token":
        raise InputError(f"{label}: user {shown!r} of Rancher cluster(s) {', '.join(sorted(proxies))} has an empty "
                         "token; fetch a fresh kubeconfig with `kubectl ace kubeconfig` (nothing was changed)")
    flags = exec_flags(body["exec"].get("args")) if kind in ("rancher", "ace") else {}
    servers = sorted({server for server, _ in proxies.values()})
    if isinstance(flags.get("--server"), str) and flags["--server"]:
        server = store.normalize_server(html_unescape(flags["--server"]))
    elif len(servers) == 1:
        server = servers[0]
    elif not servers:
        raise InputError(f"{label}: user {shown!r} runs `{body['exec'].get('command')} token` without --server "
                         "(nothing was changed)")
    else:
        raise InputError(f"{label}: user {shown!r} is used by clusters of several Rancher servers "
                         f"({', '.join(servers)}); give each server its own user (nothing was changed)")
    ids = sorted({cid for _, cid in proxies.values()})
    # An entry for Rancher itself (the ext Kubeconfig's `rancher` default) needs an unscoped token.
    on_rancher = any(_server_of(ctx, clusters) == server for ctx in mine)
    cluster_id = flags.get("--cluster") if isinstance(flags.get("--cluster"), str) else ""
    cluster_id = html_unescape(cluster_id) or (ids[0] if len(ids) == 1 and not on_rancher else "")
    if kind == "token" and ":" not in body["token"]:
        raise InputError(f"{label}: user {shown!r} of Rancher cluster(s) {', '.join(sorted(proxies))} has a token "
                         "that is not a Rancher token (<name>:<secret>) (nothing was changed)")
    carried = []
    for flag in CARRIED_VALUE_FLAGS:
        if isinstance(flags.get(flag), str) and flags[flag]:
            carried.append(f"{flag}={html_unescape(flags[flag])}")
    for flag in CARRIED_BOOL_FLAGS:
        if flags.get(flag) is True or str(flags.get(flag)).lower() == "true":
            carried.append(flag)
    endpoints: dict[str, tuple[str, str]] = {}
    for ctx in mine:
        cluster_name = ctx["context"].get("cluster")
        if not cluster_name:
            raise InputError(f"{label}: context {html_unescape(ctx['name'])!r} of Rancher user {shown!r} names no "
                             "cluster (nothing was changed)")
        entry = clusters.get(cluster_name)
        if entry is None:
            raise InputError(f"{label}: context {html_unescape(ctx['name'])!r} names cluster "
                             f"{html_unescape(cluster_name)!r}, which is not in the file (nothing was changed)")
        cluster_body = entry.get("cluster")
        if not isinstance(cluster_body, dict) or not cluster_body.get("server"):
            raise InputError(f"{label}: cluster {html_unescape(cluster_name)!r} has no server (nothing was changed)")
        if cluster_name in proxies:
            endpoints[cluster_name] = (proxies[cluster_name][1], "proxy")
        elif kubeconfig.extension_of(cluster_body):
            continue  # marked already (an ACE entry converted before): keep what it says
        elif cluster_id and store.normalize_server(html_unescape(str(cluster_body["server"]))) != server:
            ace_name = html_unescape(ctx["name"]) + " " + html_unescape(cluster_name)
            endpoints[cluster_name] = (cluster_id, "fqdn" if re.search(r"-fqdn(\s|$)", ace_name) else "node")
    return _Plan(name, kind, server, cluster_id, carried, mine, endpoints)


def _server_of(ctx: dict, clusters: dict[str, dict]) -> str:
    """The normalized server URL of a context's cluster entry ("" when it has none)."""
    entry = clusters.get(ctx["context"].get("cluster") or "")
    body = entry.get("cluster") if entry else None
    server = html_unescape(str(body.get("server") or "")) if isinstance(body, dict) else ""
    return store.normalize_server(server) if server else ""


def _apply(plan: _Plan, user_item: dict, clusters: dict[str, dict], claimed: set[int],
           conversion: Conversion) -> None:
    """Carry out one plan on the (copied) data."""
    proxy_bodies = [html_unescape(clusters[name]["cluster"]) for name, (_, kind) in plan.endpoints.items()
                    if kind == "proxy"]
    ca_pem = next((pem for pem in map(kubeconfig.ca_pem, proxy_bodies) if pem), "")
    insecure = "--skip-verify" in plan.carried or any(b.get("insecure-skip-tls-verify") for b in proxy_bodies)
    conversion.servers.setdefault(plan.server, (ca_pem, insecure))
    body = user_item.get("user") or {}
    if plan.kind == "token":
        conversion.found.append(FoundToken(plan.server, plan.cluster_id, html_unescape(body["token"]).strip(),
                                           html_unescape(plan.user), ca_pem, insecure))
    if plan.kind in ("token", "rancher"):
        user_item["user"] = kubeconfig.exec_user(plan.server, plan.cluster_id, plan.carried)
        conversion.users.append(html_unescape(plan.user))
    else:
        user_item["user"] = html_unescape(body)
    user_item["name"] = html_unescape(user_item["name"])
    cluster_names = [c["context"].get("cluster") for c in plan.contexts]  # as the entries are named in the file
    for ctx in plan.contexts:
        ctx["name"] = html_unescape(ctx["name"])
        ctx["context"] = html_unescape(ctx["context"])
    for name in dict.fromkeys(n for n in cluster_names if n):
        entry = clusters.get(name)
        if entry is None or id(entry) in claimed:
            continue  # a cluster entry shared by two Rancher users: the first one decides
        claimed.add(id(entry))
        entry["name"] = html_unescape(entry["name"])
        entry["cluster"] = html_unescape(entry["cluster"])
        if name in plan.endpoints:
            cluster_id, kind = plan.endpoints[name]
            marked = kubeconfig.with_extension(entry["cluster"], plan.server, cluster_id, kind)
            if marked != entry["cluster"]:
                entry["cluster"] = marked
                conversion.clusters.append(entry["name"])


def html_unescape(value):
    """Undo Rancher ≤ 2.11's html/template escaping (`&#43;` → `+`) in every string of a Rancher entry."""
    # Only Rancher's entries get this: base64, URLs and Rancher names never hold a literal `&`.
    if isinstance(value, str):
        return html.unescape(value) if "&" in value else value
    if isinstance(value, dict):
        return {k: html_unescape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [html_unescape(v) for v in value]
    return value


def secrets_in(conversion: Conversion) -> list[str]:
    """The secret halves of the tokens taken out (to check that none is written anywhere)."""
    return [f.token.partition(":")[2] for f in conversion.found if f.token.partition(":")[2]]


# --- converting a file in place ---

@dataclass
class FileResult:
    """What convert did to one file."""

    path: str
    conversion: Conversion
    backup: str = ""
    backup_mode: int = 0
    adopted: int = 0
    notes: list[str] = field(default_factory=list)


def convert_file(path: str, directory: str) -> FileResult:
    """Convert one kubeconfig in place, under its lock: tokens into the store, a backup, then an atomic write."""
    real = os.path.realpath(path)
    with kubeconfig.locked_file(path, directory):
        try:
            with open(real, encoding="utf-8") as handle:
                text = handle.read()
            mode = os.stat(real).st_mode & 0o777
        except FileNotFoundError:
            raise InputError(f"{path} does not exist") from None
        except (OSError, UnicodeDecodeError) as err:
            raise InputError(f"cannot read {path}: {getattr(err, 'strerror', None) or err}") from None
        conversion = convert_data(kubeconfig.parse(text, path), path)
        result = FileResult(path, conversion)
        if not conversion.changed:
            return result
        new_text = kubeconfig.dump(conversion.data, text)
        if kubeconfig.parse(new_text, path) != conversion.data or any(s in new_text for s in secrets_in(conversion)):
            raise AceError(f"converting {path} went wrong (the new text does not read back as written); "
                           "nothing was changed; rerun with -v and report it")
        result.adopted, result.notes = adopt(conversion, directory)
        # A token lives only in the token store: the backup keeps the file's layout and the token's
        # name, with the secret half replaced (going back to it means logging in, or converting again).
        result.backup_mode = mode
        result.backup = write_backup(real, redacted(text, secrets_in(conversion)), mode)
        store.write_atomic(real, new_text.encode("utf-8"), mode=mode)
    return result


REDACTED = "moved-to-the-kubectl-ace-token-store"


def redacted(text: str, secrets: list[str]) -> str:
    """The text with each secret replaced by a note saying where the token went."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def write_backup(real: str, text: str, mode: int) -> str:
    """`<file>.bak-<YYYYmmddTHHMMSS>` (with -2, -3 … if that exists), created with `mode` from the start."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    for attempt in range(1, 100):
        path = f"{real}.bak-{stamp}" + (f"-{attempt}" if attempt > 1 else "")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        except FileExistsError:
            continue
        except OSError as err:
            raise InputError(f"cannot write a backup beside {real}: {err.strerror}; nothing was changed") from None
        try:
            os.write(fd, text.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(path, mode)  # the umask may have narrowed it
        return path
    raise InputError(f"cannot find a free backup name beside {real}; nothing was changed")


# --- adopting tokens into the store ---

@dataclass
class _TokenInfo:
    user_id: str
    expires: float | None
    expires_at: str
    dead: bool


def adopt(conversion: Conversion, directory: str) -> tuple[int, list[str]]:
    """Put the tokens taken out of a file into the store; returns (how many were kept, notes for the user)."""
    kept, notes = 0, []
    for server, (ca_pem, insecure) in conversion.servers.items():
        found = [f for f in conversion.found if f.server == server]
        record = store.read(directory, server)
        if not found:
            if record is None and ca_pem:
                # A converted `rancher token` user will log in from kubectl: let it trust Rancher's CA from the file.
                store.update(directory, server, lambda current: current or
                             {"logins": {}, "cacert": ca_pem, "insecure": insecure})
            continue
        infos, note = _look_up(server, record, ca_pem, insecure, found, directory)
        notes += note
        count = [0]

        def put(current: dict | None) -> dict:
            current = current or {"logins": {}, "cacert": ca_pem or None, "insecure": insecure}
            for item, info in zip(found, infos):
                if info.dead:
                    continue
                if _store_token(current, item, info):
                    count[0] += 1
            return current

        store.update(directory, server, put)
        kept += count[0]
        for item, info in zip(found, infos):
            if info.dead:
                notes.append(f"the token of user {item.user} is expired or disabled at Rancher; not kept "
                             f"(kubectl-ace gets a new one from your login)")
    return kept, notes


def _store_token(record: dict, item: FoundToken, info: _TokenInfo) -> bool:
    """Put one token under the login it belongs to; False when the store already has a better one."""
    logins = record.setdefault("logins", {})
    login = tokens.pick_login(record, None)
    if login and (not info.user_id or not login.get("user_id") or login["user_id"] == info.user_id):
        name = login["name"]
    else:
        # No login for this user: an imported one with no credential of its own (it cannot mint).
        name = info.user_id or "imported"
        logins.setdefault(name, {"token": "", "token_id": "", "user_id": info.user_id, "provider": "",
                                 "origin": "imported", "expires": None, "expires_at": "", "created": time.time(),
                                 "clusters": {}})
        if record.get("current_user") not in logins:
            record["current_user"] = name
    clusters = logins[name].setdefault("clusters", {})
    old = clusters.get(item.cluster_id)
    if isinstance(old, dict) and old.get("token") and old["token"] != item.token \
            and tokens.is_usable(old, time.time()) and _later(old.get("expires"), info.expires):
        return False
    clusters[item.cluster_id] = {"token": item.token, "token_id": item.name, "expires": info.expires,
                                 "expires_at": info.expires_at, "minted": time.time()}
    return True


def _later(a: float | None, b: float | None) -> bool:
    """Whether expiry a is later than expiry b (None: never expires)."""
    if a is None:
        return b is not None
    return b is not None and a > b


def _look_up(server: str, record: dict | None, ca_pem: str, insecure: bool, found: list[FoundToken],
             directory: str) -> tuple[list[_TokenInfo], list[str]]:
    """Ask Rancher who owns each token and when it expires; what it cannot tell is guessed from the name."""
    # The login can read any token of its user; without one, an unscoped token can read itself, while a
    # cluster-scoped one gets 401 on /v3/tokens: its expiry is then left open (null).
    from kubectl_ace.rancher.client import Client

    login = tokens.pick_login(record, None)
    tls = record if record is not None else {"cacert": ca_pem or None, "insecure": insecure}
    ca = store.ca_file(directory, server, tls["cacert"]) if tls.get("cacert") else None
    client = Client(server, ca_file=ca, verify=not tls.get("insecure"), connect_timeout=3.0, read_timeout=10.0)
    infos, notes, reachable = [], [], True
    for item in found:
        info = _TokenInfo(user_from_name(item.name), None, "", False)
        bearers = ([login["token"]] if login and login.get("token") else []) + [item.token]
        for bearer in bearers if reachable and not item.token.startswith("ext/") else []:
            try:
                answer = client.request("GET", f"/v3/tokens/{quote(item.name, safe='')}", token=bearer, allow=(404,))
            except AuthenticationFailed:
                # Not proof that the token is dead: a cluster-scoped one is refused on this path. If it is
                # dead, kubectl's retry after the 401 makes kubectl-ace replace it.
                continue
            except (RancherUnreachable, RancherError) as err:
                reachable = False
                notes.append(f"Rancher at {server} could not be asked when the tokens expire ({err.message}); "
                             "they are kept until Rancher refuses them")
                break
            body = answer.body if answer.status == 200 and isinstance(answer.body, dict) else None
            if body is None:
                continue
            expires_at = body.get("expiresAt") or ""
            try:
                expires = tokens.server_time_to_local(expires_at, answer)
            except RancherError:
                expires, expires_at = None, ""
            info = _TokenInfo(body.get("userId") or info.user_id, expires, expires_at,
                              bool(body.get("expired")) or body.get("enabled") is False)
            break
        infos.append(info)
    return infos, notes


def user_from_name(name: str) -> str:
    """The user id in a kubeconfig token's name: `kubeconfig-<user>[.<cluster>]<5 random>`; "" for others."""
    rest = name.removeprefix("kubeconfig-")
    if rest == name:
        return ""
    if "." in rest:
        return rest.split(".", 1)[0]
    return rest[:-5] if len(rest) > 5 else ""


# --- fetching kubeconfigs from Rancher ---

@dataclass
class Fetched:
    """One cluster's generated kubeconfig, converted (or why not), and what became of its token."""

    cluster_id: str
    name: str
    entries: dict[str, list[dict]] | None = None
    current: str = ""
    error: str = ""
    revoked: int = 0
    unrevoked: list[str] = field(default_factory=list)  # token names Rancher would not delete


@dataclass
class FetchResult:
    """Every cluster fetched, and their entries combined."""

    server: str
    fetched: list[Fetched]
    entries: dict[str, list[dict]]
    current: str

    @property
    def failed(self) -> list[Fetched]:
        return [f for f in self.fetched if f.error]

    @property
    def revoked(self) -> int:
        return sum(f.revoked for f in self.fetched)

    @property
    def unrevoked(self) -> list[str]:
        return [name for f in self.fetched for name in f.unrevoked]


def pick_server(directory: str, server: str | None) -> str:
    """--server, else the only server with a login."""
    if server:
        return store.normalize_server(server)
    known = store.servers(directory)
    if len(known) == 1:
        return known[0]
    if not known:
        raise NotLoggedIn("not logged in to any Rancher; run: kubectl ace login --server URL")
    raise UsageError("logged in to several Rancher servers (" + ", ".join(known) + "); pass --server URL")


def fetch(server: str, directory: str, wanted: list[str], everything: bool, progress=None,
          workers: int = WORKERS) -> FetchResult:
    """List the login's clusters, then generateKubeconfig → convert → revoke its token, for each chosen one."""
    # The generated tokens are revoked because nothing will use them: kubectl-ace mints its own.
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from kubectl_ace.rancher import clusters as clusters_api

    server = store.normalize_server(server)
    record = store.read(directory, server)
    login = tokens.pick_login(record, None)
    if not tokens.usable_login(login, time.time()):
        if login is None:
            why = f"not logged in to {server}"
        elif not login.get("token"):
            why = f"the store holds only tokens imported from kubeconfigs for {server}, and they cannot fetch more"
        else:
            why = f"the login to {server} as {tokens.login_name(login)} has expired"
        raise NotLoggedIn(f"{why}; run: kubectl ace login --server {server}")
    assert login is not None
    local = threading.local()

    def client():
        if not hasattr(local, "client"):
            local.client = _fetch_client(server, record, directory)
        return local.client

    try:
        listed = clusters_api.list_clusters(client(), login["token"])
    except AuthenticationFailed:
        raise NotLoggedIn(f"Rancher at {server} no longer accepts the login of {tokens.login_name(login)}; "
                          f"run: kubectl ace login --server {server}") from None
    chosen = select(listed, wanted, everything, server)
    results: list[Fetched | None] = [None] * len(chosen)

    def one(index: int) -> Fetched:
        cluster = chosen[index]
        return _fetch_one(client(), login["token"], cluster.id, cluster.display)

    done = 0
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(chosen)))) as pool:
        futures = {pool.submit(one, index): index for index in range(len(chosen))}
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            done += 1
            if progress:
                progress(done, len(chosen))
    fetched = [r for r in results if r is not None]
    entries, current = _combine(fetched)
    return FetchResult(server, fetched, entries, current)


def _fetch_client(server: str, record: dict | None, directory: str):
    """A client with the login's TLS settings and room for a busy Rancher to render a kubeconfig."""
    from kubectl_ace.rancher.client import Client
    tls = tokens.tls_settings(tokens.Request(server, None, directory=directory), record)
    ca = store.ca_file(directory, server, tls["cacert_pem"]) if tls["cacert_pem"] else None
    return Client(server, ca_file=ca, verify=not tls["insecure"], connect_timeout=5.0, read_timeout=30.0)


def _fetch_one(client, login_token: str, cluster_id: str, name: str) -> Fetched:
    """generateKubeconfig → convert; whatever happens, revoke the tokens Rancher put into the file."""
    from kubectl_ace.rancher import clusters as clusters_api
    from kubectl_ace.rancher import tokens as api

    item = Fetched(cluster_id, name)
    text = ""
    names: list[str] = []
    try:
        text = clusters_api.generate_kubeconfig(client, login_token, cluster_id)
        label = f"the kubeconfig Rancher generated for cluster {name} ({cluster_id})"
        data = kubeconfig.parse(text, label)
        conversion = convert_data(data, label)
        names = [f.name for f in conversion.found]
        leftover = [u["name"] for u in conversion.data.get("users") or [] if user_kind(u.get("user")) != "ace"]
        if leftover:
            raise RancherError(f"{label} has users kubectl-ace cannot convert ({', '.join(leftover)})")
        item.entries = {key: list(conversion.data.get(key) or []) for key, _ in kubeconfig.ENTRY_KINDS}
        item.current = str(conversion.data.get("current-context") or "")
    except AceError as err:
        item.error = err.message
    finally:
        if text and not names:
            names = [api.token_id(m) for m in TOKEN_LINE.findall(text)]
        for token_name in names:
            try:
                api.delete(client, login_token, token_name)
                item.revoked += 1
            except AceError:
                item.unrevoked.append(token_name)
    return item


def select(listed, wanted: list[str], everything: bool, server: str) -> list:
    """The clusters named (by id or display name) or all of them, in the order given, each once."""
    if everything and wanted:
        raise UsageError("name clusters or pass --all, not both")
    visible = ", ".join(f"{c.display} ({c.id})" if c.display != c.id else c.id for c in listed[:20]) or "none"
    if len(listed) > 20:
        visible += f", … ({len(listed)} in all)"
    if everything:
        if not listed:
            raise UsageError(f"the login sees no clusters at {server}")
        return list(listed)
    if not wanted:
        raise UsageError(f"say which clusters: name them (names or ids) or pass --all; visible at {server}: {visible}")
    chosen, seen = [], set()
    for want in wanted:
        match = [c for c in listed if c.id == want] or [c for c in listed if c.display == want]
        if not match:
            raise UsageError(f"no cluster {want!r} is visible to this login at {server}; visible: {visible}")
        if len(match) > 1:
            raise UsageError(f"several clusters are named {want!r} ({', '.join(c.id for c in match)}); name one by id")
        if match[0].id not in seen:
            seen.add(match[0].id)
            chosen.append(match[0])
    return chosen


def _combine(fetched: list[Fetched]) -> tuple[dict[str, list[dict]], str]:
    """All entries of the fetched clusters; a cluster whose entry names clash with an earlier one's fails."""
    entries: dict[str, list[dict]] = {key: [] for key, _ in kubeconfig.ENTRY_KINDS}
    owners: dict[tuple[str, str], str] = {}
    current = ""
    for item in fetched:
        if item.entries is None:
            continue
        clash = [(key, e["name"]) for key in entries for e in item.entries[key] if (key, e["name"]) in owners]
        if clash:
            key, name = clash[0]
            item.error = (f"its {key[:-1]} {name!r} has the same name as one of cluster {owners[(key, name)]}; "
                          "rename one of the clusters in Rancher, or fetch them into separate files with -o")
            item.entries = None
            continue
        for key in entries:
            for entry in item.entries[key]:
                owners[(key, entry["name"])] = item.cluster_id
                entries[key].append(entry)
        current = current or item.current
    return entries, current


def as_kubeconfig(result: FetchResult) -> dict:
    """The fetched entries as one kubeconfig (for stdout and -o)."""
    data = kubeconfig.new_config()
    for key, _ in kubeconfig.ENTRY_KINDS:
        data[key] = result.entries[key]
    if result.current:
        data["current-context"] = result.current
    return data
