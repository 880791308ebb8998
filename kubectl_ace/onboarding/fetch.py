"""Fetching kubeconfigs from Rancher: generateKubeconfig per chosen cluster, converted, its tokens revoked.

What Rancher made for a cluster (generateKubeconfig's tokens, or an ext Kubeconfig object) is written down as
pending (pending.py) before anything else, and forgotten once revoked: a fetch killed in between leaks nothing
logout cannot find. A Kubeconfig object's description also carries the login's marker, which logout sweeps.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field

from kubectl_ace import connect, kubeconfig_files, pending
from kubectl_ace.errors import AceError, AuthenticationFailed, NotLoggedIn, RancherError, UsageError
from kubectl_ace.onboarding.conversion import convert_data
from kubectl_ace.onboarding.plan import user_kind
from kubectl_ace.records import token_id_of
from kubectl_ace.store import Store
from kubectl_ace.urls import normalize_server

WORKERS = 8  # generateKubeconfig calls in flight at once: enough for 200 clusters, gentle on Rancher
TOKEN_LINE = re.compile(r"""^\s*token:\s*["']?([^"':\s]+:[^"'\s]*)""", re.MULTILINE)


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


def pick_server(store: Store, server: str | None) -> str:
    """--server, else the only server with a login."""
    if server:
        return normalize_server(server)
    known = store.servers()
    if len(known) == 1:
        return known[0]
    if not known:
        raise NotLoggedIn("not logged in to any Rancher; run: kubectl ace login --server URL")
    raise UsageError("logged in to several Rancher servers (" + ", ".join(known) + "); pass --server URL")


def fetch(
    server: str, store: Store, wanted: list[str], everything: bool, progress=None, workers: int = WORKERS
) -> FetchResult:
    """List the login's clusters, then generateKubeconfig → convert → revoke its token, for each chosen one."""
    # The generated tokens are revoked because nothing will use them: kubectl-ace mints its own.
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from kubectl_ace.rancher import clusters as clusters_api

    server = normalize_server(server)
    record = store.read(server)
    login = record.login(None) if record is not None else None
    if login is None or not login.can_mint(time.time()):
        if login is None:
            why = f"not logged in to {server}"
        elif not login.token:
            why = f"the store holds only tokens imported from kubeconfigs for {server}, and they cannot fetch more"
        else:
            why = f"the login to {server} as {login.label} has expired"
        raise NotLoggedIn(f"{why}; run: kubectl ace login --server {server}")
    login_token = login.token
    trust = connect.trust_for(record)
    noted = pending.Pending(store, server, trust.cacert, trust.insecure)
    local = threading.local()

    def client():
        # One client per thread: a requests session is not safe to share.
        if not hasattr(local, "client"):
            local.client = connect.rancher_client(store, server, trust, connect.SLOW_TIMEOUTS)
        return local.client

    try:
        listed = clusters_api.list_clusters(client(), login_token)
    except AuthenticationFailed:
        raise NotLoggedIn(
            f"Rancher at {server} no longer accepts the login of {login.label}; "
            f"run: kubectl ace login --server {server}"
        ) from None
    chosen = select(listed, wanted, everything, server)
    results: list[Fetched | None] = [None] * len(chosen)

    def one(index: int) -> Fetched:
        cluster = chosen[index]
        return _fetch_one(client(), login_token, cluster.id, cluster.display, cluster.generate, noted, login.token_id)

    done = 0
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(chosen)))) as pool:
        futures = {pool.submit(one, index): index for index in range(len(chosen))}
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            done += 1
            if progress:
                progress(done, len(chosen))
    noted.unanswered(client())  # a generateKubeconfig whose answer was cut may have made a token
    fetched = [r for r in results if r is not None]
    entries, current = _combine(fetched)
    return FetchResult(server, fetched, entries, current)


