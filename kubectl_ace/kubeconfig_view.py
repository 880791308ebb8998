"""The kubeconfig's contexts and clusters for read-only commands, from the per-file indexes: no YAML parse of a
fleet's megabyte while they hold (status, `kubectl ace kubectl`)."""

from __future__ import annotations

import os

from kubectl_ace import kubeconfig_index
from kubectl_ace.kubeconfig_files import Entry, Kubeconfig, file_list, read_bytes
from kubectl_ace.kubeconfig_files import load as load_files
from kubectl_ace.store import Store


def load(explicit: str | None = None, environ: dict | None = None) -> Kubeconfig:
    """kubeconfig_files.load's contexts, clusters and current-context, merged by the same rules. A context here is
    its cluster and user; a cluster, the exec cluster info (server, CA data, insecure flag, kubectl-ace's
    extension); users, texts and data stay empty."""
    store = Store()
    if not os.path.isdir(store.directory):  # no index without a store, and reading a kubeconfig never creates one
        return load_files(explicit, environ)
    paths, is_explicit = file_list(explicit, environ)
    config = Kubeconfig(paths=paths, explicit=is_explicit)
    for path in paths:
        raw = read_bytes(path, must_exist=is_explicit)
        if raw is None:
            continue
        current, contexts, clusters = kubeconfig_index.entries(store, path, raw)
        for name, (cluster, user) in contexts.items():
            if name and name not in config.contexts:
                config.contexts[name] = Entry(name, {"cluster": cluster, "user": user}, path)
        for name, info in clusters.items():
            if name and name not in config.clusters:
                config.clusters[name] = Entry(name, kubeconfig_index.cluster_entry(info), path)
        config.current_context = config.current_context or current
    return config
