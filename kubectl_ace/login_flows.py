"""The login flows, one per kind of auth provider: a password prompt, Rancher's SAML browser flow, Azure AD
(device code or auth code + PKCE), and, for every other provider, the advice to log in with an API key.

Each flow ends with a Login for the store; nothing is stored here but, the moment Rancher answers, its token as
pending (pending.py): revoked by logout if this process is killed before the login is kept.
"""

from __future__ import annotations

import os
import time

from kubectl_ace.errors import AceError, AuthenticationFailed, RancherError, UsageError
from kubectl_ace.prompter import Waiting, duration, open_browser
from kubectl_ace.rancher import auth, tokenapi
from kubectl_ace.rancher.client import Client
from kubectl_ace.records import Login, token_id_of

LOGIN_TIMEOUT = 900.0  # Rancher's CLI waits 15 min for a browser login
SAML_POLL_INTERVAL = 10.0  # and polls for its token every 10 s
TIMEOUT_ENV = "KUBECTL_ACE_LOGIN_TIMEOUT"
POLL_ENV = "KUBECTL_ACE_POLL_INTERVAL"  # seconds; overrides the SAML and device code intervals (tests)
NO_BROWSER_ENV = "KUBECTL_ACE_NO_BROWSER"
AUTH_FLOW_ENV = "CATTLE_OAUTH_AUTH_FLOW"  # as Rancher's CLI: the --auth-flow flag wins


class LoginInterrupted(AceError):
    """Ctrl-C during a login."""

    exit_code = 130


class LoginOptions:
    """How an interactive login runs: the Azure AD flow, whether to open a browser, how long to wait, how often to
    poll."""

    def __init__(
        self,
        auth_flow: str | None = None,
        open_browser: bool | None = None,
        timeout: float | None = None,
        poll_interval: float | None = None,
    ) -> None:
        flow = (auth_flow or os.environ.get(AUTH_FLOW_ENV, "") or "devicecode").strip().lower()
        if flow not in ("devicecode", "authcode"):
            raise UsageError(f"the auth flow {flow!r} is unknown; use devicecode or authcode")
        self.auth_flow = flow
        if open_browser is None:
            open_browser = os.environ.get(NO_BROWSER_ENV, "").strip().lower() in ("", "0", "false", "no")
        self.open_browser = open_browser
        self.timeout: float = timeout if timeout is not None else (_env_seconds(TIMEOUT_ENV, None) or LOGIN_TIMEOUT)
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


def interactive_login(
    client: Client,
    wanted: str | None,
    user: str | None,
    password: str | None,
    prompter,
    options: LoginOptions,
    preferred: str | None = None,
    pending=None,
) -> Login:
    """Pick the provider, then run its flow; `pending` (a pending.Pending) notes the token as soon as it arrives."""
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
        raise UsageError(
            f"{auth.provider_id(provider)} ({provider['type']}) logs in through a browser, not with "
            "a password; leave out --password-stdin"
        )
    if flow == "saml":
        return _saml_login(client, providers, provider, prompter, options, pending)
    if flow == "azure":
        return _azure_login(client, providers, provider, prompter, options, pending)
    return _password_login(client, providers, provider, user, password, prompter, pending)


def api_key_advice(server: str, provider: dict) -> str:
    """Exactly how users of a provider without a CLI flow (GitHub, Google, OIDC, Cognito, …) log in."""
    return (
        f"{auth.provider_id(provider)} ({provider['type']}) has no command-line login: create an API key in "
        f"the Rancher UI ({server}/dashboard/account → Create API Key, Scope: No Scope), then run "
        f"`kubectl ace login --server {server} --token-stdin` and paste its Bearer Token"
    )


def _password_login(
    client: Client,
    providers: auth.Providers,
    provider: dict,
    user: str | None,
    password: str | None,
    prompter,
    pending=None,
) -> Login:
    if not user or password is None:  # say what the prompts are for before the first of them
        prompter.say(f"Enter credentials for {provider['type']}")
    if not user:
        user = prompter.username(None)
    if password is None:
        password = prompter.password(user)
    try:
        answer = auth.password_login(client, providers, provider, user, password, pending=pending)
    except AuthenticationFailed as err:
        raise AuthenticationFailed(
            f"Rancher at {client.server} refused the login of {user} "
            f"({err.message.rpartition(': ')[2]}); check the username and password"
        ) from None
    return _login_record(client, answer.body, answer, provider["type"], user)


def _saml_login(
    client: Client, providers: auth.Providers, provider: dict, prompter, options: LoginOptions, pending=None
) -> Login:
    """Rancher's browser flow: print and open the dashboard URL, poll for the encrypted token, decrypt it."""
    from kubectl_ace.rancher import saml

    keys = saml.KeyPair()
    request_id = saml.new_request_id()
    url = saml.login_url(client.server, keys.public_key(), request_id)
    prompter.say(
        f"Log in to Rancher with {auth.provider_id(provider)} in a browser (login request id {request_id}):\n{url}"
    )
    _offer_in_browser(url, prompter, options)
    waiting = Waiting(prompter, "Waiting for the browser login", options.timeout)
    try:
        body, answer = saml.wait_for_token(
            client,
            providers.api,
            request_id,
            deadline=time.monotonic() + options.timeout,
            interval=options.poll_interval or SAML_POLL_INTERVAL,
            tick=waiting.tick,
            timeout_text=duration(options.timeout),
        )
    finally:
        waiting.done()
    try:
        bearer = keys.decrypt(body["token"])  # local work only: the token is written down before the next request
        if pending is not None:
            pending.login_token({"token": bearer})
    finally:  # deleted whatever it holds: nobody needs the encrypted copy at Rancher any more
        warning = saml.delete_token(client, providers.api, request_id)
        if warning:
            prompter.say(f"kubectl-ace: warning: {warning}")
    return _login_record(client, dict(body, token=bearer), answer, provider["type"], None)


