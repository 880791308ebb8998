"""Logging in to Rancher once and keeping that login in the token store."""

from __future__ import annotations

import os
import sys
import time

from kubectl_ace import store
from kubectl_ace.errors import AceError, AuthenticationFailed, RancherError, UsageError
from kubectl_ace.rancher import auth
from kubectl_ace.rancher import tokens as api
from kubectl_ace.rancher.client import Client


class LoginResult:
    """Who is logged in where, and until when (local epoch; None = never)."""

    def __init__(self, server: str, user: str, user_id: str, provider: str, expires: float | None) -> None:
        self.server = server
        self.user = user
        self.user_id = user_id
        self.provider = provider
        self.expires = expires


class TerminalPrompter:
    """Prompts on the terminal (or stderr), never on stdout: stdout belongs to kubectl in the exec path."""

    def __init__(self) -> None:
        self._tty = None
        try:
            self._tty = open("/dev/tty", "r+", encoding="utf-8") if os.name != "nt" else None
        except OSError:
            self._tty = None

    def _ask(self, text: str) -> str:
        if self._tty:
            self._tty.write(text)
            self._tty.flush()
            line = self._tty.readline()
        elif sys.stdin and sys.stdin.isatty():
            sys.stderr.write(text)
            sys.stderr.flush()
            line = sys.stdin.readline()
        else:
            raise UsageError("a login needs a terminal to prompt on; use --password-stdin or --token-stdin")
        if not line:
            raise UsageError("no answer to the login prompt (end of input)")
        return line.rstrip("\r\n")

    def say(self, text: str) -> None:
        print(text, file=sys.stderr)

    def choose_provider(self, providers: list[dict]) -> dict:
        if not self._tty and not (sys.stdin and sys.stdin.isatty()):
            names = ", ".join(auth.provider_id(item) for item in providers)
            raise UsageError(f"several auth providers are enabled ({names}); pass --auth-provider")
        self.say("Auth providers:")
        for index, item in enumerate(providers):
            self.say(f"{index} - {auth.provider_id(item)} ({item['type']})")
        for _ in range(3):
            answer = self._ask("Select auth provider: ").strip()
            if answer.isdigit() and int(answer) < len(providers):
                return providers[int(answer)]
            matches = [item for item in providers if answer.lower() in (item["type"].lower(),
                                                                        auth.provider_id(item).lower())]
            if answer and matches:
                return matches[0]
            self.say("Pick a valid auth provider")
        raise UsageError("no valid auth provider chosen; pass --auth-provider")

    def username(self, default: str | None) -> str:
        answer = self._ask(f"Username [{default}]: " if default else "Username: ").strip()
        answer = answer or (default or "")
        if not answer:
            raise UsageError("a username is needed; pass --user")
        return answer

    def password(self, user: str) -> str:
        import getpass
        if self._tty or (sys.stdin and sys.stdin.isatty()):
            return getpass.getpass(f"Password for {user}: ", stream=sys.stderr)
        raise UsageError("a password prompt needs a terminal; use --password-stdin")


def log_in(server: str, directory: str, *, provider: str | None = None, user: str | None = None,
           password: str | None = None, api_key: str | None = None, cacert_pem: str | None = None,
           insecure: bool = False, ttl_seconds: float | None = None, prompter=None) -> LoginResult:
    """Authenticate to Rancher and store the login; replaces (and revokes) an earlier login of the same user."""
    server = store.normalize_server(server)
    ca = store.ca_file(directory, server, cacert_pem) if cacert_pem else None
    client = Client(server, ca_file=ca, verify=not insecure)
    if api_key is not None:
        login = _check_api_key(client, api_key)
    else:
        login = _password_login(client, provider, user, password, prompter or TerminalPrompter())
    if ttl_seconds:
        login = _with_ttl(client, login, ttl_seconds)
    previous = _save(directory, server, login, cacert_pem, insecure)
    if previous and previous.get("token") and previous.get("origin") == "login" \
            and previous.get("token") != login["token"]:
        _revoke_quietly(client, login["token"], previous.get("token_id"))
    return LoginResult(server, login["name"], login.get("user_id", ""), login.get("provider", ""),
                       login.get("expires"))


def _password_login(client: Client, wanted: str | None, user: str | None, password: str | None,
                    prompter) -> dict:
    providers = auth.discover(client)
    if not providers.items:
        raise RancherError(f"no auth provider is enabled on {client.server}")
    if wanted:
        provider = auth.find(providers, wanted)
    elif len(providers.items) == 1:
        provider = providers.items[0]
    else:
        provider = prompter.choose_provider(providers.items)
    if provider["type"] not in auth.BASIC:
        raise UsageError(f"{provider['type']} logins need a browser; create an API key in the Rancher UI "
                         f"(avatar → Account & API Keys) and run: kubectl ace login --server {client.server} "
                         "--token-stdin")
    if not user:
        user = prompter.username(None)
    if password is None:
        prompter.say(f"Enter credentials for {provider['type']}")
        password = prompter.password(user)
    try:
        answer = auth.password_login(client, providers, provider, user, password)
    except AuthenticationFailed as err:
        raise AuthenticationFailed(f"Rancher at {client.server} refused the login of {user} "
                                   f"({err.message.rpartition(': ')[2]}); check the username and password") from None
    body = answer.body
    from kubectl_ace.tokens import server_time_to_local
    return {"name": user, "token": body["token"], "token_id": api.token_id(body["token"]),
            "user_id": body.get("userId", ""), "provider": provider["type"], "origin": "login",
            "expires": server_time_to_local(body.get("expiresAt") or "", answer),
            "expires_at": body.get("expiresAt") or "", "created": time.time()}


