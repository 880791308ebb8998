"""Onboarding end to end: `kubectl ace kubeconfig`, `kubectl ace convert` and `kubectl ace doctor` against the
simulated Rancher, with the real kubectl going through every proxy and ACE context afterwards."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import time

import pytest
import requests
import yaml

from kubectl_ace.onboarding.adoption import user_from_name
from kubectl_ace.onboarding.conversion import convert_data
from kubectl_ace.errors import InputError
from tests.conftest import OLDEST, PASSWORD, Sandbox
from tests.sim import ClusterSpec, World

PROD, EDGE, PLAIN = "c-m-prod0001", "c-m-edge0001", "c-plain1"
CONTEXTS = {PROD: ["prod", "prod-fqdn"], EDGE: ["edge", "edge-cp1", "edge-cp2"], PLAIN: ["plain"]}
EXEC_V1 = "client.authentication.k8s.io/v1"


def download(world: World, cluster_id: str, *, token: bool = True, escape: bool = False) -> str:
    """A kubeconfig as the Rancher UI's download button gets it (≤ 2.11 escaping when `escape`)."""
    world.settings["kubeconfig-generate-token"] = "true" if token else "false"
    world.html_escape_kubeconfig = escape
    api_key = world.create_token("admin")  # the UI's session; not counted as a mint
    answer = requests.post(f"{world.rancher_url}/v3/clusters/{cluster_id}?action=generateKubeconfig",
                           headers={"Authorization": "Bearer " + api_key}, verify=str(world.rancher_ca_file),
                           timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["config"]


def kubectl_works(sandbox: Sandbox, contexts: list[str], version=None) -> None:
    for context in contexts:
        result = sandbox.kubectl("get", "namespaces", "--context", context, version=version)
        assert result.returncode == 0, (context, result.stderr)
        assert "kube-system" in result.stdout


def users_of(path) -> dict:
    return {u["name"]: u["user"] for u in yaml.safe_load(path.read_text())["users"]}


def assert_no_secrets(sandbox: Sandbox, *texts: str) -> None:
    """No token secret from the store (or any given) appears in the texts or in the kubeconfig."""
    secrets = sandbox.stored_secrets()
    kubeconfig = sandbox.kubeconfig.read_text() if sandbox.kubeconfig.exists() else ""
    for text in (*texts, kubeconfig):
        for secret in secrets:
            assert secret not in text


def backups(sandbox: Sandbox) -> list:
    return sorted(sandbox.kubeconfig.parent.glob(sandbox.kubeconfig.name + ".bak-*"))


def generated_tokens_left(world: World, before: set[str]) -> list[str]:
    """Tokens made since `before` other than the ones kubectl-ace minted for itself."""
    return [t["name"] for t in world.tokens()
            if t["name"] not in before and not t["description"].startswith("kubectl-ace")]


# --- kubectl ace kubeconfig ---

def test_kubeconfig_all_merge_then_kubectl_works_everywhere(logged_in, world):
    before = {t["name"] for t in world.tokens()}
    result = logged_in.ace("kubeconfig", "--all", "--merge")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    users = users_of(logged_in.kubeconfig)
    assert set(users) == {"prod", "edge", "plain"}
    for name, user in users.items():
        assert "token" not in user
        assert user["exec"]["command"] == "kubectl-ace"
        assert user["exec"]["apiVersion"] == EXEC_V1
        assert user["exec"]["interactiveMode"] == "IfAvailable" and user["exec"]["provideClusterInfo"] is True
    assert not generated_tokens_left(world, before), "the tokens in the generated files must be revoked"
    for cluster_id, contexts in CONTEXTS.items():
        kubectl_works(logged_in, contexts)
    kubectl_works(logged_in, ["prod-fqdn", "edge-cp2"], version=OLDEST)
    assert_no_secrets(logged_in, result.stderr)
    data = yaml.safe_load(logged_in.kubeconfig.read_text())
    extension = {c["name"]: c["cluster"]["extensions"][0]["extension"]["kubectl-ace"] for c in data["clusters"]}
    assert extension["prod"] == {"server": world.rancher_url, "clusterId": PROD, "endpoint": "proxy"}
    assert extension["prod-fqdn"]["endpoint"] == "fqdn" and extension["edge-cp1"]["endpoint"] == "node"
    assert data["current-context"] == "prod"


def test_kubeconfig_merge_updates_entries_where_they_are_and_adds_to_the_default_file(logged_in, world):
    first, second = logged_in.root / "first.yaml", logged_in.root / "second.yaml"
    first.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "current-context": "mine",
                                     "clusters": [{"name": "mine", "cluster": {"server": "https://10.9.9.9"}}],
                                     "users": [{"name": "me", "user": {"token": "not-rancher"}}],
                                     "contexts": [{"name": "mine", "context": {"cluster": "mine", "user": "me"}}]}))
    second.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "clusters": [
        {"name": "prod", "cluster": {"server": "https://old.example.com/k8s/clusters/c-old",
                                     "extensions": [{"name": "other/ext", "extension": {"a": 1}}]}}],
        "users": [], "contexts": []}))
    env = {"KUBECONFIG": f"{first}{os.pathsep}{second}"}
    result = logged_in.ace("kubeconfig", "prod", PLAIN, "--merge", env=env)
    assert result.returncode == 0, result.stderr
    one, two = yaml.safe_load(first.read_text()), yaml.safe_load(second.read_text())
    assert [c["name"] for c in two["clusters"]] == ["prod"]  # updated in place, not duplicated
    assert two["clusters"][0]["cluster"]["server"] == world.cluster(PROD).proxy_url
    assert {"name": "other/ext", "extension": {"a": 1}} in two["clusters"][0]["cluster"]["extensions"]
    assert {c["name"] for c in one["clusters"]} == {"mine", "prod-fqdn", "plain"}
    assert one["current-context"] == "mine"  # the user's choice stays
    again = logged_in.ace("kubeconfig", "prod", PLAIN, "--merge", env=env)
    assert again.returncode == 0, again.stderr
    assert yaml.safe_load(first.read_text()) == one and yaml.safe_load(second.read_text()) == two
    logged_in.env.update(env)
    kubectl_works(logged_in, ["prod", "prod-fqdn", "plain"])


