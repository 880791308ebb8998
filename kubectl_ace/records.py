"""What the token store keeps, as small classes that know how to read themselves (stdlib only: the hot path).

A server file holds one ServerRecord: Rancher's CA and TLS choice, and a Login per user, each with
the ClusterToken it minted per cluster. Times are local epoch seconds, already corrected for clock skew;
None means "never expires". Unknown keys are kept, so an older kubectl-ace never drops a newer one's data.
"""

MIN_VALIDITY = 10.0  # a token with less than this left is not handed out
MIN_LOGIN_LEFT = 120.0  # a login with less than this left cannot usefully mint


class ClusterToken:
    """A cluster-scoped token the tool minted (or adopted from a kubeconfig) for one cluster."""

    __slots__ = ("token", "token_id", "minted", "expires", "expires_at", "refused_at", "verified_at", "extra")
    FIELDS = __slots__[:-1]  # the stored keys: every slot but `extra`

    def __init__(
        self,
        token: str,
        token_id: str = "",
        minted: float | None = None,
        expires: float | None = None,
        expires_at: str = "",
        refused_at: float | None = None,
        extra: dict | None = None,
        verified_at: float | None = None,
    ) -> None:
        self.token = token
        self.token_id = token_id or token_id_of(token)
        self.minted = minted
        self.expires = expires
        self.expires_at = expires_at
        self.refused_at = refused_at  # when kubectl was last seen refusing it
        self.verified_at = verified_at  # when an ACE endpoint was last seen accepting it (readiness.py)
        self.extra = extra or {}

    @classmethod
    def from_dict(cls, data) -> "ClusterToken | None":
        if not isinstance(data, dict) or not isinstance(data.get("token"), str) or not data["token"]:
            return None
        return cls(
            data["token"],
            str(data.get("token_id") or ""),
            epoch(data.get("minted")),
            epoch(data.get("expires")),
            str(data.get("expires_at") or ""),
            epoch(data.get("refused_at")),
            {k: v for k, v in data.items() if k not in cls.FIELDS},
            epoch(data.get("verified_at")),
        )

    def to_dict(self) -> dict:
        data = dict(self.extra)
        data.update(
            token=self.token,
            token_id=self.token_id,
            minted=self.minted,
            expires=self.expires,
            expires_at=self.expires_at,
        )
        if self.refused_at is not None:
            data["refused_at"] = self.refused_at
        if self.verified_at is not None:
            data["verified_at"] = self.verified_at
        return data

    def is_usable(self, now: float) -> bool:
        """Has enough time left to be handed out."""
        return self.expires is None or self.expires - now > MIN_VALIDITY

    def refresh_margin(self) -> float:
        """How long before expiry to replace it: a tenth of its life, between 2 minutes and an hour."""
        if self.expires is None or self.minted is None:
            return 120.0
        return min(3600.0, max(120.0, (self.expires - self.minted) / 10))

    def is_fresh(self, login: "Login | None", now: float) -> bool:
        """Good to hand out without asking Rancher: usable, and not due a refresh a new mint could improve on."""
        if not self.is_usable(now):
            return False
        if self.expires is None or self.expires - now > self.refresh_margin():
            return True
        # Due a refresh, but a mint from this login could not outlive the token by much: keep it.
        if login is None or not login.can_mint(now):
            return True
        return login.expires is not None and login.expires - self.expires < self.refresh_margin()

    def same_as(self, other: "ClusterToken | None") -> bool:
        return other is not None and other.token == self.token


