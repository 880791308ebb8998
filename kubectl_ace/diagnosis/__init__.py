"""`kubectl ace doctor`'s checks: everything a user could have wrong, each with its status and the fix."""

from __future__ import annotations

import os

from kubectl_ace import kubeconfig_files
from kubectl_ace.diagnosis.findings import FAIL, Check, failed
from kubectl_ace.diagnosis.local import (
    check_kubectl,
    check_kuberc,
    check_plugin,
    check_stanzas,
    check_store,
    rancher_contexts,
)
from kubectl_ace.diagnosis.remote import check_endpoints, check_server
from kubectl_ace.errors import AceError
from kubectl_ace.store import Store

__all__ = ["Check", "failed", "run_all"]


def run_all(explicit_kubeconfig: str | None, store: Store, environ: dict | None = None) -> list[Check]:
    """Every check, in the order a user would fix things."""
    environ = dict(os.environ) if environ is None else environ
    store_check = check_store(store.directory)  # first: the kubectl runs below would repair loose modes
    checks = [check_plugin(environ), check_kubectl(environ), check_kuberc(environ)]
    try:
        config = kubeconfig_files.load(explicit_kubeconfig, environ)
    except AceError as err:
        checks.append(Check("kubeconfig", FAIL, err.message, "fix or move the file, or pass --kubeconfig FILE"))
        config = None
    contexts = rancher_contexts(config) if config else {}
    if config is not None:
        checks += check_stanzas(config, contexts)
    checks.append(store_check)
    try:
        known = store.servers()
    except AceError:
        known = []  # check_store said what is wrong with it
    servers = sorted(set(known) | {where[0] for where in contexts.values()})
    for server in servers:
        checks += check_server(server, store, config, contexts)
    if config is not None:
        checks += check_endpoints(config, contexts, store)
    return checks
