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
        readiness=None,
    ) -> None:
        self.endpoints = found
        self.rancher = rancher  # health.Result of Rancher's /ping
        self.results = results  # endpoint url -> health.Result
        self.chosen = chosen
        self.token_expires = token_expires
        self.token_error = token_error
        self.token_refused = token_refused  # when the cluster token was last seen refused
        self.readiness = readiness  # readiness.Outcome, from what the store holds


def survey(config, context: str, store: Store, settings=None, mint: bool = True) -> Report | None:
    """Probe Rancher, the proxy and every ACE endpoint of `context`'s cluster in parallel, and choose."""
    found = endpoints.rancher_endpoints(config, context)
    if found is None:
        return None
    return survey_many([found], store, settings, mint)[0]


def survey_many(clusters: list, store: Store, settings=None, mint: bool = False) -> list[Report]:
    """Probe every endpoint of every cluster (endpoints.ClusterEndpoints) at once, within one probe budget.

    With mint, a token is got as kubectl would (which may mint); without, only the token the store holds is used,
    and nothing is written to Rancher (status is read-only).
    """
    from kubectl_ace import health, readiness, tokens

    settings = settings or health.Settings()
    plans, targets, servers = [], [], {}
    for found in clusters:
        token, expires, token_error = None, None, ""
        record = store.read(found.server)
        if mint:
            try:
                cred = tokens.get_token(tokens.Request(found.server, found.cluster_id, store=store))
                token, expires = cred.token, cred.expires
            except AceError as err:
                token_error = err.message
            record = store.read(found.server)
        login = record.login() if record else None
        entry = login.cluster(found.cluster_id) if login else None
        if not mint:
            token = entry.token if entry else None
            expires = entry.expires if entry else None
            token_error = "" if entry else ("no cluster token held" if login else "not logged in")
        mine = {}
        if found.server not in servers:
            rancher = health.rancher_target(
                found.server, (record.cacert if record else "") or "", bool(record and record.insecure)
            )
            servers[found.server] = rancher
            targets.append((found.server, rancher))
        for endpoint in found.all():
            if endpoint.kind == "proxy":
                target = health.proxy_target(
                    found.server, found.cluster_id, token or "", endpoint.ca_data, endpoint.insecure
                )
            else:
                target = health.ace_target(
                    found.cluster_id, endpoint.url, token or "", endpoint.ca_data, endpoint.insecure
                )
            mine[endpoint.url] = target
            targets.append((found.server, target))
        plans.append((found, mine, expires, token_error, entry, readiness.held(store, found, record=record)))
    # One round for all: keys made unique per server, so that `status --all` costs about one probe timeout.
    unique = {f"{i}|{t.key}": (server, t) for i, (server, t) in enumerate(targets)}
    renamed = []
    for key, (_, target) in unique.items():
        copy = health.Target(key, target.url, target.path, target.token, target.ca_pem, target.insecure, target.expect)
        renamed.append(copy)
    probed = health.probe_all(renamed, settings)
    by_server: dict = {}
    for key, (server, target) in unique.items():
        by_server.setdefault(server, {})[target.key] = probed[key]
    for server, results in by_server.items():
        health.remember(store, server, results)
    reports = []
    for found, mine, expires, token_error, entry, ready in plans:
        known = by_server[found.server]
        results = {url: known[target.key] for url, target in mine.items()}
        proxy = found.proxy
        if proxy and results[proxy.url].healthy:
            chosen: endpoints.Endpoint | None = proxy
        else:
            chosen = endpoints.choose(found.ace, results)
        rancher = known["rancher"]
        refused = entry.refused_at if entry else None
        reports.append(Report(found, rancher, results, chosen, expires, token_error, refused, ready))
    return reports


def choose_by_user(config, context: str, store: Store) -> None:
    """Make `context` current as the user's own choice: the tool will not switch it back."""
    from kubectl_ace import kubeconfig_files

    config.context(context)
    kubeconfig_files.set_current_context(config, context, store)
    switches.forget(store, [os.path.abspath(f) for f in config.paths])
