"""Secrets Rancher hands a process, written down before anything else happens, until they are kept or revoked.

A login's token, the tokens in a generateKubeconfig answer and an ext Kubeconfig object (whose tokens die with it)
live at Rancher from its answer on. Each is written at once, with one write and one fsync, to a file of its own
beside the server's store file, named as that file's temp file (`<host>.json.<pid>.<ns>.tmp`): while this process
lives nobody touches it; once it is dead, the next write of the record carries its entries into the record's
`pending` list and logout revokes them (Store.update, with_orphans). A pending entry is a thing to revoke,
never a usable login. Imported by login, logout and fetch code only (not the hot path).
"""

from __future__ import annotations

import json
import os
import time

from kubectl_ace.errors import AceError, AuthenticationFailed
from kubectl_ace.files import temp_name, write_new
from kubectl_ace.records import ClusterToken, RetiredToken, ServerRecord, token_id_of


class Pending:
    """The pending files this process wrote for one server; each is removed once what it names is kept or revoked."""

    def __init__(self, store, server: str, cacert: str | None, insecure: bool) -> None:
        self.store = store
        self.server = server
        self.trust = (cacert, insecure)  # how logout reaches Rancher when no record says it yet
        self.files: list[str] = []
        self.tokens: dict[str, str] = {}  # login token -> its file

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

    def login_token(self, body) -> None:
        """A login answer (a flat body or an ext Token object) just arrived: note its token."""
        from kubectl_ace.rancher import exttokens

        if exttokens.is_token_object(body):
            body = exttokens.flat(body)
        token = body.get("token") if isinstance(body, dict) else None
        if isinstance(token, str) and ":" in token:
            self.tokens[token] = self.note([RetiredToken("", ClusterToken(token), "login")])

    def drop(self, path: str) -> None:
        """What the file names was kept or revoked: the file goes."""
        if path in self.files:
            self.files.remove(path)
            _unlink(path)

    def kept(self) -> None:
        """The login was saved (the store holds its token now): every file of this process goes."""
        for path in self.files:
            _unlink(path)
        self.files.clear()
        self.tokens.clear()

    def abandon(self, client) -> None:
        """A login failed after Rancher answered it: end the tokens noted; a file stays for each that did not end."""
        from kubectl_ace.rancher import tokenapi

        for token, path in list(self.tokens.items()):
            try:
                tokenapi.logout(client, token)
            except AuthenticationFailed:
                pass  # Rancher no longer knows it
            except (AceError, OSError):
                continue  # Rancher does not answer: the file becomes an orphan that logout reads
            self.drop(path)
        self.tokens.clear()


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


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def revoke(client, record: ServerRecord) -> tuple[int, list[RetiredToken]]:
    """Revoke the record's pending entries: a login token ends itself; a fetch's tokens and Kubeconfig objects go
    with a login token Rancher accepts (a login's or a pending one). Returns (tokens revoked, entries gone)."""
    from kubectl_ace.rancher import extkubeconfigs, tokenapi

    logins = [old.entry.token for old in record.pending if old.kind == "login"]
    credentials = [login.token for login in record.logins.values() if login.token and login.origin != "imported"]
    credentials += logins
    revoked, gone = 0, []
    for old in record.pending:
        if old.kind == "login":
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


def settle(client, store, server: str) -> None:
    """After a login: revoke what killed processes left pending for this server and forget it (best effort)."""
    record = store.read(server)
    if record is None or not record.pending:
        return
    try:
        _, gone = revoke(client, record)
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
