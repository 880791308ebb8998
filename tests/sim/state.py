"""Rancher's settings, users and the World's request counters."""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass, field
from typing import Callable, Optional


def default_settings() -> dict[str, str]:
    """Rancher settings the simulator honours, with Rancher's defaults (research §6)."""
    return {
        "kubeconfig-generate-token": "true",
        "kubeconfig-default-token-ttl-minutes": "43200",
        "auth-token-max-ttl-minutes": "129600",
        "auth-user-session-ttl-minutes": "960",
        "server-url": "",
        "cacerts": "",
        "server-version": "",
        "first-login": "false",
        "ui-pl": "rancher",
    }



@dataclass
class User:
    """A Rancher user and the principal it logs in with."""

    id: str
    username: str
    password: str
    provider: str = "local"
    enabled: bool = True
    groups: list[str] = field(default_factory=list)

    @property
    def principal_id(self) -> str:
        """The user's principal id, e.g. local://u-abc or openldap_user://uid=bob,…"""
        if self.provider == "local":
            return f"local://{self.id}"
        if self.provider == "activedirectory":
            return f"activedirectory_user://CN={self.username},CN=Users,DC=example,DC=com"
        return f"{self.provider}_user://uid={self.username},ou=users,dc=example,dc=com"


class Counters:
    """Thread-safe request, login and mint counters; every change wakes World.wait_for."""

    def __init__(self, notify: Callable[[], None]) -> None:
        self._lock = threading.Lock()
        self._notify = notify
        self._c: collections.Counter = collections.Counter()

    def _inc(self, *keys: tuple) -> None:
        with self._lock:
            for key in keys:
                self._c[key] += 1
        self._notify()

    def _received(self, endpoint: str) -> None:
        self._inc(("requests", endpoint))

    def _answered(self, endpoint: str, status: int) -> None:
        if status == 401:
            self._inc(("unauthorized", endpoint))

    def _get(self, key: tuple) -> int:
        with self._lock:
            return self._c[key]

    def logins(self) -> int:
        """Successful logins, all routes."""
        return self._get(("logins",))

    def login_failures(self) -> int:
        """Failed logins (401/403), all routes."""
        return self._get(("login_failures",))

    def mints(self, cluster_id: Optional[str] = None) -> int:
        """Tokens created over HTTP (POST /v3/tokens, login, generateKubeconfig) scoped to cluster_id (None = unscoped)."""
        return self._get(("mints", cluster_id or ""))

    def requests(self, endpoint: str) -> int:
        """Requests received by 'rancher', 'proxy:<id>', '<id>:<endpoint>' or '<id>:kube-api-auth'."""
        return self._get(("requests", endpoint))

    def unauthorized(self, endpoint: str) -> int:
        """401 answers by the same endpoint names."""
        return self._get(("unauthorized", endpoint))

    def reset(self) -> None:
        """Zero every counter."""
        with self._lock:
            self._c.clear()
        self._notify()

    def snapshot(self) -> dict[str, int]:
        """Every non-zero counter, keyed 'kind' or 'kind:name'."""
        with self._lock:
            return {":".join(k for k in key if k) or key[0]: v for key, v in self._c.items()}

