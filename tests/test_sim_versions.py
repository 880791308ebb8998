"""The simulator behaves like each Rancher version 2.12-2.16: ext tokens, the Kubeconfig API, kube-api-auth, removals."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml

from tests.conftest import KUBECTLS, NEWEST
from tests.sim import ClusterSpec, World
from tests.sim.tempdirs import make_temp_dir
from tests.sim.tokens import verify_hash

PROD, EDGE, PLAIN = "c-m-prod0001", "c-m-edge0001", "c-plain1"
CLUSTERS = [ClusterSpec(name="prod", id=PROD, ace="fqdn"),
            ClusterSpec(name="edge", id=EDGE, ace="nodes", nodes=("cp1", "cp2"), workers=("w1",)),
            ClusterSpec(name="plain", id=PLAIN, ace=None)]
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def make_world(tmp_path):
    """Start worlds of chosen versions; every one is stopped at teardown."""
    worlds: list[World] = []

    def make(version: str = "v2.13.0", **kwargs) -> World:
        w = World(clusters=CLUSTERS, users={"admin": "password"}, rancher_version=version,
                  temp_root=str(tmp_path / "sim"), **kwargs)
        worlds.append(w)
        return w.start()

    yield make
    for w in worlds:
        w.stop()


def call(world: World, method: str, path: str, token: str | None = None, **kw) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.request(method, world.rancher_url + path, headers=headers, verify=world.rancher_ca_file,
                            timeout=30, **kw)


def login(world: World) -> str:
    r = call(world, "POST", "/v1-public/login" if world.v1_public else "/v3-public/localProviders/local?action=login",
             json={"type": "localProvider", "username": "admin", "password": "password"})
    assert r.status_code == 201, r.text
    body = r.json()
    return body["status"]["bearerToken"] if body.get("kind") == "Token" else body["token"]


def ext_token(world: World, session: str, cluster_id: str = "", ttl: int = 0) -> requests.Response:
    spec = {"ttl": ttl} | ({"clusterName": cluster_id} if cluster_id else {})
    return call(world, "POST", "/apis/ext.cattle.io/v1/tokens", session,
                json={"apiVersion": "ext.cattle.io/v1", "kind": "Token", "spec": spec})


def kubectl_get(world: World, tmp_path: Path, cluster_id: str, token: str, endpoint: str = "fqdn"):
    """Real kubectl through a cluster's ACE endpoint with a static token."""
    c = world.cluster(cluster_id)
    config = {"apiVersion": "v1", "kind": "Config",
              "clusters": [{"name": "ace", "cluster": {"server": c.endpoint(endpoint).url,
                                                      "certificate-authority": c.ca_file}}],
              "users": [{"name": "u", "user": {"token": token}}],
              "contexts": [{"name": "ace", "context": {"cluster": "ace", "user": "u"}}], "current-context": "ace"}
    path = tmp_path / f"kc-{time.monotonic_ns()}"
    path.write_text(yaml.safe_dump(config))
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    return subprocess.run([KUBECTLS[NEWEST], "--kubeconfig", str(path), "get", "namespaces", "-o", "name"],
                          capture_output=True, text=True, timeout=60, env=env)


# -- ext tokens ---------------------------------------------------------------------------------


def test_ext_token_api_create_once_hashed_get_list_delete(make_world):
    w = make_world("v2.13.0")
    session = login(w)
    r = ext_token(w, session, PROD, ttl=3_600_000)
    assert r.status_code == 201, r.text
    obj = r.json()
    name, value = obj["metadata"]["name"], obj["status"]["value"]
    assert (obj["apiVersion"], obj["kind"]) == ("ext.cattle.io/v1", "Token") and name.startswith("token-")
    assert obj["status"]["bearerToken"] == f"ext/{name}:{value}" and obj["spec"]["clusterName"] == PROD
    assert obj["spec"]["userID"] == w.user_id("admin") and obj["spec"]["enabled"] is True
    assert obj["spec"]["ttl"] == 3_600_000 and obj["status"]["expiresAt"].endswith("Z")
    stored = w._tokens[name]
    assert stored.key == "" and verify_hash(stored.hash, value) and stored.hash.startswith("$3:1:")
    got = call(w, "GET", f"/apis/ext.cattle.io/v1/tokens/{name}", session).json()
    assert "value" not in got["status"] and "bearerToken" not in got["status"]
    steve = call(w, "GET", "/v1/ext.cattle.io.tokens", session).json()
    assert steve["type"] == "collection" and [d["id"] for d in steve["data"]] == [name]
    # The token authenticates at Rancher with or without ext/, only on its own cluster's paths.
    assert call(w, "GET", f"/k8s/clusters/{PROD}/version", obj["status"]["bearerToken"]).status_code == 200
    assert call(w, "GET", f"/k8s/clusters/{EDGE}/version", obj["status"]["bearerToken"]).status_code == 401
    assert call(w, "DELETE", f"/apis/ext.cattle.io/v1/tokens/{name}", session).status_code == 200
    assert call(w, "GET", f"/k8s/clusters/{PROD}/version", obj["status"]["bearerToken"]).status_code == 401