def _fetch_one(
    client, login_token: str, cluster_id: str, name: str, generate: bool, noted: pending.Pending, login_id: str
) -> Fetched:
    """generateKubeconfig (or the ext Kubeconfig API where it is gone) → note → convert; then revoke what Rancher
    made and forget the note (kept when Rancher would not revoke: logout tries again).

    The ext Kubeconfig object is deleted, which deletes its tokens; Norman's tokens are deleted one by one.
    A revocation counts only when Rancher answered it with 2xx.
    """
    from kubectl_ace.rancher import clusters as clusters_api
    from kubectl_ace.rancher import extkubeconfigs, tokenapi

    item = Fetched(cluster_id, name)
    text = note = ""
    tokens: list[str] = []
    made: extkubeconfigs.Created | None = None
    try:
        if generate:
            request = noted.sending(cluster_id)
            text = clusters_api.generate_kubeconfig(client, login_token, cluster_id)
            note = noted.note(pending.generated_tokens(cluster_id, TOKEN_LINE.findall(text)))
            noted.drop(request)
        else:
            made = extkubeconfigs.create(client, login_token, [cluster_id], tokenapi.marker(login_id))
            note = noted.note([pending.kubeconfig_object(made.name, made.tokens)])
            text = made.value
        label = f"the kubeconfig Rancher generated for cluster {name} ({cluster_id})"
        conversion = convert_data(kubeconfig_files.parse(text, label), label)
        tokens = [f.token for f in conversion.found]
        leftover = [u["name"] for u in conversion.data.get("users") or [] if user_kind(u.get("user")) != "ace"]
        if leftover:
            raise RancherError(f"{label} has users kubectl-ace cannot convert ({', '.join(leftover)})")
        item.entries = {key: list(conversion.data.get(key) or []) for key, _ in kubeconfig_files.ENTRY_KINDS}
        item.current = str(conversion.data.get("current-context") or "")
    except AceError as err:
        item.error = err.message
    finally:
        if made is not None:
            _delete_kubeconfig(client, login_token, made, item)
        else:
            if text and not tokens:
                tokens = TOKEN_LINE.findall(text)
            for token in dict.fromkeys(tokens):
                try:
                    deleted = tokenapi.delete(client, login_token, token, token_id_of(token))
                except AceError:
                    deleted = False
                if deleted:
                    item.revoked += 1
                else:
                    item.unrevoked.append(token_id_of(token))
        if not item.unrevoked:
            noted.drop(note)
    return item


def _delete_kubeconfig(client, login_token: str, made, item: Fetched) -> None:
    """Delete a Kubeconfig object; its tokens count as revoked only when Rancher deleted it."""
    from kubectl_ace.rancher import extkubeconfigs

    try:
        deleted = extkubeconfigs.delete(client, login_token, made.name)
    except AceError:
        deleted = False
    if deleted:
        item.revoked += len(made.tokens)
    else:
        item.unrevoked.extend(made.tokens or [made.name])


def select(listed: list, wanted: list[str], everything: bool, server: str) -> list:
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
    entries: dict[str, list[dict]] = {key: [] for key, _ in kubeconfig_files.ENTRY_KINDS}
    owners: dict[tuple[str, str], str] = {}
    current = ""
    for item in fetched:
        if item.entries is None:
            continue
        clash = [(key, e["name"]) for key in entries for e in item.entries[key] if (key, e["name"]) in owners]
        if clash:
            key, name = clash[0]
            item.error = (
                f"its {key[:-1]} {name!r} has the same name as one of cluster {owners[(key, name)]}; "
                "rename one of the clusters in Rancher, or fetch them into separate files with -o"
            )
            item.entries = None
            continue
        for key, combined in entries.items():
            for entry in item.entries[key]:
                owners[(key, entry["name"])] = item.cluster_id
                combined.append(entry)
        current = current or item.current
    return entries, current


def as_kubeconfig(result: FetchResult) -> dict:
    """The fetched entries as one kubeconfig (for stdout and -o)."""
    data = kubeconfig_files.new_config()
    for key, _ in kubeconfig_files.ENTRY_KINDS:
        data[key] = result.entries[key]
    if result.current:
        data["current-context"] = result.current
    return data