def test_kubeconfig_prints_to_stdout_by_name_and_id(logged_in, world):
    result = logged_in.ace("kubeconfig", "edge", PLAIN)
    assert result.returncode == 0, result.stderr
    data = yaml.safe_load(result.stdout)
    assert [c["name"] for c in data["contexts"]] == ["edge", "edge-cp1", "edge-cp2", "plain"]
    assert not logged_in.kubeconfig.exists()
    assert_no_secrets(logged_in, result.stdout, result.stderr)
    unknown = logged_in.ace("kubeconfig", "nope")
    assert unknown.returncode != 0 and "no cluster 'nope'" in unknown.stderr and "prod" in unknown.stderr
    neither = logged_in.ace("kubeconfig")
    assert neither.returncode == 2 and "--all" in neither.stderr


def test_kubeconfig_needs_a_login(sandbox, world):
    result = sandbox.ace("kubeconfig", "--all", "--server", world.rancher_url)
    assert result.returncode != 0
    assert f"kubectl ace login --server {world.rancher_url}" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_two_hundred_clusters_in_one_call(tmp_path):
    specs = [ClusterSpec(name="big-fqdn", id="c-m-bigfqdn1", ace="fqdn"),
             ClusterSpec(name="big-nodes", id="c-m-bignode1", ace="nodes", nodes=("cp1", "cp2"))]
    specs += [ClusterSpec(name=f"estate-{i:03d}", id=f"c-m-{i:08d}") for i in range(198)]
    with World(clusters=specs, users={"admin": PASSWORD}) as world:
        sandbox = Sandbox(tmp_path, world)
        sandbox.login()
        before = {t["name"] for t in world.tokens()}
        out = tmp_path / "estate.yaml"
        result = sandbox.ace("kubeconfig", "--all", "-o", str(out), timeout=120)
        assert result.returncode == 0, result.stderr
        data = yaml.safe_load(out.read_text())
        assert len(data["users"]) == 200 and len(data["contexts"]) == 203
        assert not generated_tokens_left(world, before)
        assert stat.S_IMODE(out.stat().st_mode) == 0o600
        assert "\r" not in result.stderr  # progress only on a terminal
        sandbox.env["KUBECONFIG"] = str(out)
        kubectl_works(sandbox, ["big-fqdn-fqdn", "big-nodes-cp2", "estate-197"])