def test_ext_token_ttl_clamped_errors_are_kubernetes_status(make_world):
    w = make_world("v2.14.3")
    w.settings["auth-token-max-ttl-minutes"] = "60"
    w.add_user("bob", "pw")
    session = login(w)
    assert ext_token(w, session, ttl=10 ** 12).json()["spec"]["ttl"] == 3_600_000
    assert ext_token(w, session, ttl=-1).json()["spec"]["ttl"] == 3_600_000
    r = ext_token(w, session, "c-m-nosuch00")
    assert (r.status_code, r.json()["reason"], r.json()["message"]) == (400, "BadRequest", "cluster c-m-nosuch00 not found")
    assert r.json()["kind"] == "Status"
    r = call(w, "GET", "/apis/ext.cattle.io/v1/tokens", "token-nope:bad")
    assert (r.status_code, r.json()["reason"]) == (401, "Unauthorized")
    bob = w.create_token("bob", ext=True)
    mine = ext_token(w, session).json()["metadata"]["name"]
    r = call(w, "GET", f"/apis/ext.cattle.io/v1/tokens/{mine}", bob)
    assert (r.status_code, r.json()["reason"]) == (404, "NotFound")
    assert [t["metadata"]["name"] for t in call(w, "GET", "/apis/ext.cattle.io/v1/tokens", bob).json()["items"]] \
        == [bob.split(":")[0].removeprefix("ext/")]


def test_ext_token_on_2_12_has_no_bearer_token_and_before_2_12_no_api(make_world):
    old = make_world("v2.12.9")
    obj = ext_token(old, login(old), PROD).json()
    assert "value" in obj["status"] and "bearerToken" not in obj["status"]
    older = make_world("v2.11.3")
    assert ext_token(older, login(older)).status_code == 404


# -- kube-api-auth per version, with real kubectl through ACE -----------------------------------


@pytest.mark.parametrize("version, ext_works", [("v2.12.9", False), ("v2.13.6", False), ("v2.13.7", True),
                                                ("v2.14.1", False), ("v2.14.3", True), ("v2.15.0", True)])
def test_which_cluster_tokens_work_at_ace(make_world, tmp_path, version, ext_works):
    w = make_world(version)
    session = login(w)
    v3 = call(w, "POST", "/v3/tokens", session, json={"clusterId": PROD}).json()["token"]
    ext = ext_token(w, session, PROD).json()["status"]
    ext_bearer = ext.get("bearerToken") or f"ext/{w.tokens()[-1]['name']}:{ext['value']}"
    r = kubectl_get(w, tmp_path, PROD, v3)
    assert r.returncode == 0 and "namespace/default" in r.stdout, r.stderr
    r = kubectl_get(w, tmp_path, PROD, ext_bearer)
    if ext_works:
        assert r.returncode == 0, r.stderr
    else:
        assert r.returncode != 0 and ("Unauthorized" in r.stderr or "credentials" in r.stderr), r.stderr
        assert w.counters.unauthorized(f"{PROD}:kube-api-auth") >= 1  # refused by the webhook, not elsewhere
    synced = [t["name"] for t in w.downstream_tokens(PROD)]
    assert (ext_bearer.split(":")[0].removeprefix("ext/") in synced) == (version != "v2.12.9")


# -- the ext Kubeconfig API ---------------------------------------------------------------------


def create_kubeconfig(w: World, session: str, spec: dict, steve: bool = True) -> requests.Response:
    path = "/v1/ext.cattle.io.kubeconfigs" if steve else "/apis/ext.cattle.io/v1/kubeconfigs"
    return call(w, "POST", path, session, json={"apiVersion": "ext.cattle.io/v1", "kind": "Kubeconfig", "spec": spec})


