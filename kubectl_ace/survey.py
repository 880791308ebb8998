"""Every endpoint of a cluster probed at once, and the one to use (status, switch, kubectl, doctor)."""

from __future__ import annotations

import os

from kubectl_ace import endpoints, switches
from kubectl_ace.errors import AceError
from kubectl_ace.store import Store


class Report:
    """One Rancher cluster's endpoints, their probe results, and the endpoint to use."""

    def __init__(
        self,
        found: endpoints.ClusterEndpoints,
        rancher,
        results: dict,
        chosen: endpoints.Endpoint | None,
        token_expires: float | None,
        token_error: str,
        token_refused: float | None = None,
    ) -> None:
        self.endpoints = found
        self.rancher = rancher  # health.Result of Rancher's /ping
        self.results = results  # endpoint url -> health.Result
        self.chosen = chosen
        self.token_expires = token_expires
        self.token_error = token_error
        self.token_refused = token_refused  # when the cluster token was last seen refused


def survey(config, context: str, store: Store, settings=None) -> Report | None:
    """Probe Rancher, the proxy and every ACE endpoint of `context`'s cluster in parallel, and choose."""
    from kubectl_ace import health, tokens

    found = endpoints.rancher_endpoints(config, context)
    if found is None:
        return None
    settings = settings or health.Settings()
    token, expires, token_error = None, None, ""
    try:
        cred = tokens.get_token(tokens.Request(found.server, found.cluster_id, store=store))
        token, expires = cred.token, cred.expires
    except AceError as err:
        token_error = err.message
    record = store.read(found.server)
    login = record.login() if record else None
    entry = login.cluster(found.cluster_id) if login else None
    targets = {
        "rancher": health.rancher_target(
            found.server, (record.cacert if record else "") or "", bool(record and record.insecure)
        )
    }
    for endpoint in found.all():
        if endpoint.kind == "proxy":
            target = health.proxy_target(
                found.server, found.cluster_id, token or "", endpoint.ca_data, endpoint.insecure
            )
        else:
            target = health.ace_target(found.cluster_id, endpoint.url, token or "", endpoint.ca_data, endpoint.insecure)
        targets[endpoint.url] = target
    probed = health.refresh(store, found.server, list(targets.values()), settings)
    results = {url: probed[target.key] for url, target in targets.items() if url != "rancher"}
    proxy = found.proxy
    if proxy and results[proxy.url].healthy:
        chosen: endpoints.Endpoint | None = proxy
    else:
        chosen = endpoints.choose(found.ace, results)
    return Report(found, probed["rancher"], results, chosen, expires, token_error, entry.refused_at if entry else None)


def choose_by_user(config, context: str, store: Store) -> None:
    """Make `context` current as the user's own choice: the tool will not switch it back."""
    from kubectl_ace import kubeconfig_files

    config.context(context)
    kubeconfig_files.set_current_context(config, context, store)
    switches.forget(store, [os.path.abspath(f) for f in config.paths])
