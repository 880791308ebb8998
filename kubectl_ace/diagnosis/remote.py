"""doctor's checks of Rancher: each login, whether Rancher answers, the clock, and every endpoint with its token."""

from __future__ import annotations

import time

from kubectl_ace import connect, endpoints
from kubectl_ace.diagnosis.findings import FAIL, OK, WARN, Check
from kubectl_ace.errors import AceError
from kubectl_ace.output import local_time
from kubectl_ace.store import Store

SKEW_LIMIT = 30.0  # seconds; more and token expiry times drift visibly
LOGIN_WARN = 86400.0  # warn when the login has less than a day left
SURVEY_WORKERS = 8


def check_server(server: str, store: Store, config, contexts: dict) -> list[Check]:
    """The login for a server, whether Rancher answers, and the clock difference to it."""
    from kubectl_ace import health

    checks = []
    relogin = f"kubectl ace login --server {server}"
    try:
        record = store.read(server)
    except AceError as err:
        return [Check("login", FAIL, err.message, relogin)]
    login = record.login() if record else None
    now = time.time()
    if login is None:
        checks.append(Check("login", FAIL, f"not logged in to {server}", relogin))
    elif not login.token:
        checks.append(
            Check(
                "login",
                WARN,
                f"only tokens imported from a kubeconfig for {server}; new ones cannot be made when they expire",
                relogin,
            )
        )
    elif login.expires is not None and login.expires <= now:
        checks.append(
            Check(
                "login", FAIL, f"the login to {server} as {login.label} expired at {local_time(login.expires)}", relogin
            )
        )
    elif login.expires is not None and login.expires - now < LOGIN_WARN:
        checks.append(
            Check(
                "login", WARN, f"the login to {server} as {login.label} expires at {local_time(login.expires)}", relogin
            )
        )
    else:
        checks.append(Check("login", OK, f"{server} as {login.label}, valid until {local_time(login.expires)}"))
    trust = connect.trust_for(record, proxy_ca=endpoints.rancher_ca(config, server) if config else "")
    ca, insecure = trust.cacert or "", trust.insecure
    result = health.probe(health.rancher_target(server, ca, insecure), health.Settings())
    if not result.healthy:
        fix = "check the network, VPN and HTTPS_PROXY/NO_PROXY; " + meanwhile(server, contexts)
        checks.append(Check("Rancher", FAIL, f"{server}/ping: {result.describe()}", fix))
        return checks
    checks.append(Check("Rancher", OK, f"{server} answers ({result.latency_ms:.0f} ms)"))
    checks.append(check_clock(server, trust, store))
    return checks


def enable_ace(whose: str) -> str:
    return (
        f"enable {whose} Authorized Cluster Endpoint in Rancher (the cluster's Edit Config, Networking), "
        "then fetch the contexts again: kubectl ace kubeconfig --all --merge"
    )


def meanwhile(server: str, contexts: dict) -> str:
    """What works while Rancher is down: the ACE contexts, for the clusters that have one (never advice that fails)."""
    clusters = {cluster for where, cluster, _ in contexts.values() if where == server}
    with_ace = {cluster for where, cluster, kind in contexts.values() if where == server and kind != "proxy"}
    if not clusters:
        return "kubectl cannot reach clusters through it meanwhile"
    if not with_ace:
        return "no cluster of it has an ACE context to fall back on: " + enable_ace("each cluster's")
    without = sorted(clusters - with_ace)
    if not without:
        return "meanwhile the ACE contexts work (kubectl ace switch --ace)"
    return (
        f"meanwhile the ACE contexts of {', '.join(sorted(with_ace))} work (kubectl ace switch --ace); "
        f"{', '.join(without)} have none: {enable_ace('their')}"
    )


def check_clock(server: str, trust: connect.Trust, store: Store) -> Check:
    """Token expiry is Rancher's clock; a skewed local clock makes tokens look fresh when they are not."""
    try:
        answer = connect.rancher_client(store, server, trust, (3.0, 5.0)).request(
            "GET", "/ping", expect=(), allow=(200, 204, 401, 404)
        )
    except AceError as err:
        return Check("clock", WARN, f"could not compare clocks with {server}: {err.message}", "")
    if not answer.headers.get("Date"):
        return Check("clock", WARN, f"{server} sent no Date header to compare clocks with", "")
    offset = answer.server_time_offset()
    if abs(offset) > SKEW_LIMIT:
        side = "behind" if offset > 0 else "ahead of"
        return Check(
            "clock",
            WARN,
            f"this machine's clock is {abs(offset):.0f} s {side} Rancher's at {server}",
            "sync the clock (NTP: timedatectl set-ntp true, or the OS's time settings)",
        )
    return Check("clock", OK, f"within {max(abs(offset), 1):.0f} s of {server}")


# --- every endpoint, with the token ---


def check_endpoints(config, contexts: dict, store: Store) -> list[Check]:
    """Probe the proxy and every ACE endpoint of each Rancher cluster with its token (survey)."""
    from concurrent.futures import ThreadPoolExecutor

    from kubectl_ace import survey

    picked = endpoints.rancher_contexts(config)
    if not picked:
        return []

    def one(found):
        try:
            return survey.survey_many([found], store, mint=True)[0]
        except AceError as err:
            return err

    clusters = endpoints.all_rancher_endpoints(config)  # one pass over the contexts, in rancher_contexts' order
    with ThreadPoolExecutor(max_workers=min(SURVEY_WORKERS, len(picked))) as pool:
        reports = list(pool.map(one, clusters))
    checks = []
    for name, report in zip(picked, reports):
        if isinstance(report, AceError):
            checks.append(Check("endpoints", FAIL, f"context {name}: {report.message}", ""))
            continue
        if report is None:
            continue
        server = report.endpoints.server
        if report.token_error:
            fix = (  # a login cannot help while Rancher does not answer
                f"kubectl ace login --server {server}"
                if report.rancher.reachable
                else "wait for Rancher: the token is minted from the login once it answers"
            )
            checks.append(Check("token", FAIL, f"cluster {report.endpoints.cluster_id}: {report.token_error}", fix))
            continue
        for endpoint in report.endpoints.all():
            result = report.results[endpoint.url]
            label = "proxy" if endpoint.kind == "proxy" else f"ACE {endpoint.kind}"
            what = f"{endpoint.context} ({label} {endpoint.url})"
            if result.healthy:
                checks.append(Check("endpoint", OK, f"{what} accepts the token ({result.latency_ms:.0f} ms)"))
            elif result.auth_problem:
                checks.append(
                    Check(
                        "endpoint",
                        FAIL,
                        f"{what} refuses the token ({result.describe()})",
                        f"log in again (kubectl ace login --server {server}); if it persists, check the "
                        "user's access to the cluster in Rancher",
                    )
                )
            elif endpoint.kind == "proxy":
                checks.append(
                    Check(
                        "endpoint",
                        FAIL,
                        f"{what}: {result.describe()}",
                        "check that Rancher and the cluster agent are up; "
                        + (
                            "meanwhile use ACE: kubectl ace switch --ace"
                            if report.endpoints.ace
                            else f"the cluster has no ACE context to fall back on: {enable_ace('its')}"
                        ),
                    )
                )
            else:
                checks.append(
                    Check(
                        "endpoint",
                        FAIL,
                        f"{what}: {result.describe()}",
                        "check the network path to the endpoint and that the node's API server runs; "
                        "failover cannot use it meanwhile",
                    )
                )
    return checks