class Login:
    """One user's credential at a Rancher server, and the cluster tokens minted from it."""

    __slots__ = (
        "name",
        "token",
        "token_id",
        "user_id",
        "provider",
        "origin",
        "expires",
        "expires_at",
        "created",
        "clusters",
        "extra",
        # --- issue 13: replaced tokens Rancher may still accept ---
        "retired",
    )
    FIELDS = tuple(name for name in __slots__ if name not in ("name", "extra"))  # the stored keys

    def __init__(
        self,
        name: str,
        token: str = "",
        token_id: str = "",
        user_id: str = "",
        provider: str = "",
        origin: str = "login",
        expires: float | None = None,
        expires_at: str = "",
        created: float | None = None,
        clusters: dict | None = None,
        extra: dict | None = None,
    ) -> None:
        self.name = name
        self.token = token  # "" for an imported login: tokens moved in from a kubeconfig, no credential
        self.token_id = token_id or (token_id_of(token) if token else "")
        self.user_id = user_id
        self.provider = provider  # a provider type for logins, an id for API keys
        self.origin = origin  # "login", "api-key" or "imported"
        self.expires = expires
        self.expires_at = expires_at  # as Rancher wrote it
        self.created = created
        self.clusters: dict[str, ClusterToken] = clusters or {}
        self.extra = extra or {}
        self.retired: list[RetiredToken] = []  # replaced, not yet revoked: logout revokes them

    @classmethod
    def from_dict(cls, name: str, data: dict) -> "Login":
        clusters = {}
        for key, item in (data.get("clusters") or {}).items():
            entry = ClusterToken.from_dict(item)
            if entry is not None:
                clusters[key] = entry
        login = cls(
            name,
            str(data.get("token") or ""),
            str(data.get("token_id") or ""),
            str(data.get("user_id") or ""),
            str(data.get("provider") or ""),
            str(data.get("origin") or "login"),
            epoch(data.get("expires")),
            str(data.get("expires_at") or ""),
            epoch(data.get("created")),
            clusters,
            {k: v for k, v in data.items() if k not in cls.FIELDS},
        )
        login.retired = RetiredToken.list_from(data.get("retired"))
        return login

    def to_dict(self) -> dict:
        data = dict(self.extra)
        data.update(
            token=self.token,
            token_id=self.token_id,
            user_id=self.user_id,
            provider=self.provider,
            origin=self.origin,
            expires=self.expires,
            expires_at=self.expires_at,
            created=self.created,
            clusters={key: entry.to_dict() for key, entry in self.clusters.items()},
        )
        if self.retired:
            data["retired"] = [old.to_dict() for old in self.retired]
        return data

    @property
    def label(self) -> str:
        """How the user is named in messages."""
        return self.name or self.user_id or "?"

    def cluster(self, key: str) -> ClusterToken | None:
        return self.clusters.get(key)

    def can_mint(self, now: float) -> bool:
        """Holds a credential with time left to mint cluster tokens from."""
        return bool(self.token) and (self.expires is None or self.expires - now > MIN_LOGIN_LEFT)

    def matches(self, user: str) -> bool:
        """Named by --user: a username or a user id."""
        return user in (self.name, self.user_id)

    # --- issue 13: every token the tool minted is kept until it is revoked or expired ---

    def holds(self, token: str) -> bool:
        """The token is this login's, one of its cluster tokens, or a retired one."""
        return (
            token == self.token
            or any(entry.token == token for entry in self.clusters.values())
            or any(old.entry.token == token for old in self.retired)
        )

    def retire(self, cluster: str, entry: ClusterToken, now: float, kind: str = "cluster") -> None:
        """Keep a replaced token for logout to revoke, unless it has expired or is held already."""
        if entry.expires is not None and entry.expires <= now or self.holds(entry.token):
            return
        self.retired.append(RetiredToken(cluster, entry, kind))

    def succeed(self, old: "Login", now: float) -> None:
        """Remember the logins this one replaced until they expire: cluster tokens minted from them (whose
        descriptions carry their markers) live no longer than they did, and logout sweeps those markers too."""
        replaced = {**(old.extra.get("replaced_logins") or {}), **(self.extra.get("replaced_logins") or {})}
        if old.token_id and old.token_id != self.token_id:
            replaced[old.token_id] = old.expires
        self.extra["replaced_logins"] = {
            token_id: expires
            for token_id, expires in replaced.items()
            if expires is None or (isinstance(expires, (int, float)) and expires > now)
        }

    def sweep_ids(self) -> set[str]:
        """The login ids whose markers logout sweeps: this login's and those it replaced."""
        return {self.token_id, *(self.extra.get("replaced_logins") or {})} - {""}

    def put_cluster(self, key: str, entry: ClusterToken, now: float) -> None:
        """Make `entry` the cluster's token; the one it replaces is retired (it may still be in use)."""
        old = self.clusters.get(key)
        self.clusters[key] = entry
        if old is not None and old.token != entry.token:
            self.retire(key, old, now)

    def prune_retired(self, now: float) -> None:
        """Forget retired tokens that have expired (Rancher no longer accepts them) or are current again."""
        current = {self.token, *(entry.token for entry in self.clusters.values())}
        self.retired = [
            old
            for old in self.retired
            if (old.entry.expires is None or old.entry.expires > now) and old.entry.token not in current
        ]


class RetiredToken:
    """A token the tool replaced that Rancher may still accept: a cluster token, or a login token ("login").

    As a pending entry (ServerRecord.pending) also a Kubeconfig object ("kubeconfig"; `entry.token` is its name) or
    a request that makes a token ("request"; `entry.minted` is when it was sent, `cluster` what it was for).
    """

    __slots__ = ("cluster", "entry", "kind")

    def __init__(self, cluster: str, entry: ClusterToken, kind: str = "cluster") -> None:
        self.cluster = cluster
        self.entry = entry
        self.kind = kind

    @classmethod
    def from_dict(cls, data) -> "RetiredToken | None":
        if not isinstance(data, dict):
            return None
        entry = ClusterToken.from_dict({k: v for k, v in data.items() if k not in ("cluster", "kind")})
        if entry is None:
            return None
        kind = data.get("kind") if data.get("kind") in ("login", "kubeconfig", "request") else "cluster"
        return cls(str(data.get("cluster") or ""), entry, str(kind))

    @classmethod
    def list_from(cls, items) -> "list[RetiredToken]":
        """The entries of a stored list (retired or pending), skipping what does not read as one."""
        found = [cls.from_dict(item) for item in items] if isinstance(items, list) else []
        return [old for old in found if old is not None]

    def to_dict(self) -> dict:
        return {**self.entry.to_dict(), "cluster": self.cluster, "kind": self.kind}


