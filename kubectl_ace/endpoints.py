"""The endpoints of Rancher clusters in a kubeconfig: the Rancher proxy, and the ACE FQDN and node endpoints.

`urls.classify` says what one endpoint is (kubectl-ace's cluster extension, else Rancher's proxy URL
shape); ACE contexts a kubeconfig holds without the extension are found here by Rancher's naming
(`<name>-fqdn`, `<name>-<node>` beside the proxy context `<name>`, with the same user).
"""

from __future__ import annotations

from kubectl_ace.credential import EXTENSION_NAME
from kubectl_ace.urls import classify


class Endpoint:
    """One way to reach a cluster's API server, as a context: the Rancher proxy or an ACE endpoint."""

    __slots__ = ("context", "kind", "url", "ca_data", "insecure")

    def __init__(self, context: str, kind: str, url: str, ca_data: str = "", insecure: bool = False) -> None:
        self.context = context
        self.kind = kind  # "proxy", "fqdn" or "node"
        self.url = url
        self.ca_data = ca_data  # PEM
        self.insecure = insecure

    @property
    def is_ace(self) -> bool:
        return self.kind != "proxy"

    @property
    def label(self) -> str:
        return {"proxy": "Rancher proxy", "fqdn": "ACE FQDN"}.get(self.kind, "ACE node")


class ClusterEndpoints:
    """A Rancher cluster as the kubeconfig knows it: its proxy context and its ACE contexts (FQDN first)."""

    __slots__ = ("server", "cluster_id", "proxy", "ace")

    def __init__(self, server: str, cluster_id: str, proxy: Endpoint | None, ace: list[Endpoint]) -> None:
        self.server = server  # the Rancher URL
        self.cluster_id = cluster_id
        self.proxy = proxy
        self.ace = ace

    def all(self) -> list[Endpoint]:
        return ([self.proxy] if self.proxy else []) + self.ace

    def by_context(self, name: str) -> Endpoint | None:
        return next((e for e in self.all() if e.context == name), None)


def extension_of(cluster: dict) -> dict:
    """The kubectl-ace data in a cluster entry's `client.authentication.k8s.io/exec` extension, if any."""
    for item in cluster.get("extensions") or []:
        if isinstance(item, dict) and item.get("name") == EXTENSION_NAME and isinstance(item.get("extension"), dict):
            data = item["extension"].get("kubectl-ace")
            if isinstance(data, dict):
                return data
    return {}


def classify_cluster(body: dict) -> tuple[str, str, str] | None:
    """(Rancher server, cluster id, kind) of a kubeconfig cluster entry."""
    return classify(str(body.get("server") or ""), extension_of(body))


def endpoint_of(config, context: str) -> tuple[str, str, str] | None:
    """(Rancher server, cluster id, kind) of a context's cluster, as far as its entry says."""
    cluster = config.cluster_of(context)
    return classify_cluster(cluster.body) if cluster is not None else None


def rancher_endpoints(config, context: str) -> ClusterEndpoints | None:
    """The proxy and ACE contexts of the Rancher cluster that `context` belongs to; None if it is not Rancher's.
    Of several proxy contexts of the cluster, `context` itself when it is one."""
    placed = _place(config, context)
    if placed is None:
        return None
    key = placed[0]
    found = _clusters(config, only=key, prefer=context)
    return found[0][1] if found else ClusterEndpoints(key[0], key[1], None, [])


def _place(config, name: str) -> tuple[tuple[str, str], str] | None:
    """((Rancher server, cluster id), endpoint kind) of a context: from its cluster entry, else, for an ACE context
    named like Rancher does, from its proxy sibling; None when it is no Rancher cluster's."""
    where = endpoint_of(config, name)
    if where is not None:
        return (where[0], where[1]), where[2]
    sibling = proxy_sibling(config, name)
    found = endpoint_of(config, sibling) if sibling is not None else None
    if found is None:
        return None
    return (found[0], found[1]), "fqdn" if name.endswith("-fqdn") else "node"


def as_endpoint(context: str, kind: str, cluster) -> Endpoint:
    """The endpoint a context reaches through its cluster entry (kubeconfig_files.Entry)."""
    from kubectl_ace.kubeconfig_files import ca_pem

    body = cluster.body
    return Endpoint(
        context, kind, body.get("server", ""), ca_pem(body, cluster.path), bool(body.get("insecure-skip-tls-verify"))
    )


def proxy_sibling(config, context: str) -> str | None:
    """For an ACE context named like Rancher does (`<name>-fqdn`, `<name>-<node>`), its proxy context `<name>`."""
    user = config.contexts[context].body.get("user") if context in config.contexts else None
    head = context
    while "-" in head:
        head = head.rsplit("-", 1)[0]
        if head in config.contexts and config.contexts[head].body.get("user") == user:
            where = endpoint_of(config, head)
            if where and where[2] == "proxy":
                return head
    return None


def all_rancher_endpoints(config) -> list[ClusterEndpoints]:
    """Every Rancher cluster of the kubeconfig, as rancher_endpoints gives it for its first context, in one pass
    (rancher_endpoints for each context reads every context each time: 45 s for 3,000 contexts)."""
    return [group for _, group in _clusters(config)]


def _clusters(config, only: tuple[str, str] | None = None, prefer: str = "") -> list[tuple[str, ClusterEndpoints]]:
    """(first context in name order, endpoints) of each Rancher cluster (or only of that (server, cluster id)), in
    the order of those first contexts; a cluster's first proxy context is its proxy, or `prefer` when it is one."""
    clusters: dict[tuple[str, str], tuple[str, ClusterEndpoints]] = {}
    for name in sorted(config.contexts):
        placed = _place(config, name)
        if placed is None or (only is not None and placed[0] != only):
            continue
        key, kind = placed
        group = clusters.setdefault(key, (name, ClusterEndpoints(key[0], key[1], None, [])))[1]
        cluster = config.cluster_of(name)
        if cluster is None:
            continue  # a context whose cluster entry is missing names its cluster but is no way to reach it
        endpoint = as_endpoint(name, kind, cluster)
        if kind == "proxy":
            if group.proxy is None or name == prefer:
                group.proxy = endpoint
        else:
            group.ace.append(endpoint)
    for _, group in clusters.values():
        group.ace.sort(key=lambda e: (e.kind != "fqdn", e.context))
    return list(clusters.values())


def rancher_contexts(config) -> list[str]:
    """One context per Rancher cluster in the kubeconfig (its proxy context when it has one)."""
    return [group.proxy.context if group.proxy else first for first, group in _clusters(config)]


def rancher_ca(config, server: str) -> str:
    """Rancher's CA as the kubeconfig knows it: from a cluster entry on this Rancher's proxy (as the UI writes them)."""
    from kubectl_ace.kubeconfig_files import ca_pem

    for entry in config.clusters.values():
        where = classify_cluster(entry.body)
        if where is not None and where[0] == server and where[2] == "proxy":
            pem = ca_pem(entry.body, entry.path)
            if pem:
                return pem
    return ""


def choose(ace: list[Endpoint], results: dict) -> Endpoint | None:
    """FQDN first when healthy, else the healthy node with the lowest latency; None when none is healthy."""
    healthy = [e for e in ace if results.get(e.url) is not None and results[e.url].healthy]
    fqdn = [e for e in healthy if e.kind == "fqdn"]
    if fqdn:
        return fqdn[0]
    return min(healthy, key=lambda e: results[e.url].latency_ms or 0.0, default=None)
