"""Azure AD sign-in for Rancher (research/rancher-api.md §2.5): an id_token by device code or by
authorization code with PKCE on a loopback callback, then Rancher's login with it.

Rancher's provider entry gives the public client's id, scopes and Microsoft's endpoints; there is no
client secret. Calls to Azure AD trust the system's CAs (or REQUESTS_CA_BUNDLE), not Rancher's CA:
a private CA for Rancher says nothing about login.microsoftonline.com.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import ipaddress
import os
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable

from kubectl_ace.errors import AceError, AuthenticationFailed, NotLoggedIn, RancherError, RancherUnreachable, UsageError
from kubectl_ace.rancher import auth, polling
from kubectl_ace.rancher.client import Client, Response

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
DEFAULT_INTERVAL = 5.0
SLOW_DOWN_STEP = 5.0  # RFC 8628 §3.5: slow_down adds 5 s to the polling interval, for good
CALLBACK_PORT_ENV = "CATTLE_OAUTH_CALLBACK_PORT"
FLOWS = ("devicecode", "authcode")


class IdentityProvider:
    """Form posts to Azure AD's endpoints from Rancher's provider entry."""

    def __init__(self, provider: dict) -> None:
        self.client_id = str(provider.get("clientId") or "")
        scopes = provider.get("scopes")
        self.scope = " ".join(scopes) if isinstance(scopes, list) and scopes else "openid profile email"
        self.auth_url = provider.get("authUrl") or ""
        self.token_url = provider.get("tokenUrl") or ""
        self.device_url = provider.get("deviceAuthUrl") or ""
        if not self.client_id or not self.token_url:
            raise RancherError(
                "Rancher's Azure AD provider entry has no clientId or tokenUrl; is Azure AD fully "
                "configured in Rancher?"
            )
        import requests

        self.session = requests.Session()  # trust_env: HTTPS_PROXY/NO_PROXY and REQUESTS_CA_BUNDLE apply

    def post(self, url: str, form: dict, timeout: float = 30.0) -> tuple[int, dict]:
        """POST a form; (status, JSON object). Transport failures become one-line errors."""
        import requests

        check_url(url)
        host = urllib.parse.urlsplit(url).netloc
        try:
            answer = self.session.post(
                url, data=form, headers={"Accept": "application/json"}, timeout=(5.0, timeout), allow_redirects=False
            )
        except requests.exceptions.SSLError:
            raise RancherUnreachable(
                f"cannot verify the TLS certificate of Azure AD at {host}; if a proxy "
                "re-signs TLS, point REQUESTS_CA_BUNDLE at its CA"
            ) from None
        except requests.exceptions.Timeout:
            raise RancherUnreachable(f"Azure AD at {host} did not answer within {timeout:g} s") from None
        except requests.exceptions.RequestException as err:
            raise RancherUnreachable(f"cannot reach Azure AD at {host}: {type(err).__name__}") from None
        try:
            body = answer.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise RancherError(f"Azure AD at {host} answered with HTTP {answer.status_code} and no JSON object")
        return answer.status_code, body


def check_url(url: str) -> None:
    """Azure AD is spoken to over https; plain http only on loopback (a local stand-in or a test)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https":
        return
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if parts.scheme != "http" or not loopback:
        raise RancherError(f"Rancher's Azure AD provider entry has an endpoint that is not https: {url[:80]}")


def oauth_error(body: dict) -> tuple[str, str]:
    """(error, first line of error_description): Microsoft appends trace ids on further lines."""
    error = str(body.get("error") or "unknown_error")
    description = str(body.get("error_description") or "").strip().splitlines()
    return error, (description[0].strip()[:200] if description else "")


def id_token_from(body: dict, host: str) -> str:
    token = body.get("id_token")
    if not isinstance(token, str) or token.count(".") != 2:
        raise RancherError(f"Azure AD at {host} sent no id_token; the app registration must allow the openid scope")
    return token


# --- device code ---


