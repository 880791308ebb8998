"""The World: one simulated Rancher, its users, tokens and settings, its downstream clusters, and the sync between them.

Everything listens on a random 127.R1.R2.0/24 block with ephemeral ports:
Rancher at .1, cluster k (0-based) at .(10+10k) for its FQDN endpoint, .(11+10k)… for its nodes
(control-plane nodes first, then workers) and .(19+10k) for its kube-api-auth webhook.
That block has room for 23 clusters. Clusters without ACE listen on nothing, so in a world of more
than 23 clusters only the ACE clusters get slots of the block, and the others get their (never
bound) node addresses from 198.18.0.0/15, 24 to a /24: proxy-only clusters need no loopback addresses.

Deliberate deviation from Rancher: per-node ACE servers are written as https://<node ip>:<port>
instead of https://<node ip>:6443, because ports are ephemeral here.
"""

from __future__ import annotations

import collections
import dataclasses
import random
import ssl
import threading
import time
from typing import Callable, Iterable, Optional

from .certs import CertAuthority
from .extkubeconfig import delete_kubeconfig
from .faults import Fault
from .cluster import ClusterSpec, SimCluster
from .azure import AzureAD
from .providers import PROVIDER_TYPES, SAML_PROVIDERS
from .rancher import RancherServer
from .saml import SamlToken, encrypt, stranger_public_key
from .state import Counters, User, default_settings
from .sync import MODES_WITHOUT_CONTROLLERS, TokenSync
from .tempdirs import make_temp_dir, remove_temp_dir
from .tokens import Token, random_user_id
from .tokenstore import TokenStore
from .versions import Features, parse_version

MAX_CLUSTERS = 23           # clusters that fit the loopback block (every ACE cluster needs a slot)
SLOTS_PER_BLOCK = 24        # cluster k of a /24 uses .(10+10k) to .(19+10k)
MAX_UNBOUND_CLUSTERS = 512 * SLOTS_PER_BLOCK  # clusters without ACE beyond that, on addresses nothing binds
UNBOUND_NETS = "198.{}.{}"  # RFC 2544 benchmarking range: never a real host, never bound here
# Blocks taken by worlds of this process; ports are ephemeral so sharing would work, but
# distinct blocks keep addresses unambiguous in logs and tests.
_BLOCKS_IN_USE: set[str] = set()
_BLOCKS_LOCK = threading.Lock()


__all__ = ["Counters", "MODES_WITHOUT_CONTROLLERS", "User", "World", "parse_version"]


