"""Secrets Rancher hands a process, written down before anything else happens, until they are kept or revoked.

A login's token, the tokens in a generateKubeconfig answer and an ext Kubeconfig object (whose tokens die with it)
live at Rancher from its answer on. Each is written at once, with one write and one fsync, to a file of its own
beside the server's store file, named as that file's temp file (`<host>.json.<pid>.<ns>.tmp`): while this process
lives nobody touches it; once it is dead, the next write of the record carries its entries into the record's
`pending` list and logout revokes them (Store.update, with_orphans). A pending entry is a thing to revoke,
never a usable login. Imported by login, logout and fetch code only (not the hot path).

Rancher makes the token before its answer reaches us, so a process killed in that instant leaves only a trace:
before a login or generateKubeconfig request is sent, a "request" entry notes when and for which cluster. Logout
matches it to the one token that request made: a never-used "Kubeconfig token" of that user and cluster created
within REQUEST_WINDOW of the sending, that no record and no running kubectl-ace holds. (An ext Kubeconfig object
needs no trace: its description carries the login's marker, which logout sweeps.)
"""

from __future__ import annotations

import json
import os
import time

from kubectl_ace.errors import AceError, AuthenticationFailed
from kubectl_ace.files import temp_name, write_new
from kubectl_ace.records import ClusterToken, RetiredToken, ServerRecord, token_id_of

REQUEST_WINDOW = (-5.0, 60.0)  # seconds around a request's sending in which the token it made was created
MADE_BY_REQUESTS = "Kubeconfig token"  # what Rancher writes on the tokens of a login and of generateKubeconfig


class Pending:
    """The pending files this process wrote for one server; each is removed once what it names is kept or revoked."""

    def __init__(self, store, server: str, cacert: str | None, insecure: bool) -> None:
        self.store = store
        self.server = server
        self.trust = (cacert, insecure)  # how logout reaches Rancher when no record says it yet
        self.files: list[str] = []
        self.tokens: dict[str, str] = {}  # login token -> its file
        self.request = ""  # the file of the login request in flight
        self.requests: dict[str, RetiredToken] = {}  # file -> a request whose answer has not come (yet)

    def note(self, entries: list[RetiredToken]) -> str:
        """Write entries down durably in a new file; returns its path ("" when there is nothing to write)."""
        if not entries:
            return ""
        from kubectl_ace.store import FORMAT_VERSION

        record = ServerRecord(self.server, *self.trust)
        record.pending = entries
        path = temp_name(self.store.server_file(self.server))
        try:
            write_new(path, json.dumps(record.to_dict(FORMAT_VERSION)).encode(), 0o600)
        except FileNotFoundError:  # the first login to any server: no servers/ folder yet
            self.store.ensure("servers")
            write_new(path, json.dumps(record.to_dict(FORMAT_VERSION)).encode(), 0o600)
        self.files.append(path)
        return path

    def sending(self, cluster: str = "") -> str:
        """A request that makes a token (a login: cluster "", or generateKubeconfig) is about to go: note it."""
        entry = RetiredToken(cluster, ClusterToken(f"request-{temp_name('')[1:]}", minted=time.time()), "request")
        path = self.note([entry])
        self.requests[path] = entry
        return path

    def sending_login(self) -> None:
        self.request = self.sending("")

    def login_token(self, body) -> None:
        """A login answer (a flat body or an ext Token object) just arrived: note its token, then forget the request."""
        from kubectl_ace.rancher import exttokens

        if exttokens.is_token_object(body):
            body = exttokens.flat(body)
        token = body.get("token") if isinstance(body, dict) else None
        if isinstance(token, str) and ":" in token:
            self.tokens[token] = self.note([RetiredToken("", ClusterToken(token), "login")])
        self.drop(self.request)

    def drop(self, path: str) -> None:
        """What the file names was kept or revoked: the file goes."""
        self.requests.pop(path, None)
        if path in self.files:
            self.files.remove(path)
            _unlink(path)

    def kept(self) -> None:
        """The login was saved (the store holds its token now): every file of this process goes."""
        for path in self.files:
            _unlink(path)
        self.files.clear()
        self.tokens.clear()

    def abandon(self, client, err: BaseException) -> None:
        """A login failed: end the tokens noted; a file stays for each that did not end, and for a request whose
        answer never came if its token could not be looked for."""
        from kubectl_ace.rancher import tokenapi

        if isinstance(err, AuthenticationFailed):
            self.drop(self.request)  # refused: Rancher made no token
        self.unanswered(client)
        for token, path in list(self.tokens.items()):
            try:
                tokenapi.logout(client, token)
            except AuthenticationFailed:
                pass  # Rancher no longer knows it
            except (AceError, OSError):
                continue  # Rancher does not answer: the file becomes an orphan that logout reads
            self.drop(path)
        self.tokens.clear()

    def unanswered(self, client) -> None:
        """Before this process ends: requests whose answers never came (cut, timed out) may have made tokens; look
        for them with a login the store holds and revoke them. The requests are forgotten either way (best effort:
        a failed command keeps nothing in the store)."""
        if not self.requests:
            return
        try:
            record = self.store.read(self.server)
            if record is not None and record.logins:
                probe = ServerRecord(self.server)
                probe.logins, probe.pending = record.logins, list(self.requests.values())
                revoke(client, probe, busy(self.store, self.server))
        except AceError:
            pass
        for path in list(self.requests):
            self.drop(path)