# --- kubectl ace convert: each kind of file Rancher hands out ---

KINDS = [(token, escape) for token in (True, False) for escape in (False, True)]


@pytest.mark.parametrize("token,escape", KINDS, ids=[f"{'token' if t else 'rancher-token'}-{'2.11' if e else '2.12'}"
                                                     for t, e in KINDS])
def test_downloaded_files_convert_and_work(tmp_path, token, escape):
    # Base64 of PEM text never holds '+', so names with characters html/template escapes make ≤ 2.11's
    # escaping show (Rancher display names may hold them; the contexts are named after them).
    names = {PROD: "prod+1", EDGE: "edge&lab", PLAIN: "plain's"} if escape else {PROD: "prod", EDGE: "edge",
                                                                                 PLAIN: "plain"}
    specs = [ClusterSpec(name=names[PROD], id=PROD, ace="fqdn"),
             ClusterSpec(name=names[EDGE], id=EDGE, ace="nodes", nodes=("cp1", "cp2")),
             ClusterSpec(name=names[PLAIN], id=PLAIN, ace=None)]
    with World(clusters=specs, users={"admin": PASSWORD}, rancher_version="v2.11.3" if escape else "v2.13.0") as world:
        sandbox = Sandbox(tmp_path, world)
        sandbox.login()
        for cluster_id in (PROD, EDGE, PLAIN):
            text = download(world, cluster_id, token=token, escape=escape)
            assert ("&#43;" in text or "&amp;" in text or "&#39;" in text) == escape
            sandbox.kubeconfig.write_text(text)
            mints = world.counters.mints(cluster_id)
            result = sandbox.ace("convert")
            assert result.returncode == 0, result.stderr
            converted = sandbox.kubeconfig.read_text()
            assert "token:" not in converted and "&#" not in converted and "&amp;" not in converted
            user = users_of(sandbox.kubeconfig)[names[cluster_id]]["exec"]
            assert user["command"] == "kubectl-ace"
            assert user["args"] == ["token", f"--server={world.rancher_url}", f"--cluster={cluster_id}"]
            assert user["installHint"].startswith("kubectl-ace is needed")
            contexts = [names[cluster_id] + context[len(context.split("-")[0]):] for context in CONTEXTS[cluster_id]]
            assert sandbox.current_context() == names[cluster_id]
            kubectl_works(sandbox, contexts)
            if token:
                # The token from the file went into the store: kubectl needed no new one.
                assert world.counters.mints(cluster_id) == mints
                backup = backups(sandbox)[-1].read_text()
                assert "moved-to-the-kubectl-ace-token-store" in backup and yaml.safe_load(backup)
            assert_no_secrets(sandbox, result.stderr, *(b.read_text() for b in backups(sandbox)))
            for backup in backups(sandbox):
                backup.unlink()


def test_converted_token_works_without_any_login(sandbox, world):
    """A downloaded file is all some users have: its token is enough, no login is needed first."""
    for cluster_id in (PROD, PLAIN):
        sandbox.kubeconfig.write_text(download(world, cluster_id))
        result = sandbox.ace("convert", "-f", str(sandbox.kubeconfig))
        assert result.returncode == 0, result.stderr
        kubectl_works(sandbox, CONTEXTS[cluster_id])
    assert world.counters.logins() == 0
    record = sandbox.stored()
    login = record["logins"][record["current_user"]]
    assert login["origin"] == "imported" and login["token"] == ""
    assert login["user_id"] == world.user_id("admin")
    assert set(login["clusters"]) == {PROD, PLAIN}
    assert login["clusters"][PLAIN]["expires"] is not None  # an unscoped token could tell its expiry