class World(TokenStore, TokenSync):
    """A simulated Rancher with downstream clusters, on loopback, over TLS."""

    def __init__(self, clusters: Iterable[ClusterSpec] = (), users: Optional[dict[str, str]] = None,
                 rancher_version: str = "v2.13.0", *, v3_tokens: bool = True, ext_login: bool = False,
                 norman_kubeconfig: bool = True, rancher_prime: bool = False,
                 temp_root: Optional[str] = None) -> None:
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._state_version = 0
        self.counters = Counters(self._notify)
        self.rancher_version = rancher_version
        self.version_info = parse_version(rancher_version)
        self.version = self.version_info[:2]
        # Per-version behaviour (versions.py); replace fields with world.override(...) to try other combinations.
        self.features = Features.of(self.version_info)
        self.v1_public = self.features.v1_public
        self.html_escape_kubeconfig = self.version < (2, 12)
        # The switches for a Rancher that does not exist yet (research §3.3, §3.5):
        self.v3_tokens = v3_tokens                  # False: /v3/tokens answers 404, Rancher mints ext tokens
        self.ext_login = ext_login                  # True: /v1-public/login answers an ext.cattle.io/v1 Token
        self.norman_kubeconfig = norman_kubeconfig  # False: the generateKubeconfig action is gone
        self.rancher_prime = rancher_prime
        self.temp_root = temp_root                  # parent of the rancher-sim-* dir (default: the system temp dir)
        # Derived tokens get expiresAt from a controller after POST /v3/tokens returns, so the
        # create response shows "" (research §3.1); GETs afterwards show the value.
        self.async_token_expiry = True
        self.settings: dict[str, str] = default_settings()
        self.settings["server-version"] = rancher_version
        self._specs = list(clusters)
        ids = [s.id for s in self._specs]
        if len(set(ids)) != len(ids):
            raise ValueError("cluster ids must be unique")
        if len(ids) > MAX_CLUSTERS:
            # Only clusters with ACE listen on addresses; the others need no slot of the loopback block.
            if sum(s.ace is not None for s in self._specs) > MAX_CLUSTERS:
                raise ValueError(f"at most {MAX_CLUSTERS} clusters with ACE (each needs a loopback /24 slice)")
            if len(ids) - MAX_CLUSTERS > MAX_UNBOUND_CLUSTERS:
                raise ValueError(f"at most {MAX_CLUSTERS + MAX_UNBOUND_CLUSTERS} clusters")
        self._users: dict[str, User] = {}
        self._providers: list[dict] = [{"id": "local", "type": "localProvider"}]
        self._tokens: dict[str, Token] = {}
        self._pending: dict[str, dict[str, float]] = collections.defaultdict(dict)  # cluster -> name -> due
        self.sync_delay = 0.0  # seconds from a token change to its sync downstream (per cluster: SimCluster.sync_delay)
        self._sync_thread: Optional[threading.Thread] = None
        self._kubeconfigs: dict[str, dict] = {}  # ext Kubeconfig objects by name
        self._faults: list[Fault] = []
        self._saml_tokens: dict[str, SamlToken] = {}  # SamlTokens in cattle-global-data, by request id
        self.azure: Optional[AzureAD] = None  # the Azure AD stand-in, once enable_azure_ad() ran
        self._stopping = False
        self._started = False
        self._tmpdir: Optional[str] = None
        self._cas: dict[str, CertAuthority] = {}
        self.clusters: dict[str, SimCluster] = {}
        self.rancher: Optional[RancherServer] = None
        self.net = ""
        self.rancher_ca_pem = ""
        self.rancher_ca_file = ""
        for username, password in (users if users is not None else {"admin": "password"}).items():
            self.add_user(username, password)

    # -- lifecycle ----------------------------------------------------------------------------

    def __enter__(self) -> "World":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> "World":
        """Generate certificates, bind every listener and start serving."""
        if self._started:
            return self
        self._stopping = False
        self._tmpdir = make_temp_dir(self.temp_root)
        ca = self._ca("rancher")
        self.rancher_ca_pem = ca.cert_pem
        self.rancher_ca_file = self._write_file("rancher-ca.pem", ca.cert_pem)
        last_error: Optional[OSError] = None
        for _ in range(30):
            net = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}"
            with _BLOCKS_LOCK:
                if net in _BLOCKS_IN_USE:
                    continue
                _BLOCKS_IN_USE.add(net)
            try:
                self._build(net)
                break
            except OSError as e:  # address block in use: tear down and try another
                last_error = e
                self._teardown_listeners()
                self._release_block()
        else:
            self.stop()
            raise RuntimeError(f"could not bind a loopback block: {last_error}")
        self._started = True
        with self._lock:
            # Fresh clusters hold nothing yet: sync every cluster-scoped token (also after a restart).
            for tok in self._tokens.values():
                if tok.cluster_id:
                    self._pending[tok.cluster_id][tok.name] = 0.0
            self._flush_sync()
        return self

    def _build(self, net: str) -> None:
        self.net = net
        ca = self._ca("rancher")
        leaf = ca.issue("rancher", [f"{net}.1"], ["localhost"])
        cert_file = self._write_file("rancher-serving.crt", leaf.cert_pem)
        key_file = self._write_file("rancher-serving.key", leaf.key_pem)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert_file, key_file)
        ctx.set_alpn_protocols(["http/1.1"])
        self.rancher = RancherServer(self, f"{net}.1", ctx)
        self.rancher.listener.start()
        self.settings["server-url"] = self.rancher_url
        self.settings["cacerts"] = self.rancher_ca_pem
        self.clusters = {}
        for spec, (slot, block) in zip(self._specs, self._address_slots(net)):
            cluster = SimCluster(self, spec, slot, block)
            cluster.store.on_used = self._token_used
            self.clusters[spec.id] = cluster
            cluster.start()

    def _address_slots(self, net: str) -> list[tuple[int, str]]:
        """(slot, /24 block) per cluster: the usual layout, or beyond 23 clusters slots for ACE clusters only."""
        # The clusters without ACE then get a never-bound block each.
        if len(self._specs) <= MAX_CLUSTERS:
            return [(index, net) for index in range(len(self._specs))]
        slots, ace, unbound = [], 0, 0
        for spec in self._specs:
            if spec.ace is not None:
                slots.append((ace, net))
                ace += 1
            else:
                block = unbound // SLOTS_PER_BLOCK  # 24 clusters a /24, as in the loopback block
                slots.append((unbound % SLOTS_PER_BLOCK, UNBOUND_NETS.format(18 + block // 256, block % 256)))
                unbound += 1
        return slots

    def _ca(self, key: str) -> CertAuthority:
        # CA material is generated once per World and reused if binding has to be retried.
        if key not in self._cas:
            self._cas[key] = CertAuthority(f"{key}-ca")
        return self._cas[key]

    def _release_block(self) -> None:
        with _BLOCKS_LOCK:
            _BLOCKS_IN_USE.discard(self.net)

    def _teardown_listeners(self) -> None:
        if self.rancher is not None:
            self.rancher.listener.stop()
        for cluster in self.clusters.values():
            cluster.stop()

    def stop(self) -> None:
        """Stop every thread and close every socket; remove the temp dir."""
        with self._lock:
            self._stopping = True
            self._notify()
        self._teardown_listeners()
        self._stop_sync_thread()
        if self.azure is not None:
            self.azure.stop()
        self._release_block()
        self._started = False
        remove_temp_dir(self._tmpdir)
        self._tmpdir = None

    def _write_file(self, name: str, text: str) -> str:
        assert self._tmpdir is not None
        path = f"{self._tmpdir}/{name}"
        with open(path, "w") as f:
            f.write(text)
        return path

    # -- addresses ----------------------------------------------------------------------------

    @property
    def rancher_host(self) -> str:
        """host:port of Rancher (what Rancher writes as --server=)."""
        assert self.rancher is not None, "world not started"
        return self.rancher.listener.host_port

    @property
    def rancher_url(self) -> str:
        """https://host:port of Rancher."""
        return f"https://{self.rancher_host}"

    @property
    def temp_dir(self) -> str:
        """The directory holding this world's CA files."""
        assert self._tmpdir is not None
        return self._tmpdir

    def cluster(self, cluster_id: str) -> SimCluster:
        """A downstream cluster by id."""
        return self.clusters[cluster_id]

    # -- waiting ------------------------------------------------------------------------------

    def _notify(self) -> None:
        with self._cond:
            self._state_version += 1
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10) -> bool:
        """Wait until predicate() is true (re-checked on every state change); False on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                seen = self._state_version
            # Evaluated without the lock: a predicate may itself talk to the simulator.
            if predicate():
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with self._cond:
                if self._state_version == seen:
                    # Time-based conditions (expiry) change without a notification: re-check often.
                    self._cond.wait(min(remaining, 0.05))

    # -- users and providers ------------------------------------------------------------------

    def add_user(self, username: str, password: str, provider: str = "local", user_id: Optional[str] = None,
                 enabled: bool = True, groups: Iterable[str] = ()) -> str:
        """Add a user of an auth provider; returns its id (u-xxxxxxxxxx)."""
        if provider not in PROVIDER_TYPES:
            raise ValueError(f"unknown provider {provider!r}")
        with self._lock:
            if self._find_user(provider, username) is not None:
                raise ValueError(f"user {username!r} already exists for {provider}")
            uid = user_id or random_user_id()
            self._users[uid] = User(uid, username, password, provider, enabled, list(groups))
            self._notify()
            return uid

    def set_user_enabled(self, username: str, enabled: bool, provider: str = "local") -> None:
        """Enable or disable a user (synced downstream as ClusterUserAttribute.enabled)."""
        with self._lock:
            user = self._find_user(provider, username)
            if user is None:
                raise KeyError(username)
            user.enabled = enabled
            for tok in self._tokens.values():
                if tok.user_id == user.id and tok.cluster_id:
                    self._token_changed(tok.cluster_id, tok.name)
            self._notify()

    def user_id(self, username: str, provider: str = "local") -> str:
        """The id of a user by login name."""
        with self._lock:
            user = self._find_user(provider, username)
            if user is None:
                raise KeyError(username)
            return user.id

    def _find_user(self, provider: str, username: str) -> Optional[User]:
        for user in self._users.values():
            if user.provider == provider and user.username == username:
                return user
        return None

    def _user_by_name(self, username: str) -> User:
        user = self._find_user("local", username)
        if user is None:
            user = next((u for u in self._users.values() if u.username == username), None)
        if user is None:
            raise KeyError(username)
        return user

    @property
    def providers(self) -> list[dict]:
        """Enabled auth providers (copies): dicts with at least id and type."""
        with self._lock:
            return [dict(p) for p in self._providers]

    def enable_provider(self, provider_id: str, **fields: object) -> None:
        """Enable an auth provider by authconfig id (openldap, okta, azuread, …) with optional extra fields."""
        if provider_id not in PROVIDER_TYPES:
            raise ValueError(f"unknown provider {provider_id!r}")
        with self._lock:
            self._providers = [p for p in self._providers if p["id"] != provider_id]
            self._providers.append({"id": provider_id, "type": PROVIDER_TYPES[provider_id], **fields})
            self._notify()

    def disable_provider(self, provider_id: str) -> None:
        """Disable an auth provider: it is no longer listed, and its users' tokens stop authenticating."""
        with self._lock:
            self._providers = [p for p in self._providers if p["id"] != provider_id]
            self._notify()

    def _provider_enabled(self, provider_id: str) -> bool:
        return any(p["id"] == provider_id for p in self._providers)

    def enable_azure_ad(self) -> AzureAD:
        """Start the Azure AD stand-in on this world's block (.2, plain HTTP) and enable the azuread provider with it."""
        assert self._started, "start the world first"
        with self._lock:
            if self.azure is None:
                self.azure = AzureAD(f"{self.net}.2")
                self.azure.start()
            azure = self.azure
        self.enable_provider("azuread", tenantId=azure.tenant, clientId=azure.client_id,
                             authEndpoint=azure.authorize_url, tokenEndpoint=azure.token_url,
                             deviceAuthEndpoint=azure.device_url)
        return azure

    # -- ext Kubeconfigs ------------------------------------------------------------------------

    def kubeconfigs(self) -> list[dict]:
        """The ext Kubeconfig objects Rancher holds (never status.value), oldest first."""
        with self._lock:
            return [dict(o) for o in self._kubeconfigs.values()]

    def delete_kubeconfig(self, name: str) -> None:
        """Delete an ext Kubeconfig and the tokens it owns (as Rancher's garbage collector does)."""
        if delete_kubeconfig(self, name) is None:
            raise KeyError(name)

    def add_fault(self, kind: str, path: str, method: str = "", times: Optional[int] = None,
                  reach_rancher: bool = True, body: Optional[bytes] = None) -> Fault:
        """Spoil Rancher's answers to requests under path (faults.FAULT_KINDS); the newest matching fault wins."""
        fault = Fault(kind, path, method.upper(), times, reach_rancher, body)
        with self._lock:
            self._faults.insert(0, fault)
            self._notify()
        return fault

    def remove_fault(self, fault: Fault) -> None:
        """Remove one fault (a held request goes on)."""
        with self._lock:
            self._faults[:] = [f for f in self._faults if f is not fault]
            self._notify()

    def clear_faults(self) -> None:
        """Remove every fault."""
        with self._lock:
            self._faults.clear()
            self._notify()

    def _fault_for(self, method: str, path: str) -> Optional[Fault]:
        with self._lock:
            return next((f for f in self._faults if f.matches(method, path)), None)

    def override(self, **changes: bool) -> None:
        """Change per-version behaviour (fields of versions.Features), e.g. override(kube_api_auth_strips_ext=True)."""
        with self._lock:
            self.features = dataclasses.replace(self.features, **changes)
            self.v1_public = self.features.v1_public
            for cluster in self.clusters.values():
                cluster.kube_api_auth.strip_ext = self.features.kube_api_auth_strips_ext
            self._notify()

    # -- SAML CLI logins (research §2.4) ---------------------------------------------------------

    def complete_saml_login(self, request_id: str, public_key: str, username: str, provider: str = "okta",
                            response_type: str = "kubeconfig", tamper: Optional[str] = None) -> str:
        """Do what the browser, the IdP and Rancher's ACS handler do for a CLI login; returns the token name.

        Creates the kubeconfig token, encrypts name:key for public_key and stores it as the SamlToken
        named request_id. tamper="garbage" stores a token that is not base64, "wrong-key" one encrypted
        for somebody else's key.
        """
        if provider not in SAML_PROVIDERS:
            raise ValueError(f"{provider!r} is not a SAML provider")
        with self._lock:
            if not self._provider_enabled(provider):
                raise ValueError(f"provider {provider} is not enabled")
            user = self._find_user(provider, username)
            if user is None or not user.enabled:
                raise KeyError(f"no enabled {provider} user {username!r}")
            _, _, cid = response_type.partition("_")
            prefix = f"kubeconfig-{user.id}" + (f".{cid}" if cid else "")
            tok = self._mint(user, prefix=prefix, cluster_id=cid, ttl_ms=self._kubeconfig_ttl(), kind="kubeconfig",
                             description="Kubeconfig token")
            if tamper == "garbage":
                sealed = "%%% this is not base64 %%%"
            elif tamper == "wrong-key":
                sealed = encrypt(stranger_public_key(), tok.bearer)
            elif tamper is None:
                sealed = encrypt(public_key, tok.bearer)
            else:
                raise ValueError(f"unknown tamper {tamper!r}")
            self._saml_tokens[request_id] = SamlToken(request_id, sealed, tok.expires_at_str())
            self.counters._inc(("logins",))
            return tok.name

    def saml_tokens(self) -> list[str]:
        """Request ids of the SamlTokens Rancher holds (a CLI deletes its own after reading it)."""
        with self._lock:
            return sorted(self._saml_tokens)

    def _saml_token(self, request_id: str) -> Optional[SamlToken]:
        with self._lock:
            return self._saml_tokens.get(request_id)

    def _delete_saml_token(self, request_id: str) -> None:
        with self._lock:
            self._saml_tokens.pop(request_id, None)
            self._notify()