def with_orphans(store, server: str, record: ServerRecord | None) -> ServerRecord | None:
    """The record plus the tokens found in temp files of killed writers, as retired or pending ones (for logout)."""
    from kubectl_ace.files import orphans
    from kubectl_ace.store import read_orphans

    path = store.server_file(server)
    found = read_orphans(orphans(os.path.dirname(path), of=path), server)
    if not found:
        return record
    merged = record or ServerRecord(server, found[0].cacert, found[0].insecure)
    merged.keep_orphaned(found, time.time())
    return merged


def busy(store, server: str) -> set[str]:
    """Names of the tokens running kubectl-ace processes noted for this server (theirs: not to be matched)."""
    from kubectl_ace.files import is_running, writer_of
    from kubectl_ace.store import read_orphans

    path = store.server_file(server)
    folder, base = os.path.dirname(path), os.path.basename(path)
    try:
        names = os.listdir(folder)
    except OSError:
        return set()
    pids = {name: writer_of(name, base) for name in names}
    live = [os.path.join(folder, name) for name, pid in pids.items() if pid is not None and is_running(pid)]
    found: set[str] = set()
    for record in read_orphans(live, server):
        found.update(old.entry.token_id for old in record.pending)
    return found


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def revoke(client, record: ServerRecord, busy: set[str] | None = None) -> tuple[int, list[RetiredToken]]:
    """Revoke the record's pending entries: a login token ends itself; a fetch's tokens and Kubeconfig objects go
    with a login token Rancher accepts (a login's or a pending one); a request's token is looked for first.
    `busy`: names of tokens running processes noted. Returns (tokens revoked, entries gone)."""
    from kubectl_ace.rancher import extkubeconfigs, tokenapi

    logins = [old.entry.token for old in record.pending if old.kind == "login"]
    credentials = [login.token for login in record.logins.values() if login.token and login.origin != "imported"]
    credentials += logins
    revoked, gone = 0, []
    requests = [old for old in record.pending if old.kind == "request"]
    if requests:
        found = _made_by(client, record, requests, credentials, busy)
        gone += requests  # looked for once: a request that made nothing (or whose token is gone) is forgotten
        record.pending = [old for old in record.pending if old.kind != "request"] + found
    for old in record.pending:
        if old.kind in ("login", "request"):
            continue
        for credential in credentials:
            try:
                if old.kind == "kubeconfig":
                    deleted = extkubeconfigs.delete(client, credential, old.entry.token)
                else:
                    deleted = tokenapi.delete(client, credential, old.entry.token, old.entry.token_id)
            except AuthenticationFailed:
                continue  # that credential is dead: try the next one
            if deleted:
                revoked += int(old.entry.extra.get("owns") or 1) if old.kind == "kubeconfig" else 1
                gone.append(old)
                break
    for old in record.pending:
        if old.kind == "login":
            if tokenapi.logout_if_live(client, old.entry.token):
                revoked += 1
            gone.append(old)  # ended now, or Rancher no longer accepts it
    return revoked, gone


