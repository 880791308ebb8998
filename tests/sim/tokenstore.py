"""The World's token store: minting, lookup, revocation and Rancher's token authentication."""

from __future__ import annotations

import dataclasses
import time
from typing import Optional

from .state import User
from .tokens import Token, TOKEN_KEY_LENGTH, generate_name, hash_sha3, random_string


class TokenStore:
    """Mixin of World: Rancher's v3 and ext tokens, and test helpers to create and break them."""

    def _minutes_ms(self, key: str) -> int:
        try:
            return int(self.settings.get(key) or 0) * 60_000
        except ValueError:
            return 0

    def _clamp_ttl(self, ttl_ms: int) -> int:
        """0 -> auth-token-max-ttl-minutes; else min(ttl, max); a max of 0 means no limit."""
        max_ms = self._minutes_ms("auth-token-max-ttl-minutes")
        if ttl_ms <= 0:
            return max_ms
        return min(ttl_ms, max_ms) if max_ms > 0 else ttl_ms

    def _kubeconfig_ttl(self) -> int:
        return self._clamp_ttl(self._minutes_ms("kubeconfig-default-token-ttl-minutes"))

    def _session_ttl(self) -> int:
        return self._minutes_ms("auth-user-session-ttl-minutes")

    def _ext_ttl(self, ttl_ms: int) -> int:
        """clampMaxTTL of the ext store: 0 is the default (2.16: auth-token-default-ttl-minutes, else the max)."""
        max_ms = self._minutes_ms("auth-token-max-ttl-minutes")
        if ttl_ms == 0 and self.features.default_ttl_setting:
            ttl_ms = self._minutes_ms("auth-token-default-ttl-minutes")
        if max_ms <= 0:
            return ttl_ms
        return max_ms if ttl_ms <= 0 or ttl_ms > max_ms else ttl_ms

    def _mint(self, user: User, *, prefix: str, cluster_id: str = "", ttl_ms: int = 0, derived: bool = True,
              kind: str = "", description: str = "", count: bool = True, ext: Optional[bool] = None,
              kubeconfig_id: str = "") -> Token:
        """Create and store a token; counts it as a mint and syncs it downstream when scoped.

        ext None means what this Rancher mints (ext once v3 tokens are gone). For an ext token the
        stored record keeps only the SHA3 hash; the returned copy carries the value, once.
        """
        ext = (not self.v3_tokens) if ext is None else ext
        prefix = "token-" if ext else prefix  # ext names are always generated from token-
        with self._lock:
            name = generate_name(prefix)
            while name in self._tokens:
                name = generate_name(prefix)
            key = random_string(TOKEN_KEY_LENGTH)
            tok = Token(name=name, key="" if ext else key, user_id=user.id, auth_provider=user.provider,
                        user_principal=user.principal_id, cluster_id=cluster_id, ttl_ms=ttl_ms, derived=derived,
                        kind=kind, description=description, ext=ext, hash=hash_sha3(key) if ext else "",
                        kubeconfig_id=kubeconfig_id)
            self._tokens[name] = tok
            if count:
                self.counters._inc(("mints", cluster_id))
            self._token_changed(tok.cluster_id, name)
            return dataclasses.replace(tok, key=key) if ext else tok

    def create_token(self, username: str, cluster_id: Optional[str] = None, ttl_ms: int = 0,
                     kind: Optional[str] = None, ext: Optional[bool] = None) -> str:
        """Create a token as the UI (API key, kind None), a login ('session') or a kubeconfig ('kubeconfig') would; returns its bearer.

        ext=True makes an ext token (ext/<name>:<value>), False a v3 one (name:key); None what this
        Rancher makes (ext only once v3 tokens are removed). Not counted in counters.mints(): it is
        test setup, not a request.
        """
        with self._lock:
            user = self._user_by_name(username)
            cid = cluster_id or ""
            if cid and self._started and cid not in self.clusters:
                raise KeyError(f"no cluster {cid}")
            if kind == "session":
                tok = self._mint(user, prefix="token-", cluster_id=cid, ttl_ms=ttl_ms or self._session_ttl(),
                                 derived=False, kind="session", count=False, ext=ext)
            elif kind == "kubeconfig":
                prefix = f"kubeconfig-{user.id}" + (f".{cid}" if cid else "")
                tok = self._mint(user, prefix=prefix, cluster_id=cid,
                                 ttl_ms=self._clamp_ttl(ttl_ms) if ttl_ms else self._kubeconfig_ttl(),
                                 kind="kubeconfig", description="Kubeconfig token", count=False, ext=ext)
            elif kind is None:
                tok = self._mint(user, prefix="token-", cluster_id=cid, ttl_ms=self._clamp_ttl(ttl_ms), count=False,
                                 ext=ext)
            else:
                raise ValueError(f"unknown token kind {kind!r}")
            return tok.bearer

    def tokens(self) -> list[dict]:
        """Rancher's token records (never the secret), oldest first."""
        with self._lock:
            return [t.record() for t in sorted(self._tokens.values(), key=lambda t: t.created)]

    def token(self, name: str) -> dict:
        """One token record by name (or name:key)."""
        with self._lock:
            return self._tokens[_name(name)].record()

    def revoke_token(self, name: str) -> None:
        """Delete a token at Rancher (downstream follows by sync)."""
        with self._lock:
            tok = self._tokens.pop(_name(name))
            self._token_changed(tok.cluster_id, tok.name)
            self._notify()

    def disable_token(self, name: str) -> None:
        """Disable a token at Rancher (downstream follows by sync)."""
        with self._lock:
            tok = self._tokens[_name(name)]
            tok.enabled = False
            self._token_changed(tok.cluster_id, tok.name)
            self._notify()

    def expire_token(self, name: str) -> None:
        """Make a token expired now, at Rancher and downstream alike (as time passing would)."""
        with self._lock:
            tok = self._tokens[_name(name)]
            now = time.time()
            tok.expires_at = float(int(now) - 1)
            if tok.created >= tok.expires_at:
                tok.created = tok.expires_at - 1
            tok.ttl_ms = max(1, int((tok.expires_at - tok.created) * 1000))
            cluster = self.clusters.get(tok.cluster_id)
            if cluster is not None and tok.name in cluster.store.tokens:
                cluster.store.tokens[tok.name].expires_at = tok.expires_at_str()
            self._token_changed(tok.cluster_id, tok.name)
            self._notify()

    def revoke_downstream_only(self, cluster_id: str, name: str) -> None:
        """Delete the ClusterAuthToken and its Secret only; Rancher keeps the token."""
        with self._lock:
            store = self.clusters[cluster_id].store
            store.tokens.pop(_name(name), None)
            store.secrets.pop(_name(name), None)
            self._notify()

    def disable_downstream_only(self, cluster_id: str, name: str) -> None:
        """Disable the ClusterAuthToken only; Rancher keeps the token enabled."""
        with self._lock:
            self.clusters[cluster_id].store.tokens[_name(name)].enabled = False
            self._notify()

    def downstream_tokens(self, cluster_id: str) -> list[dict]:
        """The ClusterAuthTokens a cluster holds (no hashes of secrets beyond what is stored)."""
        with self._lock:
            return [t.as_dict() for t in self.clusters[cluster_id].store.tokens.values()]

    def _authenticate(self, bearer: str) -> Optional[tuple[Token, User]]:
        """Rancher's token authentication: known, right key, enabled, unexpired, user and provider enabled."""
        name, sep, key = bearer.partition(":")
        if not sep:
            return None
        # ext/<name> names only an ext token; a bare name is tried as v3 first, then ext (SystemStore.Fetch).
        want_ext = name.startswith("ext/")
        name = name.removeprefix("ext/")
        with self._lock:
            tok = self._tokens.get(name)
            if tok is None or (want_ext and not tok.ext) or (not tok.ext and not self.v3_tokens):
                return None
            if not tok.key_matches(key) or not tok.enabled or tok.is_expired():
                return None
            user = self._users.get(tok.user_id)
            if user is None or not user.enabled or not self._provider_enabled(user.provider):
                return None
            return tok, user


def _name(token: str) -> str:
    """Accept a token name, a name:key bearer or an ext/name:value bearer."""
    return token.split(":", 1)[0].removeprefix("ext/")