def test_convert_keeps_unrelated_entries_and_is_idempotent(logged_in, world):
    rancher = yaml.safe_load(download(world, PROD))
    other = {"clusters": [{"name": "eks", "cluster": {"server": "https://eks.example.com",
                                                      "certificate-authority-data": "QUJD"}},
                          {"name": "kind", "cluster": {"server": "https://127.0.0.1:6443",
                                                       "insecure-skip-tls-verify": True}}],
             "users": [{"name": "aws", "user": {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1",
                                                         "command": "aws", "args": ["eks", "get-token"]}}},
                       {"name": "kind-admin", "user": {"token": "abc:def"}},
                       {"name": "cert", "user": {"client-certificate-data": "Q0VSVA==",
                                                 "client-key-data": "S0VZ"}}],
             "contexts": [{"name": "eks", "context": {"cluster": "eks", "user": "aws", "namespace": "x"}},
                          {"name": "kind", "context": {"cluster": "kind", "user": "kind-admin"}},
                          {"name": "kind-cert", "context": {"cluster": "kind", "user": "cert"}}]}
    mixed = {"apiVersion": "v1", "kind": "Config", "preferences": {"colors": True},
             "clusters": other["clusters"][:1] + rancher["clusters"] + other["clusters"][1:],
             "users": other["users"][:1] + rancher["users"] + other["users"][1:],
             "contexts": rancher["contexts"] + other["contexts"], "current-context": "kind"}
    logged_in.write_kubeconfig(mixed)
    result = logged_in.ace("convert")
    assert result.returncode == 0, result.stderr
    after = yaml.safe_load(logged_in.kubeconfig.read_text())
    for key in ("clusters", "users", "contexts"):
        unrelated = [e for e in after[key] if e["name"] in {x["name"] for x in other[key]}]
        assert unrelated == [e for e in mixed[key] if e in other[key]]
    assert after["preferences"] == {"colors": True} and after["current-context"] == "kind"
    assert [c["name"] for c in after["clusters"]] == [c["name"] for c in mixed["clusters"]]
    assert len(backups(logged_in)) == 1
    text, mode = logged_in.kubeconfig.read_bytes(), logged_in.kubeconfig.stat().st_mode
    again = logged_in.ace("convert")
    assert again.returncode == 0, again.stderr
    assert "nothing changed" in again.stderr
    assert logged_in.kubeconfig.read_bytes() == text and logged_in.kubeconfig.stat().st_mode == mode
    assert len(backups(logged_in)) == 1
    kubectl_works(logged_in, ["prod", "prod-fqdn"])


def test_convert_follows_the_kubeconfig_kubectl_uses_and_keeps_the_mode(logged_in, world):
    original = download(world, EDGE, token=False)
    logged_in.kubeconfig.write_text(original)
    os.chmod(logged_in.kubeconfig, 0o640)
    result = logged_in.ace("convert")
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(logged_in.kubeconfig.stat().st_mode) == 0o640
    (backup,) = backups(logged_in)
    assert stat.S_IMODE(backup.stat().st_mode) == 0o640  # it holds no token: same mode as the file
    assert backup.read_text() == original
    kubectl_works(logged_in, CONTEXTS[EDGE])


BAD_FILES = {
    "not-yaml": "apiVersion: v1\nclusters: [\n  - name: x\n",
    "a-list": "- just\n- a list\n",
    "not-a-kubeconfig": "foo: bar\n",
    "a-pod": "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nclusters: []\n",
    "unknown-exec": None,
    "context-without-cluster-entry": None,
    "rancher-token-without-server": None,
    "entry-without-name": None,
    "empty-token": None,
}


def bad_file(kind: str, world: World) -> str:
    if BAD_FILES[kind] is not None:
        return BAD_FILES[kind]
    data = yaml.safe_load(download(world, PROD, token=kind != "rancher-token-without-server"))
    if kind == "unknown-exec":
        data["users"][0]["user"] = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1",
                                             "command": "my-rancher-login", "args": ["get"]}}
    elif kind == "context-without-cluster-entry":
        data["clusters"] = data["clusters"][:1]
    elif kind == "rancher-token-without-server":
        data["users"][0]["user"]["exec"]["args"] = ["token", "--user=prod"]
        data["clusters"][0]["cluster"]["server"] = "https://10.1.1.1:6443"  # no proxy entry to learn it from
        data["contexts"] = data["contexts"][:1]
    elif kind == "entry-without-name":
        del data["contexts"][1]["name"]
    elif kind == "empty-token":
        data["users"][0]["user"]["token"] = ""
    return yaml.safe_dump(data, sort_keys=False)


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_bad_files_get_one_clear_line_and_stay_untouched(logged_in, world, kind):
    text = bad_file(kind, world)
    logged_in.kubeconfig.write_text(text)
    before = logged_in.kubeconfig.read_bytes()
    result = logged_in.ace("convert", "-f", str(logged_in.kubeconfig))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kubectl-ace: error: "), result.stderr
    assert str(logged_in.kubeconfig) in lines[0] and "Traceback" not in result.stderr
    assert logged_in.kubeconfig.read_bytes() == before
    assert not backups(logged_in)