def _made_by(client, record: ServerRecord, requests, credentials: list[str], busy) -> list[RetiredToken]:
    """The tokens killed requests made, as pending entries: for each, the earliest never-used token of its kind and
    cluster created within REQUEST_WINDOW of its sending that nobody holds."""
    held = set(busy or ())
    for login in record.logins.values():
        held.update({login.token_id, *(e.token_id for e in login.clusters.values())})
        held.update(old.entry.token_id for old in login.retired)
    held.update(old.entry.token_id for old in record.pending)
    listed: list[tuple[float, str, str]] = []  # created (our clock), name, cluster
    for credential in credentials:
        try:
            listed = _listed(client, credential)
        except AuthenticationFailed:
            continue
        if listed:
            break
    found: list[RetiredToken] = []
    left = sorted(requests, key=lambda old: old.entry.minted or 0)
    # Scoped tokens first: generateKubeconfig of a cluster without ACE makes an unscoped one, as a login does.
    for exact in (True, False):
        for request in list(left):
            sent = request.entry.minted or 0
            for created, name, cluster in sorted(listed):
                fits = cluster == request.cluster if exact else not cluster
                if fits and name not in held and sent + REQUEST_WINDOW[0] <= created <= sent + REQUEST_WINDOW[1]:
                    held.add(name)
                    left.remove(request)
                    found.append(RetiredToken(cluster, ClusterToken(f"{name}:", name), "cluster"))
                    break
    return found


def _listed(client, credential: str) -> list[tuple[float, str, str]]:
    """The user's never-used tokens that a login or generateKubeconfig makes: (created on our clock, name, cluster)."""
    from kubectl_ace.rancher import exttokens

    found = []
    answer = client.request("GET", "/v3/tokens", token=credential, allow=(403, 404))
    offset = answer.server_time_offset()
    for item in answer.body.get("data") or [] if answer.status == 200 and isinstance(answer.body, dict) else []:
        item = exttokens.mapping(item)
        stamp = item.get("createdTS")
        if item.get("description") == MADE_BY_REQUESTS and not item.get("lastUsedAt") and isinstance(stamp, int):
            found.append((stamp / 1000 - offset, str(item.get("name") or ""), str(item.get("clusterId") or "")))
    return found


def settle(client, store, server: str) -> None:
    """After a login: revoke what killed processes left pending for this server and forget it (best effort)."""
    record = store.read(server)
    if record is None or not record.pending:
        return
    try:
        _, gone = revoke(client, record, busy(store, server))
    except AceError:
        return  # logout tries again
    names = {old.entry.token for old in gone}

    def drop(current: ServerRecord | None) -> ServerRecord | None:
        if current is not None:
            current.pending = [old for old in current.pending if old.entry.token not in names]
        return current

    if names:
        store.update(server, drop)


def kubeconfig_object(name: str, tokens: list[str]) -> RetiredToken:
    """A pending entry for an ext Kubeconfig object: deleting it deletes the tokens it owns."""
    return RetiredToken(
        "", ClusterToken(name, name, minted=time.time(), extra={"owns": len(tokens) or 1}), "kubeconfig"
    )


def generated_tokens(cluster_id: str, tokens: list[str]) -> list[RetiredToken]:
    """Pending entries for the tokens of a generateKubeconfig answer."""
    return [RetiredToken(cluster_id, ClusterToken(token, token_id_of(token), minted=time.time())) for token in tokens]
