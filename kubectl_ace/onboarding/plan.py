"""What a Rancher user and its entries become: the one plan type, built from the entries read unescaped, once."""

from __future__ import annotations

import html
import os
from dataclasses import dataclass

from kubectl_ace import argv
from kubectl_ace.endpoints import classify_cluster, extension_of
from kubectl_ace.errors import InputError
from kubectl_ace.kubeconfig_files import ca_pem
from kubectl_ace.urls import normalize_server

RANCHER_VALUE_FLAGS = ("--server", "--user", "--cluster", "--auth-provider", "--auth-flow", "--cacerts")
CARRIED_VALUE_FLAGS = ("--cacerts", "--auth-provider")  # what `kubectl-ace token` needs from `rancher token`
CARRIED_BOOL_FLAGS = ("--skip-verify",)


def unescape(value):
    """Undo Rancher ≤ 2.11's html/template escaping (`&#43;` → `+`) in every string of a value."""
    # Only Rancher's entries get this: base64, URLs and Rancher names never hold a literal `&`.
    if isinstance(value, str):
        return html.unescape(value) if "&" in value else value
    if isinstance(value, dict):
        return {k: unescape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unescape(v) for v in value]
    return value


class RancherEntry:
    """A user, context or cluster entry of a Rancher user: the item in the file and its unescaped copy."""

    __slots__ = ("clean", "inner", "item", "key")

    def __init__(self, item: dict, inner: str) -> None:
        self.item = item  # as in the file: written only by write_back()
        self.key = item["name"]  # the name as the file spells it, which other entries refer to
        self.inner = inner
        # The name and the body are unescaped here, once; other keys of the item are kept as they are.
        self.clean = {**item, "name": unescape(item["name"])}
        if inner in item:
            self.clean[inner] = unescape(item[inner])

    @property
    def name(self) -> str:
        return self.clean["name"]

    @property
    def body(self):
        return self.clean.get(self.inner)

    def write_back(self) -> None:
        """Put the unescaped (and possibly rewritten) entry into the file's data."""
        self.item.update(self.clean)


@dataclass
class Plan:
    """How one Rancher user and its entries are converted; every value in it is unescaped."""

    user: RancherEntry
    kind: str  # "token", "rancher" or "ace"
    server: str
    cluster_id: str  # "" for an unscoped token (a user serving several clusters, or Rancher itself)
    carried: list[str]  # `rancher token` flags the kubectl-ace exec stanza keeps
    contexts: list[RancherEntry]
    clusters: list[RancherEntry]  # the cluster entries its contexts name, in order, each once
    endpoints: dict[str, tuple[str, str]]  # cluster entry key → (cluster id, proxy|fqdn|node)
    ca_pem: str  # the CA of its Rancher proxy entries, for a store record that has none yet
    insecure: bool


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


def exec_flags(args) -> dict[str, str | bool]:
    """`rancher token`/`kubectl-ace token` args as {flag: value or True}; both `--f=v` and `--f v` forms."""
    items = [str(a) for a in args] if isinstance(args, list) else []
    if items[:1] == ["token"]:
        items = items[1:]
    names = {flag: flag for flag in RANCHER_VALUE_FLAGS}
    try:
        flags, rest = argv.parse(items, names, {})
    except ValueError:  # the last arg is a value flag with nothing after it: it is there, without a value
        flags, rest = argv.parse(items[:-1], names, {})
        rest.append(items[-1])
    for item in rest:
        name, has_value, value = item.partition("=")
        if name.startswith("-"):
            flags[name] = value if has_value else True
    return flags


def plan_user(item: dict, contexts: list[dict], clusters: dict[str, dict], label: str) -> Plan | None:
    """Decide whether a user is Rancher's and what its entries become; None for users that are not Rancher's."""
    user = RancherEntry(item, "user")
    kind = user_kind(user.body)
    if kind == "other":
        return None
    mine = [RancherEntry(ctx, "context") for ctx in contexts if ctx["context"].get("user") == user.key]
    entries: dict[str, RancherEntry] = {}
    for ctx in mine:
        key = ctx.item["context"].get("cluster") or ""
        if key in clusters and key not in entries:
            entries[key] = RancherEntry(clusters[key], "cluster")
    home = _rancher_servers(clusters) if kind == "token" else set()
    return _decide(user, kind, mine, entries, label, home)


def _rancher_servers(clusters: dict[str, dict]) -> set[str]:
    """The Rancher servers whose proxy entries are in the file (to tell an entry for Rancher itself)."""
    found = set()
    for item in clusters.values():
        body = unescape(item.get("cluster"))
        where = classify_cluster(body) if isinstance(body, dict) else None
        if where and where[2] == "proxy":
            found.add(where[0])
    return found


def _rancher_itself(mine: list[RancherEntry], entries: dict[str, RancherEntry], home: set[str]) -> str:
    """The Rancher server when every context of a user names Rancher's own URL (the Kubeconfig `rancher` entry)."""
    servers = {_server_of(entries.get(ctx.item["context"].get("cluster") or "")) for ctx in mine}
    return next(iter(servers)) if len(servers) == 1 and servers <= home else ""