def start_device_code(idp: IdentityProvider) -> dict:
    """Ask for a device code; the answer says where the user enters which code."""
    if not idp.device_url:
        raise RancherError("Rancher's Azure AD provider entry has no deviceAuthUrl; use --auth-flow authcode")
    status, body = idp.post(idp.device_url, {"client_id": idp.client_id, "scope": idp.scope})
    if status != 200:
        error, description = oauth_error(body)
        raise RancherError(f"Azure AD refused to start a device code sign-in ({error}: {description})")
    for key in ("device_code", "user_code", "verification_uri"):
        if not isinstance(body.get(key), str) or not body[key]:
            raise RancherError(f"Azure AD's device code answer has no {key}")
    return body


def wait_for_device_code(
    idp: IdentityProvider, device: dict, *, deadline: float, interval: float | None, tick: Callable[[], None]
) -> str:
    """Poll the token endpoint until the user signed in; returns the id_token.

    authorization_pending keeps polling, slow_down adds 5 s to the interval, and the code's expires_in
    ends the wait as the login timeout (`deadline`, on time.monotonic()) does.
    """
    step = interval if interval is not None else _number(device.get("interval"), DEFAULT_INTERVAL)
    expires_in = _number(device.get("expires_in"), 900.0)
    code_deadline = time.monotonic() + expires_in
    end = min(deadline, code_deadline)
    host = urllib.parse.urlsplit(idp.token_url).netloc
    form = {"grant_type": DEVICE_GRANT, "device_code": device["device_code"], "client_id": idp.client_id}
    while True:
        polling.sleep_until(min(time.monotonic() + step, end), tick)
        try:
            status, body = idp.post(idp.token_url, form)
        except RancherUnreachable:
            status, body = 0, {"error": "authorization_pending"}  # a blip: try again at the next interval
        if status == 200:
            return id_token_from(body, host)
        error, description = oauth_error(body)
        if error == "slow_down":
            step += SLOW_DOWN_STEP
        elif error in ("authorization_declined", "access_denied"):
            raise AuthenticationFailed(
                "the Azure AD sign-in was declined" + (f" ({description})" if description else "")
            )
        elif error in ("expired_token", "code_expired"):
            raise NotLoggedIn("the Azure AD code expired before the sign-in was completed; run the login again")
        elif error != "authorization_pending":
            raise AuthenticationFailed(f"Azure AD refused the sign-in ({error}: {description})")
        if time.monotonic() >= end:
            if end >= code_deadline:
                raise NotLoggedIn("the Azure AD code expired before the sign-in was completed; run the login again")
            raise NotLoggedIn(
                "the Azure AD sign-in was not completed in time; run the login again "
                "(--login-timeout sets how long to wait)"
            )