def test_kubeconfig_api_2_14_template_ace_first_v3_tokens(make_world, tmp_path):
    w = make_world("v2.14.3")
    session = login(w)
    r = create_kubeconfig(w, session, {"clusters": [PROD, PLAIN], "ttl": 3600})
    assert r.status_code == 201, r.text
    obj = r.json()
    text = obj["status"]["value"]
    lines = text.splitlines()
    assert lines[0] == "# Generated by Rancher" and lines[1] == f"# name: {obj['metadata']['name']}"
    assert lines[2].startswith("# createdTimestamp: ") and lines[3] == "# ttl: 3600"
    kc = yaml.safe_load(text)
    assert [c["name"] for c in kc["clusters"]] == ["rancher", "prod", "prod-fqdn", "plain"]
    users = {u["name"]: u["user"]["token"] for u in kc["users"]}
    assert set(users) == {"rancher", "prod"} and not users["prod"].startswith("ext/")
    assert {c["name"]: c["context"]["user"] for c in kc["contexts"]} == \
        {"rancher": "rancher", "prod": "prod", "prod-fqdn": "prod", "plain": "rancher"}
    assert kc["current-context"] == "prod-fqdn"  # ACE first
    assert len(obj["status"]["tokens"]) == 2
    scoped = {t["name"]: t["clusterId"] for t in w.tokens() if t["kubeconfig"]}
    assert sorted(scoped.values(), key=str) == sorted([None, PROD], key=str)
    assert kubectl_get(w, tmp_path, PROD, users["prod"]).returncode == 0
    # Deleting the object deletes its tokens (owner references).
    name = obj["metadata"]["name"]
    assert "value" not in call(w, "GET", f"/v1/ext.cattle.io.kubeconfigs/{name}", session).json()["status"]
    assert call(w, "DELETE", f"/apis/ext.cattle.io/v1/kubeconfigs/{name}", session).status_code == 200
    assert not any(t["kubeconfig"] for t in w.tokens())
    w.cluster(PROD).clear_auth_cache()
    assert kubectl_get(w, tmp_path, PROD, users["prod"]).returncode != 0


def test_kubeconfig_api_2_15_ext_tokens_and_include_default_entry(make_world, tmp_path):
    w = make_world("v2.15.0")
    session = login(w)
    kc = yaml.safe_load(create_kubeconfig(w, session, {"clusters": [EDGE]}).json()["status"]["value"])
    assert [c["name"] for c in kc["clusters"]] == ["rancher", "edge", "edge-cp1", "edge-cp2"]
    users = {u["name"]: u["user"]["token"] for u in kc["users"]}
    assert all(t.startswith("ext/token-") for t in users.values())
    assert kc["current-context"] == "edge-cp1"
    assert kubectl_get(w, tmp_path, EDGE, users["edge"], "cp2").returncode == 0
    assert kubectl_get(w, tmp_path, EDGE, users["rancher"], "cp2").returncode != 0  # unscoped: refused at ACE
    kc = yaml.safe_load(create_kubeconfig(w, session, {"clusters": [EDGE], "includeDefaultEntry": False})
                        .json()["status"]["value"])
    assert [u["name"] for u in kc["users"]] == ["edge"] and "rancher" not in [c["name"] for c in kc["clusters"]]
    r = create_kubeconfig(w, session, {"clusters": [EDGE], "ttl": 10 ** 9})
    assert (r.status_code, r.json()["reason"]) == (400, "BadRequest")


def test_kubeconfig_api_first_ready_node_on_2_16_only(make_world):
    for version, current in (("v2.15.0", "edge-cp1"), ("v2.16.0", "edge-cp2")):
        w = make_world(version)
        w.cluster(EDGE).set_node_ready("cp1", False)
        kc = yaml.safe_load(create_kubeconfig(w, login(w), {"clusters": [EDGE]}).json()["status"]["value"])
        assert kc["current-context"] == current, version


@pytest.mark.parametrize("version, broken", [("v2.14.1", True), ("v2.14.2", False)])
def test_kubeconfig_api_exec_users_broken_on_2_14_0_to_2_14_1(make_world, version, broken):
    w = make_world(version)
    w.settings["kubeconfig-generate-token"] = "false"
    kc = yaml.safe_load(create_kubeconfig(w, login(w), {"clusters": [PROD]}).json()["status"]["value"])
    args = {u["name"]: u["user"]["exec"]["args"] for u in kc["users"]}
    if broken:
        assert args["prod"] == ["token", "--server=", "--user=prod"]
    else:
        assert args["prod"] == ["token", f"--server={w.rancher_host}", "--user=prod", f"--cluster={PROD}"]
        assert args["rancher"] == ["token", f"--server={w.rancher_host}", "--user=rancher"]