class ServerRecord:
    """Everything the store keeps for one Rancher server."""

    __slots__ = ("server", "cacert", "insecure", "current_user", "logins", "extra", "token_api", "pending")
    FIELDS = ("version", "server", "cacert", "insecure", "current_user", "logins", "token_api", "pending")

    def __init__(
        self,
        server: str,
        cacert: str | None = None,
        insecure: bool = False,
        current_user: str = "",
        logins: dict | None = None,
        extra: dict | None = None,
        token_api: str = "",
    ) -> None:
        self.server = server
        self.cacert = cacert  # Rancher's CA (PEM), when it is not in the system store
        self.insecure = insecure
        self.current_user = current_user
        self.logins: dict[str, Login] = logins or {}
        self.extra = extra or {}
        self.token_api = token_api  # "v3" or "ext": which API mints cluster tokens here; "" = not known yet
        # Secrets Rancher handed a process killed before it kept them (pending.py): to revoke, never to use.
        self.pending: list[RetiredToken] = []

    @classmethod
    def from_dict(cls, data: dict) -> "ServerRecord":
        logins = {
            name: Login.from_dict(name, item)
            for name, item in (data.get("logins") or {}).items()
            if isinstance(item, dict)
        }
        record = cls(
            str(data.get("server") or ""),
            data.get("cacert") or None,
            bool(data.get("insecure")),
            str(data.get("current_user") or ""),
            logins,
            {k: v for k, v in data.items() if k not in cls.FIELDS},
            str(data.get("token_api") or ""),
        )
        record.pending = RetiredToken.list_from(data.get("pending"))
        return record

    def to_dict(self, version: int) -> dict:
        data = dict(self.extra)
        data.update(
            version=version,
            server=self.server,
            cacert=self.cacert,
            insecure=self.insecure,
            current_user=self.current_user,
            token_api=self.token_api,
            logins={name: login.to_dict() for name, login in self.logins.items()},
        )
        if self.pending:
            data["pending"] = [old.to_dict() for old in self.pending]
        return data

    def keep_orphaned(self, found: "list[ServerRecord]", now: float) -> None:
        """Keep every token of records found in killed writers' temp files that this one lacks (live at Rancher).

        A login of a user with no login here is kept whole (it had succeeded when its writer was killed);
        else its tokens retire under that user's login, for logout to revoke.
        """
        for orphan in found:
            for name, lost in orphan.logins.items():
                home = self.logins.get(name)
                if home is None:
                    self.logins[name] = lost
                    continue
                if lost.token and lost.origin == "login":
                    home.retire("", ClusterToken(lost.token, lost.token_id, expires=lost.expires), now, "login")
                for key, entry in lost.clusters.items():
                    home.retire(key, entry, now)
                for old in lost.retired:
                    home.retire(old.cluster, old.entry, now, old.kind)
            for old in orphan.pending:
                self.keep_pending(old, now)

    def keep_pending(self, old: RetiredToken, now: float) -> None:
        """Keep a secret a killed process was handed, unless it has expired or a login here holds it already."""
        if old.entry.expires is not None and old.entry.expires <= now:
            return
        known = [entry.entry.token for entry in self.pending]
        if old.entry.token not in known and not any(login.holds(old.entry.token) for login in self.logins.values()):
            self.pending.append(old)

    def prune(self, now: float) -> None:
        """Forget retired and pending tokens that have expired or are in use again."""
        for login in self.logins.values():
            login.prune_retired(now)
        self.pending = [old for old in self.pending if old.entry.expires is None or old.entry.expires > now]

    def login(self, user: str | None = None) -> Login | None:
        """The login for --user (a username or user id), else the current one, else the only one.

        `rancher token` kubeconfigs pass the cluster's name as --user, which names no login: the current one is used.
        """
        if user:
            for login in self.logins.values():
                if login.matches(user):
                    return login
        if self.current_user in self.logins:
            return self.logins[self.current_user]
        if len(self.logins) == 1:
            return next(iter(self.logins.values()))
        return None


def epoch(value) -> float | None:
    """A time read from the store: a number or None (never expires); TypeError for anything else (a damaged file)."""
    if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return value
    raise TypeError(f"not a time: {type(value).__name__}")


def token_id_of(token: str) -> str:
    """`kubeconfig-u-abc:secret` → `kubeconfig-u-abc`; `ext/token-x:secret` → `token-x`."""
    return token.partition(":")[0].removeprefix("ext/")
