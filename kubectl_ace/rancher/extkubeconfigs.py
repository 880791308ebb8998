"""The ext Kubeconfig API (ext.cattle.io/v1, Rancher 2.12+): create a kubeconfig for clusters, then delete it."""

from __future__ import annotations

from urllib.parse import quote

from kubectl_ace.errors import RancherError
from kubectl_ace.rancher.client import Client
from kubectl_ace.rancher.exttokens import mapping

KUBECONFIGS = "/v1/ext.cattle.io.kubeconfigs"  # Steve's path, as the dashboard uses it


class Created:
    """A Kubeconfig object just created: its name, the file (shown only now) and the tokens it owns."""

    def __init__(self, name: str, value: str, tokens: list[str]) -> None:
        self.name = name
        self.value = value
        self.tokens = tokens


DESCRIPTION = "kubectl-ace onboarding"


def create(client: Client, token: str, cluster_ids: list[str], mark: str = "") -> Created:
    """POST a Kubeconfig for the clusters, without the default entry (honoured from 2.15 on).

    `mark` (the login's marker) goes into the description, which Rancher keeps: logout finds the object by it."""
    description = f"{DESCRIPTION} {mark}" if mark else DESCRIPTION
    body = {
        "apiVersion": "ext.cattle.io/v1",
        "kind": "Kubeconfig",
        "metadata": {"generateName": "kubeconfig-"},
        "spec": {"clusters": cluster_ids, "includeDefaultEntry": False, "description": description},
    }
    answer = client.request("POST", KUBECONFIGS, token=token, body=body, expect=(201, 200))
    obj = mapping(answer.body)
    metadata, status = mapping(obj.get("metadata")), mapping(obj.get("status"))
    name, value = str(metadata.get("name") or obj.get("id") or ""), status.get("value")
    if not name or not isinstance(value, str) or not value.strip():
        raise RancherError(f"{client.server} created a Kubeconfig for {', '.join(cluster_ids)} but sent no file")
    tokens = [str(t) for t in status.get("tokens") or [] if isinstance(t, str)]
    return Created(name, value, tokens)


def delete(client: Client, token: str, name: str) -> bool:
    """DELETE the Kubeconfig (Rancher deletes the tokens it owns); False when Rancher did not know it."""
    answer = client.request(
        "DELETE", f"{KUBECONFIGS}/{quote(name, safe='')}", token=token, expect=(200, 204), allow=(404,)
    )
    return answer.status != 404


def sweep(client: Client, token: str, marks: list[str]) -> int:
    """Delete the user's Kubeconfig objects whose description has one of the marks (a fetch was killed before it
    deleted them); returns how many tokens died with them (one per object when Rancher does not list them)."""
    answer = client.request("GET", KUBECONFIGS, token=token, allow=(403, 404, 405))
    items = answer.body.get("data") or answer.body.get("items") or [] if isinstance(answer.body, dict) else []
    deleted = 0
    for item in items if answer.status == 200 and isinstance(items, list) else []:
        obj = mapping(item)
        description = str(mapping(obj.get("spec")).get("description") or "")
        name = str(mapping(obj.get("metadata")).get("name") or obj.get("id") or "")
        if name and any(mark in description for mark in marks) and delete(client, token, name):
            deleted += len(mapping(obj.get("status")).get("tokens") or []) or 1
    return deleted