def _azure_login(
    client: Client, providers: auth.Providers, provider: dict, prompter, options: LoginOptions, pending=None
) -> Login:
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
        prompter.say(
            f"To sign in, use a web browser to open the page {device['verification_uri']} and enter the "
            f"code {device['user_code']} to authenticate."
        )
        try:
            id_token = azure.wait_for_device_code(
                idp, device, deadline=deadline, interval=options.poll_interval, tick=waiting.tick
            )
        finally:
            waiting.done()
    answer = azure.rancher_login(client, providers, provider, id_token, pending=pending)
    return _login_record(client, answer.body, answer, provider["type"], None)


def _offer_in_browser(url: str, prompter, options: LoginOptions) -> None:
    if not options.open_browser:
        prompter.say("Open that URL in a browser to continue.")
    elif open_browser(url):
        prompter.say("Opened it in your browser; finish the login there.")
    else:
        prompter.say("No browser could be started here: open that URL in a browser to continue.")


def _login_record(client: Client, body: dict, answer, provider_type: str, name: str | None) -> Login:
    """What the store keeps of a login; name=None asks Rancher who logged in (browser logins have no username)."""
    from kubectl_ace.rancher import exttokens
    from kubectl_ace.rancher.clock import server_time_to_local

    if exttokens.is_token_object(body):  # an ext.cattle.io/v1 Token: status.bearerToken, spec.userID
        body = exttokens.flat(body)
    token = body["token"]
    user_id = body.get("userId") or ""
    if name is None or not user_id:  # Rancher ≥ 2.13 answers a login without the user id
        who, user_id = _whoami(client, token, user_id)
        name = name or who
    return Login(
        name,
        token,
        user_id=user_id,
        provider=provider_type,
        origin="login",
        expires=server_time_to_local(body.get("expiresAt") or "", answer),
        expires_at=body.get("expiresAt") or "",
        created=time.time(),
    )


def _whoami(client: Client, token: str, user_id: str) -> tuple[str, str]:
    """(username, else user id; user id) of the token's owner, from GET /v3/users?me=true."""
    try:
        answer = client.request("GET", "/v3/users?me=true", token=token)
        data = answer.body.get("data") if isinstance(answer.body, dict) else None
        me = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else {}
    except AceError:
        me = {}  # the login itself worked; a name is only a label
    user_id = str(me.get("id") or user_id or "")
    name = str(me.get("username") or user_id or token_id_of(token))
    return name, user_id


def check_api_key(client: Client, api_key: str) -> Login:
    """Ask Rancher about the key itself: it must be valid and unscoped, so it can mint for every cluster."""
    api_key = api_key.strip()
    if ":" not in api_key:
        raise UsageError(
            "that is not a Rancher API key: expected `token-xxxxx:secret` (the Bearer Token "
            "shown once when the key is created)"
        )
    from kubectl_ace.rancher import exttokens

    path = f"{exttokens.TOKENS if exttokens.is_ext(api_key) else '/v3/tokens'}/{token_id_of(api_key)}"
    try:
        answer = client.request("GET", path, token=api_key)
    except AuthenticationFailed:
        raise AuthenticationFailed(
            f"Rancher at {client.server} refused the API key (unknown, expired, disabled, "
            "or scoped to one cluster); create an unscoped key in the Rancher UI"
        ) from None
    body = answer.body if isinstance(answer.body, dict) else {}
    if exttokens.is_token_object(body):
        body = dict(
            exttokens.flat(body), authProvider=((body.get("spec") or {}).get("userPrincipal") or {}).get("provider", "")
        )
    if body.get("clusterId"):
        raise UsageError(
            f"the API key is scoped to cluster {body['clusterId']}; kubectl-ace needs an unscoped "
            "key (Scope: No Scope) to get tokens for every cluster"
        )
    if body.get("expired") or body.get("enabled") is False:
        raise AuthenticationFailed("Rancher says the API key is expired or disabled; create a new one")
    from kubectl_ace.rancher.clock import server_time_to_local

    user_id = body.get("userId") or token_id_of(api_key)
    return Login(
        user_id,
        api_key,
        user_id=user_id,
        provider=body.get("authProvider", ""),
        origin="api-key",
        expires=server_time_to_local(body.get("expiresAt") or "", answer),
        expires_at=body.get("expiresAt") or "",
        created=time.time(),
    )


def with_ttl(client: Client, login: Login, ttl_seconds: float, pending=None) -> Login:
    """Swap the login token for one with the TTL asked for (login tokens get Rancher's default TTL)."""
    from kubectl_ace.rancher.clock import local_expiry

    answer, _ = tokenapi.mint(client, login.token, None, int(ttl_seconds * 1000), "kubectl-ace login", tokenapi.V3)
    if pending is not None:
        pending.login_token(answer.body)
    if login.origin == "login":
        revoke_quietly(client, answer.body["token"], login.token, login.token_id)
    return Login(
        login.name,
        answer.body["token"],
        user_id=login.user_id,
        provider=login.provider,
        origin="login",
        expires=local_expiry(answer.body, answer),
        expires_at=answer.body.get("expiresAt") or "",
        created=login.created,
    )


def revoke_quietly(client: Client, token: str, revoked: str, name: str | None) -> None:
    """Revoke the token `revoked` (named `name`) with `token` if it can be done; it expires on its own otherwise."""
    if not name:
        return
    try:
        tokenapi.delete(client, token, revoked, name)
    except AceError:
        pass