def test_kubeconfig_api_refuses_an_ext_request_token_while_v3_exists(make_world):
    w = make_world("v2.15.0")
    bearer = w.create_token("admin", ext=True)
    r = create_kubeconfig(w, bearer, {"clusters": [PROD]}, steve=False)
    assert (r.status_code, r.json()["reason"]) == (403, "Forbidden")  # rancher#53948


# -- the future: v3 tokens removed, ext login body, no generateKubeconfig -----------------------


def test_v3_tokens_removed_ext_login_and_v1_logout(make_world, tmp_path):
    w = make_world("v2.16.0", v3_tokens=False, ext_login=True, norman_kubeconfig=False)
    r = call(w, "POST", "/v1-public/login", json={"type": "localProvider", "username": "admin", "password": "password"})
    body = r.json()
    assert r.status_code == 201 and (body["apiVersion"], body["kind"]) == ("ext.cattle.io/v1", "Token")
    session = body["status"]["bearerToken"]
    assert session.startswith("ext/token-") and body["status"]["expiresAt"] and body["spec"]["userID"]
    for method, path in (("POST", "/v3/tokens"), ("GET", "/v3/tokens"), ("DELETE", "/v3/tokens/token-abcde"),
                         ("POST", "/v3/tokens?action=logout")):
        assert call(w, method, path, session).status_code == 404, (method, path)
    r = call(w, "POST", f"/v3/clusters/{PROD}?action=generateKubeconfig", session)
    assert r.status_code == 404 and "generateKubeconfig" not in call(w, "GET", f"/v3/clusters/{PROD}", session).json()["actions"]
    kc = yaml.safe_load(create_kubeconfig(w, session, {"clusters": [PROD]}).json()["status"]["value"])
    assert all(u["user"]["token"].startswith("ext/") for u in kc["users"])
    r = call(w, "POST", "/v1/logout", session)
    assert r.status_code == 200 and "R_SESS=;" in r.headers["Set-Cookie"]
    assert call(w, "GET", "/apis/ext.cattle.io/v1/tokens", session).status_code == 401
    r = call(w, "POST", "/v1/logout", session)
    assert (r.status_code, r.text) == (500, "Internal Server Error\n")
    r = call(w, "POST", "/v1/logout")
    assert (r.status_code, r.text) == (401, "No valid token cookie or auth header\n")


def test_v1_logout_is_2_13_and_later(make_world):
    old = make_world("v2.12.9")
    assert call(old, "POST", "/v1/logout", login(old)).status_code == 404
    w = make_world("v2.13.0")
    session = login(w)
    assert call(w, "POST", "/v1/logout", session).status_code == 200
    assert call(w, "GET", "/v3/tokens", session).status_code == 401


def test_rancherversion_answers_the_version(make_world):
    w = make_world("v2.14.3", rancher_prime=True)
    assert call(w, "GET", "/rancherversion").json() == {"Version": "v2.14.3", "GitCommit": "0a1b2c3d",
                                                         "RancherPrime": "true"}


# -- sync delay ---------------------------------------------------------------------------------


def test_sync_delay_per_cluster_holds_tokens_back(make_world, tmp_path):
    w = make_world("v2.15.0")
    w.set_sync_delay(1.0, PROD)
    started = time.monotonic()
    token = w.create_token("admin", cluster_id=PROD)
    edge_token = w.create_token("admin", cluster_id=EDGE)
    assert w.pending_sync(PROD) and not w.pending_sync(EDGE)
    assert kubectl_get(w, tmp_path, PROD, token).returncode != 0
    assert w.wait_for(lambda: not w.pending_sync(PROD), timeout=10)
    assert time.monotonic() - started >= 1.0
    w.cluster(PROD).clear_auth_cache()
    assert kubectl_get(w, tmp_path, PROD, token).returncode == 0
    assert kubectl_get(w, tmp_path, EDGE, edge_token, "cp1").returncode == 0


# -- faults -------------------------------------------------------------------------------------


def raw_get(world: World, path: str, token: str) -> bytes:
    """Read an answer over a raw TLS socket: headers and whatever body arrives before the close."""
    ctx = ssl.create_default_context(cafile=world.rancher_ca_file)
    host, port = world.rancher_host.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=host) as s:
            s.sendall(f"POST {path} HTTP/1.1\r\nHost: {world.rancher_host}\r\nAuthorization: Bearer {token}\r\n"
                      "Content-Length: 2\r\n\r\n{}".encode())
            data = b""
            while chunk := s.recv(65536):
                data += chunk
    return data