def _check_api_key(client: Client, api_key: str) -> dict:
    """Ask Rancher about the key itself: it must be valid and unscoped, so it can mint for every cluster."""
    api_key = api_key.strip()
    if ":" not in api_key:
        raise UsageError("that is not a Rancher API key: expected `token-xxxxx:secret` (the Bearer Token "
                         "shown once when the key is created)")
    try:
        answer = client.request("GET", f"/v3/tokens/{api.token_id(api_key)}", token=api_key)
    except AuthenticationFailed:
        raise AuthenticationFailed(f"Rancher at {client.server} refused the API key (unknown, expired, disabled, "
                                   "or scoped to one cluster); create an unscoped key in the Rancher UI") from None
    body = answer.body if isinstance(answer.body, dict) else {}
    if body.get("clusterId"):
        raise UsageError(f"the API key is scoped to cluster {body['clusterId']}; kubectl-ace needs an unscoped "
                         "key (Scope: No Scope) to get tokens for every cluster")
    if body.get("expired") or body.get("enabled") is False:
        raise AuthenticationFailed("Rancher says the API key is expired or disabled; create a new one")
    from kubectl_ace.tokens import server_time_to_local
    user_id = body.get("userId") or api.token_id(api_key)
    return {"name": user_id, "token": api_key, "token_id": api.token_id(api_key), "user_id": user_id,
            "provider": body.get("authProvider", ""), "origin": "api-key",
            "expires": server_time_to_local(body.get("expiresAt") or "", answer),
            "expires_at": body.get("expiresAt") or "", "created": time.time()}


def _with_ttl(client: Client, login: dict, ttl_seconds: float) -> dict:
    """Swap the login token for one with the TTL asked for (login tokens get Rancher's default TTL)."""
    from kubectl_ace.tokens import local_expiry
    answer = api.mint(client, login["token"], None, int(ttl_seconds * 1000), "kubectl-ace login")
    if login["origin"] == "login":
        _revoke_quietly(client, answer.body["token"], login["token_id"])
    return dict(login, token=answer.body["token"], token_id=api.token_id(answer.body["token"]),
                expires=local_expiry(answer.body, answer), expires_at=answer.body.get("expiresAt") or "",
                origin="login")


def _save(directory: str, server: str, login: dict, cacert_pem: str | None, insecure: bool) -> dict | None:
    previous: dict = {}

    def put(record: dict | None) -> dict:
        record = record or {"logins": {}}
        logins = record.setdefault("logins", {})
        old = logins.get(login["name"]) or {}
        previous.update(old)
        logins[login["name"]] = dict(login, clusters=old.get("clusters", {}))
        record["current_user"] = login["name"]
        record["cacert"] = cacert_pem
        record["insecure"] = insecure
        return record

    store.update(directory, server, put, reset_corrupt=True)
    return previous


def _revoke_quietly(client: Client, token: str, name: str | None) -> None:
    if not name:
        return
    try:
        api.delete(client, token, name)
    except AceError:
        pass  # best effort: the old token expires on its own


class LogoutResult:
    """What a logout did at Rancher and in the store."""

    def __init__(self, server: str) -> None:
        self.server = server
        self.revoked = 0
        self.unreachable = ""  # why Rancher could not be told, if it could not


def log_out(server: str, directory: str, cluster: str | None = None) -> LogoutResult:
    """Revoke the server's tokens at Rancher where it answers, and delete them from the store either way.

    With `cluster`, only that cluster's token goes; the login stays.
    """
    server = store.normalize_server(server)
    result = LogoutResult(server)
    record = store.read(directory, server)
    if record is None:
        return result
    if cluster:
        return _drop_cluster(server, directory, record, cluster, result)
    client = _client_for(server, directory, record)
    try:
        for login in (record.get("logins") or {}).values():
            if not login.get("token"):
                continue
            for entry in (login.get("clusters") or {}).values():
                if api.delete(client, login["token"], entry.get("token_id") or api.token_id(entry["token"])):
                    result.revoked += 1
            if login.get("origin") == "login":
                api.logout(client, login["token"])
                result.revoked += 1
    except AuthenticationFailed:
        pass  # the login is already dead at Rancher; its cluster tokens expire with their TTL
    except AceError as err:
        result.unreachable = err.message
    store.update(directory, server, lambda current: None)
    return result


def _drop_cluster(server: str, directory: str, record: dict, cluster: str, result: LogoutResult) -> LogoutResult:
    client = _client_for(server, directory, record)
    for login in (record.get("logins") or {}).values():
        entry = (login.get("clusters") or {}).get(cluster)
        if not entry:
            continue
        try:
            if login.get("token") and api.delete(client, login["token"], entry.get("token_id")
                                                 or api.token_id(entry["token"])):
                result.revoked += 1
        except AuthenticationFailed:
            pass
        except AceError as err:
            result.unreachable = err.message

    def drop(current: dict | None) -> dict | None:
        for login in (current or {}).get("logins", {}).values():
            (login.get("clusters") or {}).pop(cluster, None)
        return current

    store.update(directory, server, drop)
    return result


def _client_for(server: str, directory: str, record: dict) -> Client:
    ca = store.ca_file(directory, server, record["cacert"]) if record.get("cacert") else None
    return Client(server, ca_file=ca, verify=not record.get("insecure"), read_timeout=10.0)
