"""Logging in to Rancher once and keeping that login in the token store.

The story of a login: find the providers, pick one, and run its flow — a password prompt, Rancher's
SAML browser flow, Azure AD (device code or auth code + PKCE), or, for every other provider, the
advice to log in with an API key. Flows print on stderr (or the terminal), never on stdout: in the
exec path stdout belongs to kubectl. Nothing is stored until a login has fully succeeded.
"""

from __future__ import annotations

import os
import sys
import time

from kubectl_ace import store
from kubectl_ace.errors import AceError, AuthenticationFailed, RancherError, UsageError
from kubectl_ace.rancher import auth
from kubectl_ace.rancher import tokens as api
from kubectl_ace.rancher.client import Client

LOGIN_TIMEOUT = 900.0        # Rancher's CLI waits 15 min for a browser login
SAML_POLL_INTERVAL = 10.0    # and polls for its token every 10 s
TIMEOUT_ENV = "KUBECTL_ACE_LOGIN_TIMEOUT"
POLL_ENV = "KUBECTL_ACE_POLL_INTERVAL"   # seconds; overrides the SAML and device code intervals (tests)
NO_BROWSER_ENV = "KUBECTL_ACE_NO_BROWSER"
AUTH_FLOW_ENV = "CATTLE_OAUTH_AUTH_FLOW"  # as Rancher's CLI: the --auth-flow flag wins


class LoginResult:
    """Who is logged in where, and until when (local epoch; None = never)."""

    def __init__(self, server: str, user: str, user_id: str, provider: str, expires: float | None,
                 origin: str = "login") -> None:
        self.server = server
        self.user = user
        self.user_id = user_id
        self.provider = provider
        self.expires = expires
        self.origin = origin  # "login" or "api-key"


class LoginInterrupted(AceError):
    """Ctrl-C during a login."""

    exit_code = 130


class LoginOptions:
    """How an interactive login runs: the Azure AD flow, whether to open a browser, how long to wait, how often to poll."""

    def __init__(self, auth_flow: str | None = None, open_browser: bool | None = None,
                 timeout: float | None = None, poll_interval: float | None = None) -> None:
        flow = (auth_flow or os.environ.get(AUTH_FLOW_ENV, "") or "devicecode").strip().lower()
        if flow not in ("devicecode", "authcode"):
            raise UsageError(f"the auth flow {flow!r} is unknown; use devicecode or authcode")
        self.auth_flow = flow
        if open_browser is None:
            open_browser = os.environ.get(NO_BROWSER_ENV, "").strip().lower() in ("", "0", "false", "no")
        self.open_browser = open_browser
        self.timeout = timeout if timeout is not None else _env_seconds(TIMEOUT_ENV, LOGIN_TIMEOUT)
        # None: each flow's own interval (10 s for SAML, the IdP's for device code).
        self.poll_interval = poll_interval if poll_interval is not None else _env_seconds(POLL_ENV, None)


def _env_seconds(name: str, default: float | None) -> float | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        seconds = float(value.rstrip("s"))
    except ValueError:
        raise UsageError(f"{name}={value!r} is not a number of seconds") from None
    if seconds <= 0:
        raise UsageError(f"{name} must be more than 0 seconds")
    return seconds


class TerminalPrompter:
    """Prompts on the terminal (or stderr), never on stdout: stdout belongs to kubectl in the exec path."""

    def __init__(self) -> None:
        self._tty = None
        self._progress_shown = False
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
        print(text, file=sys.stderr, flush=True)

    def progress(self, text: str) -> None:
        """Rewrite one status line, on a terminal only (logs and pipes get no carriage returns)."""
        if sys.stderr and sys.stderr.isatty():
            sys.stderr.write("\r\x1b[K" + text)
            sys.stderr.flush()
            self._progress_shown = True

    def progress_done(self) -> None:
        if self._progress_shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
            self._progress_shown = False

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


class Waiting:
    """A once-a-second progress line while a browser login runs: elapsed time, the limit, how to cancel."""

    def __init__(self, prompter, what: str, timeout: float) -> None:
        self.prompter = prompter
        self.what = what
        self.timeout = timeout
        self.started = time.monotonic()
        self.shown = -1

    def tick(self) -> None:
        elapsed = int(time.monotonic() - self.started)
        if elapsed == self.shown or not hasattr(self.prompter, "progress"):
            return
        self.shown = elapsed
        self.prompter.progress(f"{self.what}... {elapsed // 60}:{elapsed % 60:02d} "
                               f"(gives up after {_duration(self.timeout)}; Ctrl-C to cancel)")

    def done(self) -> None:
        if hasattr(self.prompter, "progress_done"):
            self.prompter.progress_done()