def test_convert_rancher_token_args_fqdn_without_port_and_nodes():
    """Shapes the simulator cannot serve: a real FQDN without a port, nodes on :6443, carried-over flags."""
    config = {"apiVersion": "v1", "kind": "Config",
              "clusters": [{"name": "prod",
                            "cluster": {"server": "https://rancher.example.com/k8s/clusters/c-m-abcd1234"}},
                           {"name": "prod-fqdn", "cluster": {"server": "https://prod.example.com"}},
                           {"name": "lab", "cluster": {"server": "https://rancher.example.com:8443/k8s/clusters/c-x1"}},
                           {"name": "lab-cp1", "cluster": {"server": "https://10.0.0.11:6443"}},
                           {"name": "lab-fqdn", "cluster": {"server": "https://lab.example.com:6443"}}],
              "users": [{"name": "prod", "user": {"exec": {
                  "apiVersion": "client.authentication.k8s.io/v1beta1", "command": "rancher",
                  "args": ["token", "--server=rancher.example.com", "--user=prod", "--cluster=c-m-abcd1234",
                           "--cacerts", "/etc/rancher-ca.pem", "--skip-verify", "--auth-provider=openLdapProvider"]}}},
                  {"name": "lab", "user": {"token": "kubeconfig-u-abcdefghij.c-x1zzzzz:secret"}}],
              "contexts": [{"name": n, "context": {"cluster": n, "user": n.split("-")[0]}}
                           for n in ("prod", "prod-fqdn", "lab", "lab-cp1", "lab-fqdn")],
              "current-context": "prod"}
    conversion = convert_data(config, "test")
    data = conversion.data
    users = {u["name"]: u["user"]["exec"] for u in data["users"]}
    assert users["prod"]["args"] == ["token", "--server=https://rancher.example.com", "--cluster=c-m-abcd1234",
                                     "--cacerts=/etc/rancher-ca.pem", "--auth-provider=openLdapProvider",
                                     "--skip-verify"]
    assert users["lab"]["args"] == ["token", "--server=https://rancher.example.com:8443", "--cluster=c-x1"]
    marks = {c["name"]: c["cluster"]["extensions"][0]["extension"]["kubectl-ace"] for c in data["clusters"]}
    assert marks["prod-fqdn"] == {"server": "https://rancher.example.com", "clusterId": "c-m-abcd1234",
                                  "endpoint": "fqdn"}
    assert marks["lab-cp1"]["endpoint"] == "node" and marks["lab-fqdn"]["endpoint"] == "fqdn"
    assert marks["lab"] == {"server": "https://rancher.example.com:8443", "clusterId": "c-x1", "endpoint": "proxy"}
    (found,) = conversion.found
    assert (found.server, found.cluster_id, found.name) == ("https://rancher.example.com:8443", "c-x1",
                                                            "kubeconfig-u-abcdefghij.c-x1zzzzz")
    assert user_from_name(found.name) == "u-abcdefghij"
    assert "secret" not in repr(found)
    assert convert_data(data, "test").changed is False
    with pytest.raises(InputError):
        convert_data({"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [],
                              "contexts": [{"context": {}}]}, "test")


def test_html_escaped_names_are_unescaped_consistently():
    config = {"apiVersion": "v1", "kind": "Config",
              "clusters": [{"name": "a&#43;b", "cluster": {"server": "https://r.example.com/k8s/clusters/c-1",
                                                           "certificate-authority-data": "QU&#43;="}}],
              "users": [{"name": "a&#43;b", "user": {"token": "kubeconfig-u-x.c-1abcde:s"}}],
              "contexts": [{"name": "a&#43;b", "context": {"user": "a&#43;b", "cluster": "a&#43;b"}}],
              "current-context": "a&#43;b"}
    data = convert_data(config, "test").data
    assert data["current-context"] == "a+b"
    assert data["contexts"] == [{"name": "a+b", "context": {"user": "a+b", "cluster": "a+b"}}]
    assert data["clusters"][0]["cluster"]["certificate-authority-data"] == "QU+="