# --- authorization code with PKCE ---


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge)."""
    verifier = _b64url(secrets.token_bytes(32))
    return verifier, _b64url(hashlib.sha256(verifier.encode()).digest())


def authorize_url(idp: IdentityProvider, redirect_uri: str, state: str, challenge: str) -> str:
    if not idp.auth_url:
        raise RancherError("Rancher's Azure AD provider entry has no authUrl; use --auth-flow devicecode")
    check_url(idp.auth_url)
    query = urllib.parse.urlencode(
        {
            "response_type": "code",
            "client_id": idp.client_id,
            "redirect_uri": redirect_uri,
            "scope": idp.scope,
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    return idp.auth_url + ("&" if "?" in idp.auth_url else "?") + query


class Callback:
    """The loopback listener Azure AD sends the browser back to, on 127.0.0.1 (redirect_uri http://localhost:<port>)."""

    def __init__(self, state: str) -> None:
        self.state = state
        self.code = ""
        self.failure: AceError | None = None
        self.done = threading.Event()
        port = _callback_port()
        try:
            # Threaded: a browser may open a spare connection and send nothing on it.
            self._server = http.server.ThreadingHTTPServer(("127.0.0.1", port), self._handler())
            self._server.daemon_threads = True
        except OSError as err:
            raise UsageError(
                f"cannot listen on 127.0.0.1:{port} for the Azure AD sign-in ({err.strerror}); set "
                f"{CALLBACK_PORT_ENV} to a free port, or 0 for any"
            ) from None
        self.redirect_uri = f"http://localhost:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
        self._thread.start()

    def _handler(self):
        callback = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format, *args):  # noqa: A002 - the query holds the code: never log it
                pass

            def do_GET(self):  # noqa: N802
                status, page = callback.answer(self.path)
                data = page.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def answer(self, target: str) -> tuple[int, str]:
        """Handle one request to the callback: the first real answer (code or error) ends the wait."""
        parts = urllib.parse.urlsplit(target)
        if parts.path not in ("", "/") or self.done.is_set():
            return 404, _page("Not found", "")
        query = {key: values[0] for key, values in urllib.parse.parse_qs(parts.query).items()}
        if "error" in query:
            description = (query.get("error_description") or "").strip().splitlines()
            self.failure = AuthenticationFailed(
                "the Azure AD sign-in was refused ("
                + query["error"]
                + (f": {description[0][:200]}" if description else "")
                + ")"
            )
            self.done.set()
            return 200, _page("Sign-in failed", "Azure AD refused the sign-in. You can close this tab.")
        if not secrets.compare_digest(query.get("state", ""), self.state):
            self.failure = AuthenticationFailed(
                "the Azure AD sign-in came back for another login (state mismatch); run the login again"
            )
            self.done.set()
            return 400, _page("Sign-in failed", "This answer does not belong to the running login.")
        if not query.get("code"):
            self.failure = AuthenticationFailed("Azure AD sent the browser back without a code; run the login again")
            self.done.set()
            return 400, _page("Sign-in failed", "No authorization code was sent.")
        self.code = query["code"]
        self.done.set()
        return 200, _page(
            "Signed in", "You are signed in to Rancher. You can close this tab and go back to the terminal."
        )

    def wait(self, deadline: float, tick: Callable[[], None]) -> str:
        """The authorization code, once the browser came back (deadline on time.monotonic())."""
        while not self.done.is_set():
            tick()
            left = deadline - time.monotonic()
            if left <= 0:
                raise NotLoggedIn(
                    "the Azure AD sign-in was not completed in time; run the login again "
                    "(--login-timeout sets how long to wait)"
                )
            self.done.wait(min(left, 1.0))
        if self.failure is not None:
            raise self.failure
        return self.code

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def redeem_code(idp: IdentityProvider, code: str, redirect_uri: str, verifier: str) -> str:
    """Exchange the authorization code (with the PKCE verifier) for tokens; returns the id_token."""
    status, body = idp.post(
        idp.token_url,
        {
            "grant_type": "authorization_code",
            "client_id": idp.client_id,
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
            "scope": idp.scope,
        },
    )
    if status != 200:
        error, description = oauth_error(body)
        raise AuthenticationFailed(f"Azure AD refused the sign-in code ({error}: {description})")
    return id_token_from(body, urllib.parse.urlsplit(idp.token_url).netloc)


# --- Rancher ---


def rancher_login(
    client: Client,
    providers: auth.Providers,
    provider: dict,
    id_token: str,
    response_type: str = "kubeconfig",
    pending=None,
) -> Response:
    """POST the id_token to Rancher's login (v1, or the v3 route); 201 with a token as for passwords.

    `pending` notes the request and its token, as for password logins."""
    body = {"type": provider["type"], "responseType": response_type, "id_token": id_token}
    if pending is not None:
        pending.sending_login()
    try:
        answer = client.request("POST", auth.login_path(providers, provider), body=body, expect=(201,), allow=(403,))
        if pending is not None:
            pending.login_token(answer.body)
    except AuthenticationFailed:
        raise AuthenticationFailed(
            f"Rancher at {client.server} refused the Azure AD sign-in (authentication "
            "failed); check that Rancher's Azure AD settings match the app "
            "registration"
        ) from None
    if answer.status == 403:
        raise AuthenticationFailed(
            f"Rancher at {client.server} does not let this Azure AD account log in "
            "(permission denied); ask a Rancher administrator to allow it"
        )
    auth.check_login_answer(client, answer)
    return answer


def _callback_port() -> int:
    value = os.environ.get(CALLBACK_PORT_ENV, "").strip() or "0"
    if not value.isdigit() or int(value) > 65535:
        raise UsageError(f"{CALLBACK_PORT_ENV}={value!r} is not a port number")
    return int(value)


def _number(value, default: float) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else default


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _page(title: str, text: str) -> str:
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}</title></head>'
        f"<body><h1>{title}</h1><p>{text}</p></body></html>\n"
    )