def log_in(server: str, directory: str, *, provider: str | None = None, user: str | None = None,
           password: str | None = None, api_key: str | None = None, cacert_pem: str | None = None,
           insecure: bool = False, ttl_seconds: float | None = None, prompter=None,
           options: LoginOptions | None = None, preferred: str | None = None) -> LoginResult:
    """Authenticate to Rancher and store the login; replaces (and revokes) an earlier login of the same user.

    `preferred` is the provider of an earlier login: used without asking while it is still enabled.
    """
    server = store.normalize_server(server)
    ca = store.ca_file(directory, server, cacert_pem) if cacert_pem else None
    client = Client(server, ca_file=ca, verify=not insecure)
    if api_key is not None:
        login = _check_api_key(client, api_key)
    else:
        try:
            login = _interactive_login(client, provider, user, password, prompter or TerminalPrompter(),
                                       options or LoginOptions(), preferred)
        except KeyboardInterrupt:
            raise LoginInterrupted("the login was interrupted; nothing was saved") from None
    if ttl_seconds:
        login = _with_ttl(client, login, ttl_seconds)
    previous = _save(directory, server, login, cacert_pem, insecure)
    if previous and previous.get("token") and previous.get("origin") == "login" \
            and previous.get("token") != login["token"]:
        _revoke_quietly(client, login["token"], previous.get("token_id"))
    return LoginResult(server, login["name"], login.get("user_id", ""), login.get("provider", ""),
                       login.get("expires"), login.get("origin", "login"))


def _interactive_login(client: Client, wanted: str | None, user: str | None, password: str | None,
                       prompter, options: LoginOptions, preferred: str | None = None) -> dict:
    """Pick the provider, then run its flow."""
    providers = auth.discover(client)
    if not providers.items:
        raise RancherError(f"no auth provider is enabled on {client.server}")
    remembered = [item for item in providers.items if preferred in (item["type"], auth.provider_id(item))]
    if wanted:
        provider = auth.find(providers, wanted)
    elif remembered:
        provider = remembered[0]
    elif len(providers.items) == 1:
        provider = providers.items[0]
    else:
        provider = prompter.choose_provider(providers.items)
    flow = auth.flow_of(provider)
    if flow == "api-key":
        raise UsageError(api_key_advice(client.server, provider))
    if flow != "password" and password is not None:
        raise UsageError(f"{auth.provider_id(provider)} ({provider['type']}) logs in through a browser, not with "
                         "a password; leave out --password-stdin")
    if flow == "saml":
        return _saml_login(client, providers, provider, prompter, options)
    if flow == "azure":
        return _azure_login(client, providers, provider, prompter, options)
    return _password_login(client, providers, provider, user, password, prompter)


def api_key_advice(server: str, provider: dict) -> str:
    """Exactly how users of a provider without a CLI flow (GitHub, Google, OIDC, Cognito, …) log in."""
    return (f"{auth.provider_id(provider)} ({provider['type']}) has no command-line login: create an API key in "
            f"the Rancher UI ({server}/dashboard/account → Create API Key, Scope: No Scope), then run "
            f"`kubectl ace login --server {server} --token-stdin` and paste its Bearer Token")


def _password_login(client: Client, providers: auth.Providers, provider: dict, user: str | None,
                    password: str | None, prompter) -> dict:
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
    return _login_record(client, answer.body, answer, provider["type"], user)


def _saml_login(client: Client, providers: auth.Providers, provider: dict, prompter, options: LoginOptions) -> dict:
    """Rancher's browser flow: print and open the dashboard URL, poll for the encrypted token, decrypt it."""
    from kubectl_ace.rancher import saml

    keys = saml.KeyPair()
    request_id = saml.new_request_id()
    url = saml.login_url(client.server, keys.public_key(), request_id)
    prompter.say(f"Log in to Rancher with {auth.provider_id(provider)} in a browser (login request id "
                 f"{request_id}):\n{url}")
    _offer_in_browser(url, prompter, options)
    waiting = Waiting(prompter, "Waiting for the browser login", options.timeout)
    try:
        body, answer = saml.wait_for_token(client, providers.api, request_id,
                                           deadline=time.monotonic() + options.timeout,
                                           interval=options.poll_interval or SAML_POLL_INTERVAL,
                                           tick=waiting.tick, timeout_text=_duration(options.timeout))
    finally:
        waiting.done()
    # Deleted before decrypting: whatever it holds, nobody needs it at Rancher any more.
    warning = saml.delete_token(client, providers.api, request_id)
    if warning:
        prompter.say(f"kubectl-ace: warning: {warning}")
    bearer = keys.decrypt(body["token"])
    return _login_record(client, dict(body, token=bearer), answer, provider["type"], None)