def test_faults_cut_garbage_empty_huge_wrong_type_html(make_world):
    w = make_world()
    session = login(w)
    before = len(w.tokens())
    w.add_fault("cut", "/v3/tokens", "POST", times=1)
    head, _, body = raw_get(w, "/v3/tokens", session).partition(b"\r\n\r\n")
    declared = int([ln.split(b":")[1] for ln in head.split(b"\r\n") if ln.lower().startswith(b"content-length")][0])
    assert 0 < len(body) < declared and len(w.tokens()) == before + 1  # Rancher minted; the answer was cut
    assert call(w, "POST", "/v3/tokens", session, json={}).status_code == 201  # times=1: over
    for kind, check in (("garbage", lambda r: r.content.startswith(b"\x00")), ("empty", lambda r: r.content == b""),
                        ("huge", lambda r: len(r.content) > 16_000_000),
                        ("wrong-type", lambda r: r.json() == ["not", "an", "object"]),
                        ("html", lambda r: r.headers["Content-Type"].startswith("text/html"))):
        w.add_fault(kind, "/v3/clusters", times=1, reach_rancher=False)
        r = call(w, "GET", "/v3/clusters", session)
        assert r.status_code == 200 and check(r), kind
    w.rancher.set_mode("html")
    r = call(w, "GET", f"/k8s/clusters/{PROD}/version", session)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    w.rancher.set_mode("up")
    w.cluster(PROD).endpoint("fqdn").set_html(True)
    r = requests.get(w.cluster(PROD).endpoint("fqdn").url + "/version", verify=w.cluster(PROD).ca_file, timeout=10)
    assert r.status_code == 200 and r.text.startswith("<html>")


# -- admin channel ------------------------------------------------------------------------------


def test_admin_channel_reaches_every_switch(make_world):
    from tests.sim.admin import AdminServer
    w = make_world("v2.14.1")
    admin = AdminServer(w)
    admin.start()
    try:
        post = lambda path, body=None: requests.post(admin.url + path, json=body or {}, timeout=10)  # noqa: E731
        assert post("/switches", {"v3_tokens": False, "ext_login": True, "norman_kubeconfig": False,
                                  "kube_api_auth_strips_ext": True}).ok
        assert (w.v3_tokens, w.ext_login, w.norman_kubeconfig) == (False, True, False)
        assert w.cluster(PROD).kube_api_auth.strip_ext is True
        assert post("/switches", {"nope": True}).status_code == 400
        assert post("/sync-delay", {"seconds": 15, "cluster": PROD}).ok and w.cluster(PROD).sync_delay == 15
        assert post("/fault", {"kind": "garbage", "path": "/v3/clusters", "times": 1}).ok
        assert call(w, "GET", "/v3/clusters", login(w)).content.startswith(b"\x00")
        assert post("/faults/clear").ok and not w._faults
        assert post(f"/cluster/{PROD}/endpoint/fqdn/html", {"on": True}).ok and w.cluster(PROD).endpoint("fqdn").html
        assert post(f"/cluster/{EDGE}/node/cp1", {"ready": False}).ok and w.cluster(EDGE).not_ready == {"cp1"}
        state = requests.get(admin.url + "/state", timeout=10).json()["rancher"]
        assert state["version"] == "v2.14.1" and state["features"]["broken_exec_args"] is True
        w.rancher.set_mode("up")
        kc = create_kubeconfig(w, login(w), {"clusters": [PROD]}).json()
        assert requests.get(admin.url + "/kubeconfigs", timeout=10).json()[0]["metadata"]["name"] == kc["metadata"]["name"]
        assert requests.delete(admin.url + f"/kubeconfig/{kc['metadata']['name']}", timeout=10).ok
        assert w.kubeconfigs() == [] and not any(t["kubeconfig"] for t in w.tokens())
    finally:
        admin.stop()


# -- temp files ---------------------------------------------------------------------------------


def test_killed_simulator_leftovers_are_removed_by_the_next_start(tmp_path):
    root = tmp_path / "tmp"
    root.mkdir()
    env = {**os.environ, "TMPDIR": str(root)}
    proc = subprocess.Popen([sys.executable, "-m", "tests.sim"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (proc.stdout.readline() or "Ctrl-C").startswith("Ctrl-C"):
            pass
        left = [p for p in root.iterdir() if p.name.startswith("rancher-sim-")]
        assert len(left) == 1 and any(left[0].iterdir())
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        proc.stdout.close()
    assert left[0].exists()  # killed: nothing cleaned up
    mine = make_temp_dir(str(root))
    try:
        assert not left[0].exists() and os.path.isdir(mine)
    finally:
        os.rmdir(mine)