# --- kubectl ace doctor ---

def doctor(sandbox: Sandbox, env: dict | None = None, program: str = "kubectl-ace"):
    from tests.conftest import run
    result = run([program, "doctor", "-o", "json"], env={**sandbox.env, **(env or {})}, timeout=90,
                 stdin=subprocess.DEVNULL)
    assert result.stdout, result.stderr
    return result, json.loads(result.stdout)["checks"]


def finding(checks: list[dict], check: str, text: str = "") -> dict:
    hits = [c for c in checks if c["check"] == check and c["status"] != "ok" and text in c["detail"]]
    assert hits, [c for c in checks if c["status"] != "ok"] or checks
    assert hits[0]["fix"], hits[0]
    return hits[0]


@pytest.fixture
def healthy(logged_in, world):
    assert logged_in.ace("kubeconfig", "--all", "--merge").returncode == 0
    return logged_in


def test_doctor_is_quiet_when_all_is_well(healthy):
    result, checks = doctor(healthy)
    assert result.returncode == 0, [c for c in checks if c["status"] != "ok"]
    assert all(c["status"] == "ok" for c in checks), [c for c in checks if c["status"] != "ok"]
    assert {"kubectl-ace on PATH", "kubectl", "kuberc", "exec users", "token store", "login", "Rancher",
            "clock", "endpoint"} <= {c["check"] for c in checks}
    table = healthy.ace("doctor")
    assert table.returncode == 0 and "Everything looks right" in table.stdout
    assert_no_secrets(healthy, result.stdout, table.stdout)


def test_doctor_finds_the_plugin_and_kubectl_missing_from_path(healthy):
    program = shutil.which("kubectl-ace")
    result, checks = doctor(healthy, env={"PATH": "/nonexistent"}, program=program)
    assert result.returncode == 1
    assert "PATH" in finding(checks, "kubectl-ace on PATH")["fix"]
    assert "install kubectl" in finding(checks, "kubectl", "not on PATH")["fix"]


def test_doctor_finds_bad_exec_stanzas(healthy, world):
    healthy.kubeconfig.write_text(download(world, PROD, token=False))
    result, checks = doctor(healthy)
    assert result.returncode == 1
    assert "kubectl ace convert" in finding(checks, "exec user", "rancher token")["fix"]
    healthy.exec_kubeconfig(PROD)
    data = yaml.safe_load(healthy.kubeconfig.read_text())
    data["users"][0]["user"]["exec"]["provideClusterInfo"] = False
    del data["users"][0]["user"]["exec"]["interactiveMode"]
    healthy.write_kubeconfig(data)
    result, checks = doctor(healthy)
    assert "interactiveMode" in finding(checks, "exec user", "no interactiveMode")["fix"]
    assert finding(checks, "exec user", "provideClusterInfo")["status"] == "warn"


def test_doctor_finds_an_open_token_store(healthy):
    os.chmod(healthy.store, 0o755)
    result, checks = doctor(healthy)
    assert result.returncode == 1
    assert "chmod" in finding(checks, "token store", "0755")["fix"]


def test_doctor_finds_a_missing_or_expired_login(healthy, world):
    healthy.edit_store(lambda record: record["logins"]["admin"].update(expires=time.time() - 60))
    result, checks = doctor(healthy)
    assert result.returncode == 1
    assert "kubectl ace login" in finding(checks, "login", "expired")["fix"]
    [path] = healthy.server_files()
    path.unlink()
    result, checks = doctor(healthy)
    assert "kubectl ace login" in finding(checks, "login", "not logged in")["fix"]


def test_doctor_finds_rancher_down(healthy, world):
    world.rancher.set_mode("stopped")
    result, checks = doctor(healthy)
    assert result.returncode == 1
    assert finding(checks, "Rancher", "/ping")["status"] == "fail"


