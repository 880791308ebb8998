"""What an endpoint is and which one to use: the classifier and the choice, on kubeconfigs held in memory."""

from __future__ import annotations

from kubectl_ace.endpoints import Endpoint, choose, rancher_ca, rancher_contexts, rancher_endpoints
from kubectl_ace.kubeconfig_files import Entry, Kubeconfig
from kubectl_ace.urls import checked_server, classify, normalize_server, proxy_parts

RANCHER = "https://rancher.example.com"
EXT = "client.authentication.k8s.io/exec"


def config(contexts: dict[str, tuple[str, str, dict]], current: str = "") -> Kubeconfig:
    """contexts: name → (cluster name, user, cluster body)."""
    kube = Kubeconfig(paths=["/in/memory"], explicit=True, current_context=current)
    for name, (cluster, user, body) in contexts.items():
        kube.clusters[cluster] = Entry(cluster, body, "/in/memory")
        kube.contexts[name] = Entry(name, {"cluster": cluster, "user": user}, "/in/memory")
    return kube


def rancher_named() -> Kubeconfig:
    """As Rancher writes it: a proxy context and ACE contexts named after it, one user, no extension."""
    return config({"prod": ("prod", "prod", {"server": f"{RANCHER}/k8s/clusters/c-m-1"}),
                   "prod-fqdn": ("prod-fqdn", "prod", {"server": "https://prod.example.com"}),
                   "prod-cp1": ("prod-cp1", "prod", {"server": "https://10.0.0.1:6443"}),
                   "other": ("other", "someone", {"server": "https://k8s.elsewhere"})})


class Probe:
    def __init__(self, healthy: bool, latency_ms: float = 10.0) -> None:
        self.healthy = healthy
        self.latency_ms = latency_ms


def test_proxy_urls_are_recognised_with_and_without_a_path_prefix():
    assert proxy_parts(f"{RANCHER}/k8s/clusters/c-m-1") == (RANCHER, "c-m-1")
    assert proxy_parts("https://Host:443/rancher/k8s/clusters/c-1/") == ("https://host/rancher", "c-1")
    assert proxy_parts("https://prod.example.com") is None
    assert proxy_parts(f"{RANCHER}/k8s/clusters/") is None
    assert proxy_parts("ftp://x/k8s/clusters/c-1") is None


def test_the_extension_wins_over_the_url():
    ours = {"server": RANCHER + "/", "clusterId": "c-m-1", "endpoint": "node"}
    assert classify("https://10.0.0.1:6443", ours) == (RANCHER, "c-m-1", "node")
    assert classify("https://10.0.0.1:6443", {}) is None
    assert classify(f"{RANCHER}/k8s/clusters/c-m-2", None) == (RANCHER, "c-m-2", "proxy")


def test_ace_contexts_are_found_by_rancher_naming():
    found = rancher_endpoints(rancher_named(), "prod-cp1")
    assert found is not None and (found.server, found.cluster_id) == (RANCHER, "c-m-1")
    assert found.proxy is not None and found.proxy.context == "prod"
    assert [(e.context, e.kind) for e in found.ace] == [("prod-fqdn", "fqdn"), ("prod-cp1", "node")]
    assert rancher_endpoints(rancher_named(), "other") is None


def test_renamed_contexts_are_found_by_the_extension():
    def marked(server: str, kind: str) -> dict:
        return {"server": server, "extensions": [{"name": EXT, "extension": {"kubectl-ace": {
            "server": RANCHER, "clusterId": "c-m-1", "endpoint": kind}}}]}
    kube = config({"a": ("a", "u1", marked(f"{RANCHER}/k8s/clusters/c-m-1", "proxy")),
                   "b": ("b", "u2", marked("https://10.0.0.9:6443", "node"))})
    found = rancher_endpoints(kube, "b")
    assert found is not None and found.proxy.context == "a" and [e.context for e in found.ace] == ["b"]


def test_one_context_per_rancher_cluster():
    assert rancher_contexts(rancher_named()) == ["prod"]


def test_rancher_ca_comes_from_a_proxy_entry_of_that_rancher():
    kube = config({"prod": ("prod", "prod", {"server": f"{RANCHER}/k8s/clusters/c-m-1",
                                             "certificate-authority-data": "LS0tLS1CRUdJTg=="})})
    assert rancher_ca(kube, RANCHER) == "-----BEGIN"
    assert rancher_ca(kube, "https://other.example.com") == ""


def test_a_relative_ca_file_is_read_beside_its_kubeconfig_wherever_the_command_runs(tmp_path, monkeypatch):
    """client-go resolves a relative certificate-authority against the directory of the file that names it."""
    (tmp_path / "kube").mkdir()
    (tmp_path / "kube" / "prod-ca.pem").write_text("PROD CA")
    (tmp_path / "kube" / "rancher-ca.pem").write_text("RANCHER CA")
    kube = config({"prod": ("prod", "prod", {"server": f"{RANCHER}/k8s/clusters/c-m-1",
                                             "certificate-authority": "rancher-ca.pem"}),
                   "prod-fqdn": ("prod-fqdn", "prod", {"server": "https://prod.example.com",
                                                       "certificate-authority": "prod-ca.pem"})})
    for entry in (*kube.clusters.values(), *kube.contexts.values()):
        entry.path = str(tmp_path / "kube" / "config")
    monkeypatch.chdir(tmp_path)  # not the kubeconfig's directory
    found = rancher_endpoints(kube, "prod-fqdn")
    assert found is not None and found.proxy is not None
    assert (found.proxy.ca_data, found.ace[0].ca_data) == ("RANCHER CA", "PROD CA")
    assert rancher_ca(kube, RANCHER) == "RANCHER CA"


def test_choose_prefers_a_healthy_fqdn_then_the_fastest_healthy_node():
    fqdn, slow, fast = Endpoint("f", "fqdn", "u1"), Endpoint("n1", "node", "u2"), Endpoint("n2", "node", "u3")
    assert choose([fqdn, slow, fast], {"u1": Probe(True), "u2": Probe(True), "u3": Probe(True)}) is fqdn
    results = {"u1": Probe(False), "u2": Probe(True, 90.0), "u3": Probe(True, 5.0)}
    assert choose([fqdn, slow, fast], results) is fast
    assert choose([fqdn], {"u1": Probe(False)}) is None


def test_server_urls_are_checked_once_with_a_clear_reason():
    import pytest

    from kubectl_ace.errors import UsageError
    assert checked_server("Rancher.Example.com:443/") == RANCHER
    assert normalize_server("http://r:80") == "http://r:80"
    for bad in ("", "   ", "ftp://x", "not a url", "https://"):
        with pytest.raises(UsageError):
            checked_server(bad)