def _azure_login(client: Client, providers: auth.Providers, provider: dict, prompter, options: LoginOptions) -> dict:
    """Azure AD: an id_token by device code (default) or auth code + PKCE, then Rancher's login with it."""
    from kubectl_ace.rancher import azure

    idp = azure.IdentityProvider(provider)
    deadline = time.monotonic() + options.timeout
    waiting = Waiting(prompter, "Waiting for the Azure AD sign-in", options.timeout)
    if options.auth_flow == "authcode":
        import secrets
        verifier, challenge = azure.pkce_pair()
        state = secrets.token_urlsafe(32)
        callback = azure.Callback(state)
        try:
            url = azure.authorize_url(idp, callback.redirect_uri, state, challenge)
            prompter.say(f"Sign in to Azure AD in a browser:\n{url}")
            _offer_in_browser(url, prompter, options)
            code = callback.wait(deadline, waiting.tick)
        finally:
            waiting.done()
            callback.close()
        id_token = azure.redeem_code(idp, code, callback.redirect_uri, verifier)
    else:
        device = azure.start_device_code(idp)
        prompter.say(f"To sign in, use a web browser to open the page {device['verification_uri']} and enter the "
                     f"code {device['user_code']} to authenticate.")
        try:
            id_token = azure.wait_for_device_code(idp, device, deadline=deadline, interval=options.poll_interval,
                                                  tick=waiting.tick)
        finally:
            waiting.done()
    answer = azure.rancher_login(client, providers, provider, id_token)
    return _login_record(client, answer.body, answer, provider["type"], None)


def _offer_in_browser(url: str, prompter, options: LoginOptions) -> None:
    if not options.open_browser:
        prompter.say("Open that URL in a browser to continue.")
    elif open_browser(url):
        prompter.say("Opened it in your browser; finish the login there.")
    else:
        prompter.say("No browser could be started here: open that URL in a browser to continue.")


def open_browser(url: str) -> bool:
    """Start the user's browser on url ($BROWSER first), detached, with a clean environment; False if none.

    Never a text-mode browser: it would take over the terminal kubectl runs in.
    """
    import shlex
    import subprocess
    import threading
    from kubectl_ace.procenv import child_env

    env = child_env()
    commands: list[list[str]] = []
    for entry in os.environ.get("BROWSER", "").split(os.pathsep):
        if entry.strip():
            argv = shlex.split(entry, posix=os.name != "nt")
            commands.append([arg.replace("%s", url) for arg in argv] if "%s" in entry else argv + [url])
    if not commands:
        if sys.platform == "darwin":
            commands.append(["open", url])
        elif sys.platform == "win32":
            try:
                os.startfile(url)  # noqa: S606 - the shell's URL handler; nothing of ours is inherited
                return True
            except OSError:
                return False
        elif os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
            commands.append(["xdg-open", url])
        else:
            commands.append(["wslview", url])  # WSL: the Windows browser; absent elsewhere
    for argv in commands:
        try:
            child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, env=env, start_new_session=os.name != "nt")
        except (OSError, ValueError):
            continue
        threading.Thread(target=child.wait, daemon=True).start()  # reap it whenever it ends
        return True
    return False


def _login_record(client: Client, body: dict, answer, provider_type: str, name: str | None) -> dict:
    """What the store keeps of a login; name=None asks Rancher who logged in (browser logins have no username)."""
    from kubectl_ace.tokens import server_time_to_local
    token = body["token"]
    user_id = body.get("userId") or ""
    if name is None or not user_id:  # Rancher ≥ 2.13 answers a login without the user id
        who, user_id = _whoami(client, token, user_id)
        name = name or who
    return {"name": name, "token": token, "token_id": api.token_id(token), "user_id": user_id,
            "provider": provider_type, "origin": "login",
            "expires": server_time_to_local(body.get("expiresAt") or "", answer),
            "expires_at": body.get("expiresAt") or "", "created": time.time()}


def _whoami(client: Client, token: str, user_id: str) -> tuple[str, str]:
    """(username, else user id; user id) of the token's owner, from GET /v3/users?me=true."""
    try:
        answer = client.request("GET", "/v3/users?me=true", token=token)
        data = answer.body.get("data") if isinstance(answer.body, dict) else None
        me = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else {}
    except AceError:
        me = {}  # the login itself worked; a name is only a label
    user_id = str(me.get("id") or user_id or "")
    name = str(me.get("username") or user_id or api.token_id(token))
    return name, user_id


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds % 3600 == 0 and seconds >= 3600:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0 and seconds >= 60:
        return f"{seconds // 60} min"
    return f"{seconds} s"


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
        clusters = dict(old.get("clusters", {}))
        # Tokens that `convert` moved in before there was a login belong to this user: adopt them.
        for name, other in list(logins.items()):
            if other.get("origin") == "imported" and login.get("user_id") in (other.get("user_id"), name):
                for cluster_id, entry in (other.get("clusters") or {}).items():
                    clusters.setdefault(cluster_id, entry)
                del logins[name]
        logins[login["name"]] = dict(login, clusters=clusters)
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
