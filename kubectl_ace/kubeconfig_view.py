"""The kubeconfig's contexts and clusters, and its current-context to set, from the per-file indexes: no YAML parse
of a fleet's megabyte while they hold (status, switch, `kubectl ace kubectl`, the exec path's switches)."""

from __future__ import annotations

import os

from kubectl_ace import kubeconfig_index
from kubectl_ace.kubeconfig_files import Entry, Kubeconfig, decode, file_list, read_bytes
from kubectl_ace.kubeconfig_files import load as load_files
from kubectl_ace.store import Store


def load(explicit: str | None = None, environ: dict | None = None) -> Kubeconfig:
    """kubeconfig_files.load's contexts, clusters and current-context, merged by the same rules. A context here is
    its cluster and user; a cluster, the exec cluster info (server, CA data or file, insecure flag, kubectl-ace's
    extension); there are no users. Setting current-context works on it as on a full load: the index proves where
    the value is (config.spans), or the parse it was rebuilt from does."""
    store = Store()
    if not os.path.isdir(store.directory):  # no index without a store, and reading a kubeconfig never creates one
        return load_files(explicit, environ)
    paths, is_explicit = file_list(explicit, environ)
    config = Kubeconfig(paths=paths, explicit=is_explicit)
    for path in paths:
        raw = read_bytes(path, must_exist=is_explicit)
        if raw is None:
            continue
        config.texts[path] = decode(raw, path)
        index, (contexts, clusters), data = kubeconfig_index.read(store, path, raw)
        if data is not None:
            config.data[path] = data
        elif index.span is not None:
            config.spans[path] = kubeconfig_index.text_span(raw, index.span)
        for name, (cluster, user) in contexts.items():
            if name and name not in config.contexts:
                config.contexts[name] = Entry(name, {"cluster": cluster, "user": user}, path)
        for name, info in clusters.items():
            if name and name not in config.clusters:
                config.clusters[name] = Entry(name, kubeconfig_index.cluster_entry(info), path)
        config.current_context = config.current_context or index.current
    return config
