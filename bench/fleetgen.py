"""Generated fleet kubeconfigs as Rancher writes them: per cluster a proxy context, an FQDN context and node contexts.

Used by bench/fleet.py and tests/test_fleet.py. The text is block YAML with comments, as a user's merged file looks.
"""

from __future__ import annotations

import base64
import hashlib

SERVER = "https://rancher.fleet.invalid"


def fake_ca(seed: str) -> str:
    """A PEM-shaped certificate of realistic size (~1.1 KB), base64 as certificate-authority-data holds it."""
    body = b"".join(hashlib.sha512(f"{seed}:{i}".encode()).digest() for i in range(16))
    lines = base64.b64encode(body).decode()
    pem = "-----BEGIN CERTIFICATE-----\n"
    pem += "\n".join(lines[i : i + 64] for i in range(0, len(lines), 64))
    pem += "\n-----END CERTIFICATE-----\n"
    return base64.b64encode(pem.encode()).decode()


def cluster_id(index: int) -> str:
    return f"c-m-{index:08x}"


def fleet_kubeconfig(clusters: int, *, server: str = SERVER, nodes: int = 1, current: str = "",
                     exec_user: bool = True, provide_cluster_info: bool = True) -> str:
    """A kubeconfig for `clusters` clusters: contexts NAME (proxy), NAME-fqdn and NAME-<node> per cluster."""
    out = ["# Merged from Rancher's downloads (kubectl-ace bench fleet)", "apiVersion: v1", "kind: Config",
           "clusters:"]
    users, contexts = ["users:"], ["contexts:"]
    for k in range(clusters):
        name, cid = f"fleet-{k:04d}", cluster_id(k)
        ext = (f"    - name: client.authentication.k8s.io/exec\n      extension:\n        kubectl-ace:\n"
               f"          server: {server}\n          clusterId: {cid}\n")
        out.append(f"- name: {name}\n  cluster:\n    server: \"{server}/k8s/clusters/{cid}\"\n"
                   f"    extensions:\n{ext}          endpoint: proxy")
        ace = [("fqdn", f"https://{name}.fleet.invalid")]
        ace += [(f"node{n}", f"https://10.{k // 250}.{k % 250}.{10 + n}:6443") for n in range(nodes)]
        for suffix, url in ace:  # the extension says the kind of endpoint (urls.KINDS), not its URL
            out.append(f"- name: {name}-{suffix}\n  cluster:\n    server: \"{url}\"\n"
                       f"    certificate-authority-data: \"{fake_ca(name + suffix)}\"\n"
                       f"    extensions:\n{ext}          endpoint: {'fqdn' if suffix == 'fqdn' else 'node'}")
        if exec_user:
            info = "\n      provideClusterInfo: true" if provide_cluster_info else ""
            users.append(f"- name: {name}\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n"
                         f"      command: kubectl-ace\n      args:\n      - token\n      - --server={server}\n"
                         f"      - --cluster={cid}\n      interactiveMode: IfAvailable{info}")
        else:
            users.append(f"- name: {name}\n  user:\n    token: \"kubeconfig-u-fleet{k}:{'x' * 54}\"")
        # Rancher's contexts for one cluster share its user.
        contexts.append(f"- name: {name}\n  context:\n    user: {name}\n    cluster: {name}")
        for suffix, _ in ace:
            contexts.append(f"- name: {name}-{suffix}\n  context:\n    user: {name}\n    cluster: {name}-{suffix}")
    out += users + contexts
    out.append(f"current-context: {current or 'fleet-0000'}")
    return "\n".join(out) + "\n"
