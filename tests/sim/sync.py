"""Rancher's clusterauthtoken controllers: token changes queued per cluster and applied downstream."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Optional

from .kubeapiauth import ClusterAuthToken, ClusterUserAttribute
from .tokens import hash_sha3

if TYPE_CHECKING:
    from .cluster import SimCluster

MODES_WITHOUT_CONTROLLERS = ("stopped", "stalled")  # Rancher's controllers do not run: no sync


class TokenSync:
    """Mixin of World: the sync of cluster-scoped tokens (and their users) to each cluster's kube-api-auth objects."""

    def set_sync_delay(self, seconds: float, cluster_id: Optional[str] = None) -> None:
        """Delay every later token change's sync downstream by seconds (for one cluster, or the world's default)."""
        with self._lock:
            if cluster_id is None:
                self.sync_delay = float(seconds)
            else:
                self.clusters[cluster_id].sync_delay = float(seconds)
            self._notify()

    def pending_sync(self, cluster_id: str) -> set[str]:
        """Token names whose changes wait for Rancher (and the cluster agent, and the sync delay) to sync them."""
        with self._lock:
            return set(self._pending.get(cluster_id, ()))

    def _sync_delay_for(self, cluster_id: str) -> float:
        cluster = self.clusters.get(cluster_id)
        own = cluster.sync_delay if cluster is not None else None
        return self.sync_delay if own is None else own

    def _token_changed(self, cluster_id: str, name: str) -> None:
        if cluster_id:
            with self._lock:
                # A change already queued keeps its time: the controller reads the latest state when it runs.
                self._pending[cluster_id].setdefault(name, time.monotonic() + self._sync_delay_for(cluster_id))
                self._flush_sync()

    def _sync_possible(self, cluster: SimCluster) -> bool:
        return (self.rancher is not None and self.rancher.mode not in MODES_WITHOUT_CONTROLLERS
                and cluster.agent_connected and not self._stopping)

    def _flush_sync(self) -> None:
        """Apply the queued token changes that are due to every cluster Rancher can reach now."""
        with self._lock:
            now = time.monotonic()
            waiting = False
            for cid, names in list(self._pending.items()):
                cluster = self.clusters.get(cid)
                if cluster is None or not names or not self._sync_possible(cluster):
                    continue
                for name in sorted(names):
                    if names[name] <= now:
                        self._reconcile(cluster, name)
                        del names[name]
                waiting = waiting or bool(names)
            if waiting:
                self._start_sync_thread()
            self._notify()

    def _start_sync_thread(self) -> None:
        if self._sync_thread is None or not self._sync_thread.is_alive():
            self._sync_thread = threading.Thread(target=self._sync_loop, name="rancher-sync", daemon=True)
            self._sync_thread.start()

    def _sync_loop(self) -> None:
        """Apply delayed changes when they fall due; ends when nothing waits any more."""
        with self._cond:
            while not self._stopping:
                dues = [due for names in self._pending.values() for due in names.values()]
                if not dues:
                    break
                wait = min(dues) - time.monotonic()
                if wait > 0:
                    self._cond.wait(min(wait, 0.5))  # short slices: Rancher or an agent may come back meanwhile
                    continue
                before = sum(len(n) for n in self._pending.values())
                self._flush_sync()
                if sum(len(n) for n in self._pending.values()) == before:
                    self._cond.wait(0.5)  # due but blocked (Rancher down, agent away): look again soon
            self._sync_thread = None

    def _stop_sync_thread(self) -> None:
        thread = self._sync_thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(5)

    def _reconcile(self, cluster: SimCluster, name: str) -> None:
        store = cluster.store
        tok = self._tokens.get(name)
        # Only tokens scoped to this cluster are synced; ext tokens only from 2.13 (extTokenLifecycle).
        if tok is not None and tok.cluster_id == cluster.id and (not tok.ext or self.features.ext_tokens_synced):
            user = self._users.get(tok.user_id)
            # Secret first, then the ClusterAuthToken; a v3 key is SHA3-hashed for downstream, an ext
            # token's stored SHA3 hash is copied as it is.
            if name not in store.secrets:
                store.secrets[name] = tok.hash if tok.ext else hash_sha3(tok.key)
            old = store.tokens.get(name)
            store.tokens[name] = ClusterAuthToken(name=name, user_name=tok.user_id,
                                                  expires_at=tok.expires_at_str(), enabled=tok.enabled,
                                                  last_used_at=old.last_used_at if old else None)
            store.user_attributes[tok.user_id] = ClusterUserAttribute(
                name=tok.user_id, groups=sorted(user.groups) if user else [],
                enabled=bool(user and user.enabled))
        else:
            old = store.tokens.pop(name, None)
            store.secrets.pop(name, None)
            if old is not None and not any(t.user_name == old.user_name for t in store.tokens.values()):
                store.user_attributes.pop(old.user_name, None)

    def _token_used(self, name: str, ts: float) -> None:
        # Downstream lastUsedAt is pushed back up to the Rancher token when Rancher can hear it.
        tok = self._tokens.get(name)
        if tok is not None and self.rancher is not None and self.rancher.mode not in MODES_WITHOUT_CONTROLLERS:
            tok.last_used_at = ts

    def _agent_changed(self, cluster: SimCluster) -> None:
        with self._lock:
            self._flush_sync()
            self._notify()