def _decide(
    user: RancherEntry,
    kind: str,
    mine: list[RancherEntry],
    entries: dict[str, RancherEntry],
    label: str,
    home: set[str] | None = None,
) -> Plan | None:
    """The plan for one user, from its unescaped entries; InputError for a Rancher user that cannot be converted."""
    body = user.body
    proxies: dict[str, tuple[str, str]] = {}  # cluster entry key → (Rancher server, cluster id)
    for key, entry in entries.items():
        where = classify_cluster(entry.body) if isinstance(entry.body, dict) else None
        if where and where[2] == "proxy":
            proxies[key] = where[:2]
    proxy_names = ", ".join(sorted(entries[key].name for key in proxies))
    shown = user.name
    if kind == "unknown-exec":
        if proxies:
            command = body["exec"].get("command") or "(none)"
            raise InputError(
                f"{label}: user {shown!r} of Rancher cluster(s) {proxy_names} runs the exec plugin "
                f"{command!r}, which kubectl-ace does not know how to replace; convert or remove that "
                "user by hand and run convert again (nothing was changed)"
            )
        return None
    # The default `rancher` entry of an ext Kubeconfig file (2.14+) points at Rancher itself with an unscoped
    # token: it becomes an exec user without --cluster (an unscoped token from the store), so the secret leaves
    # the file and the context keeps working for Rancher's own API (ext tokens, kubeconfigs).
    itself = _rancher_itself(mine, entries, home or set()) if kind == "token" and not proxies else ""
    if kind in ("token", "empty-token") and not proxies and not itself:
        return None  # a token for some other Kubernetes: not ours to touch
    if kind == "empty-token":
        raise InputError(
            f"{label}: user {shown!r} of Rancher cluster(s) {proxy_names} has an empty token; fetch a "
            "fresh kubeconfig with `kubectl ace kubeconfig` (nothing was changed)"
        )
    flags = exec_flags(body["exec"].get("args")) if kind in ("rancher", "ace") else {}
    server = itself or _server(flags, proxies, shown, body, label)
    ids = sorted({cid for _, cid in proxies.values()})
    # An entry for Rancher itself (the ext Kubeconfig's `rancher` default) needs an unscoped token.
    on_rancher = any(_server_of(entries.get(ctx.item["context"].get("cluster") or "")) == server for ctx in mine)
    given = flags.get("--cluster")
    cluster_id = (given if isinstance(given, str) else "") or (ids[0] if len(ids) == 1 and not on_rancher else "")
    if kind == "token" and ":" not in body["token"]:
        raise InputError(
            f"{label}: user {shown!r} of Rancher cluster(s) {proxy_names} has a token that is not a "
            "Rancher token (<name>:<secret>) (nothing was changed)"
        )
    carried = [
        f"{flag}={flags[flag]}" for flag in CARRIED_VALUE_FLAGS if isinstance(flags.get(flag), str) and flags[flag]
    ]
    carried += [
        flag for flag in CARRIED_BOOL_FLAGS if flags.get(flag) is True or str(flags.get(flag)).lower() == "true"
    ]
    endpoints = _endpoints(mine, entries, proxies, server, cluster_id, shown, label)
    proxy_bodies = [entries[key].body for key, (_, where) in endpoints.items() if where == "proxy"]
    pem = next((found for found in map(ca_pem, proxy_bodies) if found), "")
    insecure = "--skip-verify" in carried or any(b.get("insecure-skip-tls-verify") for b in proxy_bodies)
    return Plan(user, kind, server, cluster_id, carried, mine, list(entries.values()), endpoints, pem, insecure)


def _server(flags: dict, proxies: dict[str, tuple[str, str]], shown: str, body: dict, label: str) -> str:
    """The Rancher server of a user: its --server, else the one server of its proxy clusters."""
    servers = sorted({server for server, _ in proxies.values()})
    if isinstance(flags.get("--server"), str) and flags["--server"]:
        return normalize_server(flags["--server"])
    if len(servers) == 1:
        return servers[0]
    if not servers:
        raise InputError(
            f"{label}: user {shown!r} runs `{body['exec'].get('command')} token` without --server (nothing was changed)"
        )
    raise InputError(
        f"{label}: user {shown!r} is used by clusters of several Rancher servers "
        f"({', '.join(servers)}); give each server its own user (nothing was changed)"
    )


def _endpoints(
    mine: list[RancherEntry],
    entries: dict[str, RancherEntry],
    proxies: dict[str, tuple[str, str]],
    server: str,
    cluster_id: str,
    shown: str,
    label: str,
) -> dict[str, tuple[str, str]]:
    """What each cluster entry of the user's contexts is: its proxy, an ACE FQDN or an ACE node (marked ones kept)."""
    endpoints: dict[str, tuple[str, str]] = {}
    for ctx in mine:
        key = ctx.item["context"].get("cluster")
        cluster_name = ctx.body.get("cluster")
        if not key:
            raise InputError(
                f"{label}: context {ctx.name!r} of Rancher user {shown!r} names no cluster (nothing was changed)"
            )
        entry = entries.get(key)
        if entry is None:
            raise InputError(
                f"{label}: context {ctx.name!r} names cluster {cluster_name!r}, which is not in the "
                "file (nothing was changed)"
            )
        body = entry.body
        if not isinstance(body, dict) or not body.get("server"):
            raise InputError(f"{label}: cluster {cluster_name!r} has no server (nothing was changed)")
        if key in proxies:
            endpoints[key] = (proxies[key][1], "proxy")
        elif extension_of(body):
            continue  # marked already (an ACE entry converted before): keep what it says
        elif cluster_id and normalize_server(str(body["server"])) != server:
            # Rancher names ACE entries `<name>-fqdn` and `<name>-<node>`.
            words = f"{ctx.name} {cluster_name}".split()
            endpoints[key] = (cluster_id, "fqdn" if any(w.endswith("-fqdn") for w in words) else "node")
    return endpoints


def _server_of(entry: RancherEntry | None) -> str:
    """The normalized server URL of a cluster entry ("" when it has none)."""
    body = entry.body if entry else None
    server = str(body.get("server") or "") if isinstance(body, dict) else ""
    return normalize_server(server) if server else ""
