"""The /v3/clusters API: list the clusters a login can see, and have Rancher generate a kubeconfig for one."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from kubectl_ace.errors import RancherError
from kubectl_ace.rancher.client import Client

MAX_PAGES = 100  # a Norman collection pages at 1000 items at most; this bounds a misbehaving server


@dataclass
class Cluster:
    """The parts of a /v3/clusters item that choosing and naming need."""

    id: str
    name: str
    state: str
    ace: bool
    generate: bool = True  # the Norman generateKubeconfig action is offered (gone where Rancher dropped it)

    @property
    def display(self) -> str:
        """Rancher names entries after the display name, or the id when it is empty."""
        return self.name or self.id


def list_clusters(client: Client, token: str) -> list[Cluster]:
    """GET /v3/clusters, following Norman's pagination.next links."""
    found: list[Cluster] = []
    path: str | None = "/v3/clusters"
    for _ in range(MAX_PAGES):
        if path is None:
            break
        body = client.request("GET", path, token=token).body
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise RancherError(
                f"{client.server} answered GET /v3/clusters with something that is not a "
                "cluster collection; is --server the Rancher URL?"
            )
        for item in body["data"]:
            if isinstance(item, dict) and isinstance(item.get("id"), str) and item["id"]:
                ace = item.get("localClusterAuthEndpoint")
                actions = item.get("actions")
                generate = not isinstance(actions, dict) or "generateKubeconfig" in actions
                found.append(
                    Cluster(
                        item["id"],
                        str(item.get("name") or ""),
                        str(item.get("state") or ""),
                        bool(isinstance(ace, dict) and ace.get("enabled")),
                        generate,
                    )
                )
        path = _next_page(client, body)
    return found


def _next_page(client: Client, body: dict) -> str | None:
    """The path of the next page, when the server says there is one on the same server."""
    pagination = body.get("pagination")
    link = pagination.get("next") if isinstance(pagination, dict) else None
    if not isinstance(link, str) or not link:
        return None
    parts = urlsplit(link)
    if parts.netloc and parts.netloc.lower() != urlsplit(client.server).netloc.lower():
        raise RancherError(f"{client.server} sent a next-page link to another host ({parts.netloc}); not following it")
    return parts.path + (f"?{parts.query}" if parts.query else "")


def generate_kubeconfig(client: Client, token: str, cluster_id: str) -> str:
    """POST /v3/clusters/<id>?action=generateKubeconfig; the kubeconfig text Rancher rendered."""
    answer = client.request(
        "POST", f"/v3/clusters/{quote(cluster_id, safe='')}?action=generateKubeconfig", token=token, expect=(200, 201)
    )
    config = answer.body.get("config") if isinstance(answer.body, dict) else None
    if not isinstance(config, str) or not config.strip():
        raise RancherError(f"{client.server} answered generateKubeconfig for {cluster_id} without a kubeconfig")
    return config
