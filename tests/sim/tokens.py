"""Rancher v3 token records, random names and keys, and the downstream hash formats."""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import os
import secrets
import time
import uuid
from dataclasses import dataclass, field

# wrangler randomtoken and Kubernetes generateName share this alphabet (no vowels, no 0/1/3).
TOKEN_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
TOKEN_KEY_LENGTH = 54

USER_ID_LABEL = "authn.management.cattle.io/token-userId"
KIND_LABEL = "authn.management.cattle.io/kind"


def random_string(length: int, alphabet: str = TOKEN_ALPHABET) -> str:
    """Random string from the given alphabet."""
    return "".join(secrets.choice(alphabet) for _ in range(length))


def generate_name(prefix: str) -> str:
    """Kubernetes generateName: the prefix plus 5 random characters."""
    return prefix + random_string(5)


def random_user_id() -> str:
    """A Rancher local user id such as u-b4qkhsnliz."""
    return "u-" + random_string(10, "abcdefghijklmnopqrstuvwxyz0123456789")


def rfc3339(ts: float) -> str:
    """UTC RFC 3339 with seconds precision and a Z, as Go's time.RFC3339 writes UTC."""
    return datetime.datetime.fromtimestamp(int(ts), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(value: str) -> float:
    """Parse an RFC 3339 timestamp into epoch seconds."""
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _raw_b64(data: bytes) -> str:
    # Go's base64.RawStdEncoding: standard alphabet, no padding.
    return base64.b64encode(data).decode().rstrip("=")


def _raw_b64_decode(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def hash_sha3(secret: str, salt: bytes | None = None) -> str:
    """Rancher's SHA3 hasher: $3:1:<raw b64 salt>:<raw b64 sha3-512(salt||secret)>."""
    salt = salt if salt is not None else os.urandom(8)
    digest = hashlib.sha3_512(salt + secret.encode()).digest()
    return f"$3:1:{_raw_b64(salt)}:{_raw_b64(digest)}"


def hash_sha256(secret: str, salt: bytes | None = None) -> str:
    """Rancher's older SHA-256 hasher: $2:<raw b64 salt>:<raw b64 sha256(salt||secret)>."""
    salt = salt if salt is not None else os.urandom(8)
    digest = hashlib.sha256(salt + secret.encode()).digest()
    return f"$2:{_raw_b64(salt)}:{_raw_b64(digest)}"


def verify_hash(stored: str, secret: str) -> bool:
    """Verify a secret against a $1 (scrypt), $2 (sha256) or $3:1 (sha3-512) hash, in constant time."""
    try:
        parts = stored.split(":")
        version = parts[0]
        if version == "$3" and len(parts) == 4 and parts[1] == "1":
            salt, want = _raw_b64_decode(parts[2]), _raw_b64_decode(parts[3])
            got = hashlib.sha3_512(salt + secret.encode()).digest()
        elif version == "$2" and len(parts) == 3:
            salt, want = _raw_b64_decode(parts[1]), _raw_b64_decode(parts[2])
            got = hashlib.sha256(salt + secret.encode()).digest()
        elif version == "$1" and len(parts) == 6:
            salt, want = bytes.fromhex(parts[1]), _raw_b64_decode(parts[5])
            n, r, p = 1 << int(parts[2]), int(parts[3]), int(parts[4])
            got = hashlib.scrypt(secret.encode(), salt=salt, n=n, r=r, p=p, dklen=64,
                                 maxmem=256 * n * r)
        else:
            return False
    except (ValueError, IndexError):
        return False
    # An empty digest must never match (kube-api-auth rejects it explicitly).
    return bool(want) and hmac.compare_digest(got, want)


@dataclass
class Token:
    """A v3 Token as Rancher stores it (key in clear: token-hashing off), or an ext Token (only its SHA3 hash)."""

    name: str
    key: str
    user_id: str
    auth_provider: str
    user_principal: str
    cluster_id: str = ""
    ttl_ms: int = 0
    created: float = field(default_factory=time.time)
    enabled: bool = True
    derived: bool = True
    kind: str = ""
    description: str = ""
    uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    expires_at: float | None = None
    last_used_at: float | None = None
    ext: bool = False          # an ext.cattle.io/v1 Token: bearer ext/<name>:<value>, stored hashed
    hash: str = ""             # ext tokens: $3:1:… of the value (the value itself is never kept)
    kubeconfig_id: str = ""    # the ext Kubeconfig that owns it (deleted with it)

    def __post_init__(self) -> None:
        if self.expires_at is None and self.ttl_ms > 0:
            self.expires_at = self.created + self.ttl_ms / 1000.0

    @property
    def bearer(self) -> str:
        """The bearer string name:key, or ext/name:value (only while the value is known: right after creation)."""
        return f"ext/{self.name}:{self.key}" if self.ext else f"{self.name}:{self.key}"

    def key_matches(self, key: str) -> bool:
        """Constant-time check of a presented key against the stored key or hash."""
        if self.ext:
            return verify_hash(self.hash, key)
        return hmac.compare_digest(self.key.encode(), key.encode())

    def is_expired(self, now: float | None = None) -> bool:
        """Rancher's IsExpired: a TTL is set and it has run out."""
        return self.expires_at is not None and (now or time.time()) >= self.expires_at

    def expires_at_str(self) -> str:
        """expiresAt as Rancher shows it: RFC 3339 UTC, or empty when the token never expires."""
        return rfc3339(self.expires_at) if self.expires_at is not None else ""

    def record(self) -> dict:
        """The token as a test sees it through World.tokens() (never the key)."""
        return {
            "name": self.name,
            "userId": self.user_id,
            "clusterId": self.cluster_id or None,
            "ttl": self.ttl_ms,
            "createdTS": int(self.created * 1000),
            "expiresAt": self.expires_at_str(),
            "expired": self.is_expired(),
            "enabled": self.enabled,
            "derived": self.derived,
            "kind": self.kind,
            "description": self.description,
            "lastUsedAt": rfc3339(self.last_used_at) if self.last_used_at else None,
            "type": "ext" if self.ext else "v3",
            "kubeconfig": self.kubeconfig_id or None,
        }

    def ext_object(self, current: bool = False, with_value: bool = False, bearer_token: bool = True) -> dict:
        """The ext.cattle.io/v1 Token as the ext API serves it; the value and bearerToken only on create."""
        labels = {"cattle.io/user-id": self.user_id, KIND_LABEL: self.kind}
        if self.kubeconfig_id:
            labels["authn.management.cattle.io/kubeconfig-id"] = self.kubeconfig_id
        status: dict = {"current": current, "expired": self.is_expired(), "expiresAt": self.expires_at_str(),
                        "lastUpdateTime": rfc3339(self.created)}
        if self.last_used_at:
            status["lastUsedAt"] = rfc3339(self.last_used_at)
        if with_value:
            status["value"] = self.key
            if bearer_token:
                status["bearerToken"] = self.bearer
        else:
            status["hash"] = self.hash  # a GET shows the hash (Store.Get clears only value and bearerToken)
        spec: dict = {"userID": self.user_id,
                      "userPrincipal": {"name": self.user_principal, "provider": self.auth_provider,
                                        "principalType": "user", "me": True},
                      "kind": self.kind, "description": self.description,
                      "ttl": self.ttl_ms if self.expires_at is not None else -1, "enabled": self.enabled}
        if self.cluster_id:
            spec["clusterName"] = self.cluster_id
        return {"apiVersion": "ext.cattle.io/v1", "kind": "Token",
                "metadata": {"name": self.name, "uid": self.uuid, "resourceVersion": "1",
                             "creationTimestamp": rfc3339(self.created), "labels": labels},
                "spec": spec, "status": status}

    def norman(self, base_url: str, current: bool = False, with_secret: bool = False,
               hide_expires_at: bool = False) -> dict:
        """The Norman `token` resource Rancher's /v3 API returns (keys sorted like a Go map)."""
        labels = {USER_ID_LABEL: self.user_id}
        if self.kind:
            labels[KIND_LABEL] = self.kind
        self_link = f"{base_url}/v3/tokens/{self.name}"
        data = {
            "annotations": {},
            "authProvider": self.auth_provider,
            "baseType": "token",
            "clusterId": self.cluster_id or None,
            "created": rfc3339(self.created),
            "createdTS": int(self.created * 1000),
            "creatorId": None,
            "current": current,
            "description": self.description,
            "enabled": self.enabled,
            "expired": self.is_expired(),
            # For derived tokens a controller fills expiresAt after the create call returns.
            "expiresAt": "" if hide_expires_at else self.expires_at_str(),
            "id": self.name,
            "isDerived": self.derived,
            "labels": labels,
            "lastUpdateTime": "",
            "links": {"remove": self_link, "self": self_link, "update": self_link},
            "name": self.name,
            "ttl": self.ttl_ms,
            "type": "token",
            "userId": self.user_id,
            "userPrincipal": self.user_principal,
            "uuid": self.uuid,
        }
        if self.last_used_at:
            data["lastUsedAt"] = rfc3339(self.last_used_at)
        if with_secret:
            data["token"] = self.bearer
        return dict(sorted(data.items()))
