"""Rancher's SAML login for CLIs, server side: the public key a CLI sends, and the kubeconfig token it gets back encrypted.

After the IdP's assertion, Rancher RSA-OAEP-SHA256-encrypts `name:key` with the public key the CLI put
in the dashboard URL and keeps it as a SamlToken named after the request id (research §2.4).
"""

from __future__ import annotations

import base64
import binascii
import json
import urllib.parse
from dataclasses import dataclass


@dataclass
class SamlToken:
    """What GET /v1-public/authtokens/<requestId> hands out: base64 ciphertext and the token's expiresAt."""

    request_id: str
    token: str
    expires_at: str


def parse_public_key(public_key_b64: str):
    """base64 of Go's JSON rsa.PublicKey ({"N": <decimal>, "E": 65537}) → a cryptography public key."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    try:
        data = json.loads(base64.b64decode(public_key_b64, validate=True))
        n, e = data["N"], data["E"]
        if not isinstance(n, int) or not isinstance(e, int):
            raise ValueError("N and E must be integers")
        return rsa.RSAPublicNumbers(e, n).public_key()
    except (binascii.Error, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"bad public key: {err}") from None


def encrypt(public_key_b64: str, bearer: str) -> str:
    """base64(RSA-OAEP(SHA-256, MGF1 SHA-256, no label)) of the bearer string, as Rancher stores it."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    key = parse_public_key(public_key_b64)
    sealed = key.encrypt(bearer.encode(), padding.OAEP(mgf=padding.MGF1(hashes.SHA256()),
                                                        algorithm=hashes.SHA256(), label=None))
    return base64.b64encode(sealed).decode()


def stranger_public_key() -> str:
    """A public key nobody holds the private half of (to make an undecryptable token)."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    numbers = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_numbers()
    return base64.b64encode(json.dumps({"N": numbers.n, "E": numbers.e}, separators=(",", ":")).encode()).decode()


def parse_login_url(url: str) -> dict[str, str]:
    """The query of a dashboard CLI login URL: cli, publicKey, requestId, responseType."""
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query, keep_blank_values=True)
    return {key: values[0] for key, values in query.items()}
