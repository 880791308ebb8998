"""Rancher's SAML login for CLIs (ping, adfs, keycloak, okta, shibboleth): research/rancher-api.md §2.4.

A fresh RSA key pair and request id; the user logs in through the dashboard URL in a browser; Rancher
then keeps the new kubeconfig token, encrypted for our public key, under the request id until we
fetch (and delete) it. `cryptography` is imported only here, when such a login runs.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
import urllib.parse
from collections.abc import Callable

from kubectl_ace.errors import AceError, NotLoggedIn, RancherError, RancherUnreachable
from kubectl_ace.rancher import polling
from kubectl_ace.rancher.client import Client, Response

REQUEST_ID_ALPHABET = "abcdfghjklmnpqrstvwxz12456789"
REQUEST_ID_LENGTH = 32
KEY_BITS = 2048


class KeyPair:
    """The RSA key the token is encrypted for; it lives in memory only, for one login."""

    def __init__(self) -> None:
        try:
            from cryptography.hazmat.primitives.asymmetric import rsa
        except ImportError:
            raise AceError(
                "SAML logins need the `cryptography` package, which is missing from this "
                "installation; reinstall kubectl-ace (pip install 'cryptography>=41')"
            ) from None
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)

    def public_key(self) -> str:
        """base64 of Go's JSON encoding of rsa.PublicKey, which is what Rancher decodes: {"N":<int>,"E":65537}."""
        numbers = self._key.public_key().public_numbers()
        return base64.b64encode(f'{{"N":{numbers.n},"E":{numbers.e}}}'.encode()).decode()

    def decrypt(self, sealed_b64: str) -> str:
        """The `name:secret` bearer from Rancher's base64 RSA-OAEP (SHA-256, MGF1 SHA-256, no label) ciphertext."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        try:
            sealed = base64.b64decode(sealed_b64.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise RancherError(
                "Rancher sent the login token in a form that is not base64; run the login again"
            ) from None
        try:
            plain = self._key.decrypt(
                sealed, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
            )
            bearer = plain.decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            raise RancherError(
                "the login token Rancher sent cannot be decrypted with this login's key (was the "
                "browser login done for another request?); run the login again"
            ) from None
        name, sep, secret = bearer.partition(":")
        if not sep or not name or not secret or any(c.isspace() for c in bearer):
            raise RancherError(
                "the login token Rancher sent decrypts to something that is not a token; run the login again"
            )
        return bearer


def new_request_id() -> str:
    """32 characters of Rancher's request id alphabet, as its CLI makes them."""
    return "".join(secrets.choice(REQUEST_ID_ALPHABET) for _ in range(REQUEST_ID_LENGTH))


def login_url(server: str, public_key: str, request_id: str, response_type: str = "kubeconfig") -> str:
    """The dashboard page that runs the provider login for a CLI (keys sorted, values URL-encoded)."""
    query = urllib.parse.urlencode(
        sorted({"cli": "true", "publicKey": public_key, "requestId": request_id, "responseType": response_type}.items())
    )
    return f"{server.rstrip('/')}/dashboard/auth/login?{query}"


def token_path(api: str, request_id: str) -> str:
    """Where Rancher keeps the encrypted token: /v1-public, or /v3-public after discovery fell back to it."""
    if api == "v1":
        return f"/v1-public/authtokens/{request_id}"
    return f"/v3-public/authTokens/{request_id}"


def wait_for_token(
    client: Client,
    api: str,
    request_id: str,
    *,
    deadline: float,
    interval: float,
    tick: Callable[[], None],
    timeout_text: str,
) -> tuple[dict, Response]:
    """Poll until Rancher holds the token: 404 and an empty token mean not yet; other statuses are errors.

    `deadline` is on time.monotonic(); `tick` runs about once a second (a progress line).
    """
    path = token_path(api, request_id)
    trouble = ""
    while True:
        polling.sleep_until(min(time.monotonic() + interval, deadline), tick)  # Rancher's CLI also waits first
        try:
            found = _poll(client, path)
        except RancherUnreachable as err:
            found, trouble = None, err.message  # a blip during a long wait: keep polling until the deadline
        else:
            trouble = ""
        if found is not None:
            return found
        if time.monotonic() >= deadline:
            raise NotLoggedIn(
                f"the browser login was not completed within {timeout_text}"
                + (f" (last poll: {trouble})" if trouble else "")
                + "; run the login again (--login-timeout sets how long to wait)"
            )


def _poll(client: Client, path: str) -> tuple[dict, Response] | None:
    """One GET of the auth token: None while Rancher has none yet (404, or 200 with an empty token)."""
    answer = client.request("GET", path, allow=(404,))
    if answer.status == 404:
        return None
    body = answer.body
    if not isinstance(body, dict):
        raise RancherError(
            f"Rancher at {client.server} answered the login token poll with something that is not a JSON object"
        )
    token = body.get("token")
    if token in (None, ""):
        return None
    if not isinstance(token, str):
        raise RancherError("Rancher sent the login token in a form that is not a string; run the login again")
    return body, answer


def delete_token(client: Client, api: str, request_id: str) -> str:
    """Delete the encrypted token at Rancher (200/204/404 are fine); returns a warning, or "" when done."""
    try:
        client.request("DELETE", token_path(api, request_id), expect=(200, 204), allow=(404,))
    except AceError as err:
        return f"could not delete the used login token at Rancher ({err.message}); it expires on its own"
    return ""
