"""An Azure AD stand-in on loopback (plain HTTP): device code, authorization code with PKCE, and id_tokens.

Endpoints, as Microsoft's v2.0 ones under /<tenant>/oauth2/v2.0/:
  POST devicecode   client_id, scope → device_code, user_code, verification_uri, expires_in, interval, message
  POST token        grant_type=…device_code: 400 authorization_pending / slow_down / authorization_declined /
                    expired_token as scripted or as the user acted, then 200 with an id_token;
                    grant_type=authorization_code: the code_verifier must hash (S256) to the challenge
  GET  authorize    the signed-in user (login_hint, else default_user) is sent back to redirect_uri with
                    code and state, or with error=access_denied when `deny` is set
id_tokens are JWT-shaped and HMAC-signed with a secret of this stand-in; Rancher's azure login route
asks verify_id_token() about them, as real Rancher checks Microsoft's signature.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from typing import Optional

from .listener import Listener, Request, Response

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
USER_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
ERROR_CODES = {"authorization_pending": 70016, "slow_down": 70016, "authorization_declined": 70000,
               "expired_token": 70020, "invalid_grant": 70008, "bad_verification_code": 70019}


def b64url(data: bytes) -> str:
    """base64url without padding (JWT and PKCE)."""
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Device:
    """One device code sign-in in progress."""

    device_code: str
    user_code: str
    client_id: str
    expires: float
    script: list[str]
    username: Optional[str] = None
    declined: bool = False
    redeemed: bool = False


@dataclass
class Grant:
    """One authorization code waiting to be redeemed."""

    code: str
    client_id: str
    redirect_uri: str
    challenge: str
    username: str
    expires: float
    redeemed: bool = False


@dataclass
class Poll:
    """One device code poll of the token endpoint: when, and what it was answered."""

    at: float
    answer: str


@dataclass
class AzureAD:
    """The stand-in's state and scripts; tests set the public fields."""

    host: str
    tenant: str = field(default_factory=lambda: str(uuid.uuid4()))
    client_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    interval: int = 5            # what the device code answer asks clients to poll at (Microsoft's value)
    expires_in: int = 900
    device_script: list[str] = field(default_factory=list)  # errors each device code answers first, in order
    default_user: Optional[str] = None                       # who signs in at authorize without login_hint
    deny: bool = False                                       # authorize answers error=access_denied

    def __post_init__(self) -> None:
        self._lock = threading.Condition()
        self._secret = os.urandom(32)
        self._devices: dict[str, Device] = {}
        self._grants: dict[str, Grant] = {}
        self.polls: list[Poll] = []
        self.pkce_checks = 0     # authorization codes redeemed with a verifier that matched
        self.pkce_failures = 0
        self.listener = Listener("azure-ad", self.host, self._app)

    # -- lifecycle and addresses --------------------------------------------------------------

    def start(self) -> None:
        """Start listening (plain HTTP on loopback)."""
        self.listener.start()

    def stop(self) -> None:
        """Stop listening."""
        self.listener.stop()

    @property
    def base(self) -> str:
        """http://host:port/<tenant>/oauth2/v2.0"""
        return f"{self.listener.url}/{self.tenant}/oauth2/v2.0"

    @property
    def authorize_url(self) -> str:
        return f"{self.base}/authorize"

    @property
    def token_url(self) -> str:
        return f"{self.base}/token"

    @property
    def device_url(self) -> str:
        return f"{self.base}/devicecode"

    # -- what the user does ---------------------------------------------------------------------

    def pending_user_codes(self) -> list[str]:
        """User codes of device sign-ins nobody has acted on yet."""
        with self._lock:
            return [d.user_code for d in self._devices.values()
                    if d.username is None and not d.declined and d.expires > time.time()]

    def wait_for_user_code(self, timeout: float = 30) -> str:
        """Block until a device sign-in is waiting for its user; returns its user code."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                pending = [d.user_code for d in self._devices.values() if d.username is None and not d.declined]
                if pending:
                    return pending[0]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("no device code was requested")
                self._lock.wait(remaining)

    def approve(self, user_code: str, username: str) -> None:
        """The user enters the code and signs in as username."""
        with self._lock:
            self._device_by_user_code(user_code).username = username
            self._lock.notify_all()

    def decline(self, user_code: str) -> None:
        """The user enters the code and declines the sign-in."""
        with self._lock:
            self._device_by_user_code(user_code).declined = True
            self._lock.notify_all()

    def _device_by_user_code(self, user_code: str) -> Device:
        for device in self._devices.values():
            if device.user_code == user_code:
                return device
        raise KeyError(user_code)

    # -- id tokens ------------------------------------------------------------------------------

    def id_token(self, username: str, client_id: Optional[str] = None, lifetime: float = 3600) -> str:
        """A JWT-shaped id_token for username, signed by this stand-in."""
        now = int(time.time())
        header = {"alg": "HS256", "typ": "JWT", "kid": "rancher-sim"}
        claims = {"aud": client_id or self.client_id, "iss": f"{self.listener.url}/{self.tenant}/v2.0",
                  "iat": now, "nbf": now, "exp": now + int(lifetime), "name": username.title(),
                  "oid": str(uuid.uuid5(uuid.NAMESPACE_DNS, username)), "preferred_username": username,
                  "sub": b64url(hashlib.sha256(username.encode()).digest()), "tid": self.tenant, "ver": "2.0"}
        signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
        signature = hmac.new(self._secret, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{b64url(signature)}"

    def verify_id_token(self, token: str, client_id: str, tenant: str) -> Optional[dict]:
        """The claims when the token is ours, for that client and tenant, and unexpired; else None."""
        try:
            head, body, signature = token.split(".")
            want = hmac.new(self._secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
            if not hmac.compare_digest(want, _b64url_decode(signature)):
                return None
            claims = json.loads(_b64url_decode(body))
        except (ValueError, TypeError):
            return None
        if claims.get("aud") != client_id or claims.get("tid") != tenant or claims.get("exp", 0) <= time.time():
            return None
        return claims

    # -- HTTP -----------------------------------------------------------------------------------

    def _app(self, req: Request) -> Response:
        prefix = f"/{self.tenant}/oauth2/v2.0/"
        if req.path == "/devicelogin" and req.method == "GET":
            return Response(200, b"<html><body>Enter code</body></html>", "text/html; charset=utf-8")
        if not req.path.startswith(prefix):
            return _error(404, "invalid_request", "AADSTS90002: Tenant not found.")
        name = req.path[len(prefix):]
        if name == "devicecode" and req.method == "POST":
            return self._device_code(_form(req))
        if name == "token" and req.method == "POST":
            return self._token(_form(req))
        if name == "authorize" and req.method == "GET":
            return self._authorize(req)
        return _error(404, "invalid_request", "AADSTS900561: The endpoint only accepts POST requests.")

    def _device_code(self, form: dict[str, str]) -> Response:
        if form.get("client_id") != self.client_id:
            return _error(400, "unauthorized_client", "AADSTS700016: Application not found in the directory.")
        if "openid" not in form.get("scope", "").split():
            return _error(400, "invalid_scope", "AADSTS70011: The provided value for scope is not valid.")
        user_code = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(9))
        device = Device(device_code=secrets.token_urlsafe(48), user_code=user_code, client_id=self.client_id,
                        expires=time.time() + self.expires_in, script=list(self.device_script))
        with self._lock:
            self._devices[device.device_code] = device
            self._lock.notify_all()
        uri = f"{self.listener.url}/devicelogin"
        return _json(200, {"user_code": user_code, "device_code": device.device_code, "verification_uri": uri,
                           "expires_in": self.expires_in, "interval": self.interval,
                           "message": f"To sign in, use a web browser to open the page {uri} and enter the code "
                                      f"{user_code} to authenticate."})

    def _token(self, form: dict[str, str]) -> Response:
        grant = form.get("grant_type")
        if grant == DEVICE_GRANT:
            return self._device_token(form)
        if grant == "authorization_code":
            return self._code_token(form)
        return _error(400, "unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant type.")

    def _device_token(self, form: dict[str, str]) -> Response:
        with self._lock:
            device = self._devices.get(form.get("device_code", ""))
            if device is None or device.redeemed or form.get("client_id") != device.client_id:
                answer = "invalid_grant"
            elif device.script:
                answer = device.script.pop(0)
            elif device.expires <= time.time():
                answer = "expired_token"
            elif device.declined:
                answer = "authorization_declined"
            elif device.username is None:
                answer = "authorization_pending"
            else:
                answer = "ok"
                device.redeemed = True
            self.polls.append(Poll(time.monotonic(), answer))
            self._lock.notify_all()
        if answer != "ok":
            return _error(400, answer, f"AADSTS{ERROR_CODES.get(answer, 9002313)}: {answer.replace('_', ' ')}.")
        return self._tokens(device.username or "", device.client_id)

    def _code_token(self, form: dict[str, str]) -> Response:
        with self._lock:
            grant = self._grants.get(form.get("code", ""))
            if grant is None or grant.redeemed or grant.expires <= time.time():
                return _error(400, "invalid_grant", "AADSTS70008: The provided authorization code has expired "
                                                    "or was already redeemed.")
            if form.get("client_id") != grant.client_id or form.get("redirect_uri") != grant.redirect_uri:
                return _error(400, "invalid_grant", "AADSTS50011: The redirect URI does not match.")
            verifier = form.get("code_verifier", "")
            if not verifier or b64url(hashlib.sha256(verifier.encode()).digest()) != grant.challenge:
                self.pkce_failures += 1
                return _error(400, "invalid_grant", "AADSTS501481: The Code_Verifier does not match the "
                                                    "code_challenge supplied in the authorization request.")
            grant.redeemed = True
            self.pkce_checks += 1
        return self._tokens(grant.username, grant.client_id)

    def _tokens(self, username: str, client_id: str) -> Response:
        return _json(200, {"token_type": "Bearer", "scope": "openid profile email", "expires_in": 3600,
                           "ext_expires_in": 3600, "access_token": secrets.token_urlsafe(64),
                           "id_token": self.id_token(username, client_id)})

    def _authorize(self, req: Request) -> Response:
        p = {key: req.param(key) for key in ("response_type", "client_id", "redirect_uri", "scope", "state",
                                              "code_challenge", "code_challenge_method", "login_hint")}
        if p["client_id"] != self.client_id:
            return _page(400, "AADSTS700016: Application not found in the directory.")
        if not p["redirect_uri"].startswith("http://localhost"):
            return _page(400, "AADSTS50011: The redirect URI specified in the request does not match.")
        if p["response_type"] != "code" or not p["state"]:
            return _page(400, "AADSTS900144: The request body must contain response_type=code and state.")
        if p["code_challenge_method"] != "S256" or not p["code_challenge"]:
            return _page(400, "AADSTS501491: Invalid code_challenge_method or missing code_challenge.")
        back = {"state": p["state"]}
        username = p["login_hint"] or self.default_user
        if self.deny or not username:
            back.update(error="access_denied", error_description="AADSTS65004: User declined to consent.")
        else:
            code = secrets.token_urlsafe(48)
            with self._lock:
                self._grants[code] = Grant(code, p["client_id"], p["redirect_uri"], p["code_challenge"],
                                           username, time.time() + 600)
            back["code"] = code
        location = p["redirect_uri"] + ("&" if "?" in p["redirect_uri"] else "?") + urllib.parse.urlencode(back)
        return Response(302, b"", None, [("Location", location)])


def _form(req: Request) -> dict[str, str]:
    parsed = urllib.parse.parse_qs(req.body.decode("utf-8", "replace"), keep_blank_values=True)
    return {key: values[0] for key, values in parsed.items()}


def _json(status: int, obj: object) -> Response:
    return Response(status, json.dumps(obj).encode(), "application/json; charset=utf-8",
                    [("Cache-Control", "no-store")])


def _error(status: int, error: str, description: str) -> Response:
    """Microsoft's OAuth error body (status 400 for every token endpoint error)."""
    now = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())
    trace = str(uuid.uuid4())
    return _json(status, {"error": error, "error_description": f"{description}\r\nTrace ID: {trace}\r\n"
                                                              f"Timestamp: {now}",
                          "error_codes": [ERROR_CODES.get(error, 9002313)], "timestamp": now, "trace_id": trace,
                          "correlation_id": str(uuid.uuid4())})


def _page(status: int, message: str) -> Response:
    return Response(status, f"<html><body><h1>Sign in</h1><p>{message}</p></body></html>".encode(),
                    "text/html; charset=utf-8")