def test_doctor_finds_ace_endpoints_down_or_refusing(healthy, world):
    assert healthy.kubectl("get", "namespaces", "--context", "prod-fqdn").returncode == 0
    world.cluster(EDGE).endpoint("cp2").set_down(True)
    world.revoke_downstream_only(PROD, healthy.stored_token(PROD)["token_id"])
    world.cluster(PROD).clear_auth_cache()
    result, checks = doctor(healthy)
    assert result.returncode == 1
    assert finding(checks, "endpoint", "edge-cp2")["status"] == "fail"
    assert "log in again" in finding(checks, "endpoint", "prod-fqdn")["fix"]
    assert "refuses the token" in finding(checks, "endpoint", "prod-fqdn")["detail"]


def test_doctor_finds_clock_skew(healthy, monkeypatch):
    from email.utils import formatdate
    from tests.sim import listener
    monkeypatch.setattr(listener._Handler, "date_time_string",
                        lambda self, timestamp=None: formatdate(time.time() + 300, usegmt=True))
    result, checks = doctor(healthy)
    assert "NTP" in finding(checks, "clock", "behind")["fix"]


@pytest.mark.parametrize("kuberc", ["credentialPluginPolicy: DenyAll\n",
                                    "credentialPluginPolicy: Allowlist\ncredentialPluginAllowlist:\n- name: aws\n"])
def test_doctor_finds_a_kuberc_that_forbids_the_plugin(healthy, kuberc):
    (healthy.home / ".kube").mkdir(exist_ok=True)
    (healthy.home / ".kube" / "kuberc").write_text("apiVersion: kubectl.config.k8s.io/v1beta1\nkind: Preference\n"
                                                   + kuberc)
    result, checks = doctor(healthy)
    assert result.returncode == 1
    assert "kubectl-ace" in finding(checks, "kuberc")["fix"]
    allowed = healthy.root / "kuberc-ok"
    allowed.write_text("credentialPluginPolicy: Allowlist\ncredentialPluginAllowlist:\n- name: kubectl-ace\n")
    result, checks = doctor(healthy, env={"KUBERC": str(allowed)})
    assert [c["status"] for c in checks if c["check"] == "kuberc"] == ["ok"]


def test_a_user_shared_by_several_clusters_gets_an_unscoped_exec_user():
    """Rancher's ext Kubeconfig (2.12+): a `rancher` entry for Rancher itself and one user for the non-ACE clusters."""
    base = "https://rancher.example.com"
    config = {"apiVersion": "v1", "kind": "Config",
              "clusters": [{"name": "rancher", "cluster": {"server": base}},
                           {"name": "a", "cluster": {"server": f"{base}/k8s/clusters/c-a"}},
                           {"name": "b", "cluster": {"server": f"{base}/k8s/clusters/c-b"}}],
              "users": [{"name": "rancher", "user": {"token": "kubeconfig-u-abcdefghijzzzzz:secret"}}],
              "contexts": [{"name": n, "context": {"cluster": n, "user": "rancher"}} for n in ("rancher", "a", "b")],
              "current-context": "rancher"}
    conversion = convert_data(config, "test")
    assert conversion.data["users"][0]["user"]["exec"]["args"] == ["token", f"--server={base}"]
    assert conversion.data["clusters"][0] == config["clusters"][0]  # Rancher itself is not an endpoint
    assert [c["cluster"]["extensions"][0]["extension"]["kubectl-ace"]["clusterId"]
            for c in conversion.data["clusters"][1:]] == ["c-a", "c-b"]
    assert [(f.cluster_id, f.name) for f in conversion.found] == [("", "kubeconfig-u-abcdefghijzzzzz")]


def test_a_later_login_adopts_the_tokens_convert_moved_in(sandbox, world):
    sandbox.kubeconfig.write_text(download(world, PROD))
    assert sandbox.ace("convert", "-f", str(sandbox.kubeconfig)).returncode == 0
    mints = world.counters.mints(PROD)
    sandbox.login()
    record = sandbox.stored()
    assert list(record["logins"]) == ["admin"] and PROD in record["logins"]["admin"]["clusters"]
    kubectl_works(sandbox, CONTEXTS[PROD])
    assert world.counters.mints(PROD) == mints
