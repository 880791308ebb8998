"""The converter's decisions on kubeconfig data (no simulator, no network): what becomes of each Rancher entry."""

from __future__ import annotations

import copy
import os
import stat

import pytest

from kubectl_ace.errors import InputError
from kubectl_ace.kubeconfig_files import dump
from kubectl_ace.onboarding.conversion import convert_data, secrets_in
from kubectl_ace.onboarding.in_place import REDACTED, redacted, write_backup
from kubectl_ace.onboarding.plan import exec_flags, user_kind
from kubectl_ace.records import ClusterToken, Login, ServerRecord
from kubectl_ace.store import Store

RANCHER = "https://rancher.example.com"
PROD = "c-m-abcd1234"
TOKEN = "kubeconfig-u-abcdefghij.c-m-abcd1234zzzzz:s3cr3t-half"
EXEC_V1 = "client.authentication.k8s.io/v1"


def kubeconfig(clusters: list[dict], users: list[dict], contexts: list[dict], current: str = "") -> dict:
    data = {"apiVersion": "v1", "kind": "Config", "clusters": clusters, "users": users, "contexts": contexts}
    if current:
        data["current-context"] = current
    return data


def entry(kind: str, name: str, body: dict) -> dict:
    return {"name": name, kind: body}


def rancher_download(token: str = TOKEN, name: str = "prod") -> dict:
    """What the Rancher UI writes for an ACE cluster with an FQDN: proxy + `-fqdn` entries, one token user."""
    return kubeconfig(
        [entry("cluster", name, {"server": f"{RANCHER}/k8s/clusters/{PROD}", "certificate-authority-data": "QUJD"}),
         entry("cluster", f"{name}-fqdn", {"server": "https://prod.example.com", "certificate-authority-data": "REVG"})],
        [entry("user", name, {"token": token})],
        [entry("context", name, {"cluster": name, "user": name}),
         entry("context", f"{name}-fqdn", {"cluster": f"{name}-fqdn", "user": name})],
        current=name)


def mark(data: dict, cluster: str) -> dict:
    """The kubectl-ace data in a converted cluster entry's exec extension."""
    body = next(c["cluster"] for c in data["clusters"] if c["name"] == cluster)
    (ours,) = [e["extension"]["kubectl-ace"] for e in body.get("extensions") or []
               if e["name"] == "client.authentication.k8s.io/exec"]
    return ours


# --- what Rancher's entries become ---

def test_a_token_user_becomes_the_kubectl_ace_exec_stanza_and_its_token_is_taken_out():
    conversion = convert_data(rancher_download(), "test")
    (user,) = conversion.data["users"]
    assert user["name"] == "prod"
    assert set(user["user"]) == {"exec"}
    stanza = user["user"]["exec"]
    assert stanza["command"] == "kubectl-ace" and stanza["apiVersion"] == EXEC_V1
    assert stanza["args"] == ["token", f"--server={RANCHER}", f"--cluster={PROD}"]
    assert stanza["provideClusterInfo"] is True and stanza["interactiveMode"] == "IfAvailable"
    (found,) = conversion.found
    assert (found.server, found.cluster_id, found.token, found.user) == (RANCHER, PROD, TOKEN, "prod")
    assert found.name == "kubeconfig-u-abcdefghij.c-m-abcd1234zzzzz"
    assert found.ca_pem.strip() == "ABC"  # the proxy entry's CA, for a store record that has none yet
    assert secrets_in(conversion) == ["s3cr3t-half"]
    assert "s3cr3t-half" not in dump(conversion.data) and "s3cr3t-half" not in repr(found)
    assert conversion.users == ["prod"] and conversion.rancher_users == 1


def test_rancher_token_exec_args_are_carried_in_both_flag_forms():
    data = kubeconfig(
        [entry("cluster", "lab", {"server": f"{RANCHER}/k8s/clusters/c-x1"})],
        [entry("user", "lab", {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "rancher",
                                        "args": ["token", "--server", "Rancher.example.com:443", "--user=lab",
                                                 "--cluster", "c-x1", "--cacerts=/etc/rancher ca.pem",
                                                 "--skip-verify", "--auth-provider", "openLdapProvider"]}})],
        [entry("context", "lab", {"cluster": "lab", "user": "lab"})])
    conversion = convert_data(data, "test")
    args = conversion.data["users"][0]["user"]["exec"]["args"]
    assert args == ["token", f"--server={RANCHER}", "--cluster=c-x1", "--cacerts=/etc/rancher ca.pem",
                    "--auth-provider=openLdapProvider", "--skip-verify"]
    assert conversion.found == []  # a `rancher token` user holds no token of its own
    assert conversion.servers == {RANCHER: ("", True)}


def test_exec_flags_reads_both_forms_and_a_value_flag_left_without_a_value():
    assert exec_flags(["token", "--server=a", "--cluster", "c-1", "--skip-verify", "--odd=x", "stray"]) == \
        {"--server": "a", "--cluster": "c-1", "--skip-verify": True, "--odd": "x"}
    assert exec_flags(["token", "--server=a", "--server"]) == {"--server": True}
    assert exec_flags("not a list") == {}


@pytest.mark.parametrize(("body", "kind"), [
    ({"token": "a:b"}, "token"), ({"token": "  "}, "empty-token"), ({"client-certificate-data": "x"}, "other"),
    ({"exec": {"command": "/usr/local/bin/rancher.exe", "args": ["token"]}}, "rancher"),
    ({"exec": {"command": "kubectl-ace", "args": ["token"]}}, "ace"),
    ({"exec": {"command": "aws", "args": ["eks", "get-token"]}}, "unknown-exec"), (None, "other")])
def test_user_kind_tells_rancher_users_from_others(body, kind):
    assert user_kind(body) == kind


def test_fqdn_and_node_endpoints_are_marked_with_their_cluster():
    data = kubeconfig(
        [entry("cluster", "edge", {"server": f"{RANCHER}/k8s/clusters/c-m-edge0001"}),
         entry("cluster", "edge-cp1", {"server": "https://10.0.0.11:6443"}),
         entry("cluster", "edge-cp2", {"server": "https://10.0.0.12:6443"}),
         entry("cluster", "edge-fqdn", {"server": "https://edge.example.com"})],
        [entry("user", "edge", {"token": "kubeconfig-u-abcdefghij.c-m-edge0001zzzzz:secret"})],
        [entry("context", n, {"cluster": n, "user": "edge"}) for n in ("edge", "edge-cp1", "edge-cp2", "edge-fqdn")])
    conversion = convert_data(data, "test")
    assert mark(conversion.data, "edge") == {"server": RANCHER, "clusterId": "c-m-edge0001", "endpoint": "proxy"}
    assert mark(conversion.data, "edge-fqdn")["endpoint"] == "fqdn"
    assert [mark(conversion.data, n) for n in ("edge-cp1", "edge-cp2")] == \
        [{"server": RANCHER, "clusterId": "c-m-edge0001", "endpoint": "node"}] * 2
    assert conversion.clusters == ["edge", "edge-cp1", "edge-cp2", "edge-fqdn"]


def test_an_entry_for_rancher_itself_gets_an_unscoped_user_and_is_not_an_endpoint():
    data = kubeconfig(
        [entry("cluster", "rancher", {"server": RANCHER}),
         entry("cluster", "a", {"server": f"{RANCHER}/k8s/clusters/c-a"})],
        [entry("user", "rancher", {"token": "kubeconfig-u-abcdefghijzzzzz:secret"})],
        [entry("context", n, {"cluster": n, "user": "rancher"}) for n in ("rancher", "a")])
    conversion = convert_data(data, "test")
    assert conversion.data["users"][0]["user"]["exec"]["args"] == ["token", f"--server={RANCHER}"]
    assert conversion.data["clusters"][0] == data["clusters"][0]
    assert [(f.cluster_id, f.name) for f in conversion.found] == [("", "kubeconfig-u-abcdefghijzzzzz")]


# --- Rancher ≤ 2.11's HTML escaping ---

def test_escaped_rancher_values_are_unescaped_exactly_once():
    # `&amp;#43;` is how an escaped `&#43;` reads: unescaping it twice would wrongly give `+`.
    data = kubeconfig(
        [entry("cluster", "a&#43;b", {"server": f"{RANCHER}/k8s/clusters/{PROD}",
                                      "certificate-authority-data": "QU&#43;=", "proxy-url": "x&amp;#43;y"})],
        [entry("user", "a&#43;b", {"token": "kubeconfig-u-x.c-1abcde:s&#43;t"})],
        [entry("context", "a&#43;b", {"cluster": "a&#43;b", "user": "a&#43;b", "namespace": "n&amp;#43;s"})],
        current="a&#43;b")
    conversion = convert_data(data, "test")
    out = conversion.data
    assert out["current-context"] == "a+b"
    assert out["contexts"] == [{"name": "a+b", "context": {"cluster": "a+b", "user": "a+b", "namespace": "n&#43;s"}}]
    (cluster,) = out["clusters"]
    assert cluster["name"] == "a+b"
    assert cluster["cluster"]["certificate-authority-data"] == "QU+="
    assert cluster["cluster"]["proxy-url"] == "x&#43;y"
    assert out["users"][0]["name"] == "a+b" and conversion.users == ["a+b"]
    assert [(f.token, f.user) for f in conversion.found] == [("kubeconfig-u-x.c-1abcde:s+t", "a+b")]


def test_non_rancher_entries_stay_byte_identical():
    other = kubeconfig(
        [entry("cluster", "kind&#43;dev", {"server": "https://127.0.0.1:6443", "certificate-authority-data": "QU&#43;="}),
         entry("cluster", "eks", {"server": "https://eks.example.com"})],
        [entry("user", "kind&#43;dev", {"token": "plain&#43;token"}),
         entry("user", "eks", {"exec": {"command": "aws", "args": ["eks", "get-token", "--x=&#43;"]}}),
         entry("user", "cert", {"client-certificate-data": "Q&#43;"})],
        [entry("context", "kind&#43;dev", {"cluster": "kind&#43;dev", "user": "kind&#43;dev"}),
         entry("context", "eks", {"cluster": "eks", "user": "eks"})],
        current="kind&#43;dev")
    download = rancher_download()
    mixed = {**other, **{key: other[key] + download[key] for key in ("clusters", "users", "contexts")}}
    before = copy.deepcopy(mixed)
    out = convert_data(mixed, "test").data
    assert mixed == before  # the input is never edited
    assert out["current-context"] == "kind&#43;dev"
    for key in ("clusters", "users", "contexts"):
        assert dump({key: out[key][:len(other[key])]}) == dump({key: other[key]})
    assert convert_data(other, "test").data == other and convert_data(other, "test").rancher_users == 0


def test_converting_twice_changes_nothing():
    first = convert_data(rancher_download(token="kubeconfig-u-abcdefghij.c-m-abcd1234zzzzz:s&#43;t"), "test")
    assert first.changed
    second = convert_data(first.data, "test")
    assert not second.changed and second.data == first.data
    assert second.found == [] and second.clusters == [] and second.users == []
    assert second.rancher_users == 1  # still recognised as Rancher's: `convert` says "already converted"


# --- unsafe input: refused whole, with one line ---

def with_user(body: dict, server: str = f"{RANCHER}/k8s/clusters/{PROD}") -> dict:
    return kubeconfig([entry("cluster", "prod", {"server": server})], [entry("user", "prod", body)],
                      [entry("context", "prod", {"cluster": "prod", "user": "prod"})])


@pytest.mark.parametrize(("data", "says"), [
    (None, "is empty"),
    (["a list"], "is not a kubeconfig"),
    ({"kind": "Secret", "users": []}, "is a 'Secret'"),
    ({"apiVersion": "v1"}, "has no clusters, users or contexts"),
    (kubeconfig([], [], [{"context": {}}]), "entry 1 of `contexts` has no name"),
    (kubeconfig([{"name": "x", "cluster": "text"}], [], []), "is not a mapping"),
    (with_user({"exec": {"command": "aws", "args": []}}), "exec plugin 'aws'"),
    (with_user({"token": " "}), "has an empty token"),
    (with_user({"token": "no-colon"}), "is not a Rancher token"),
    (with_user({"exec": {"command": "rancher", "args": ["token"]}}, server="https://10.0.0.1:6443"),
     "without --server"),
    (kubeconfig([entry("cluster", "a", {"server": f"{RANCHER}/k8s/clusters/c-a"}),
                 entry("cluster", "b", {"server": "https://other.example.com/k8s/clusters/c-b"})],
                [entry("user", "u", {"token": "kubeconfig-u-x:s"})],
                [entry("context", n, {"cluster": n, "user": "u"}) for n in ("a", "b")]), "several Rancher servers"),
    (kubeconfig([entry("cluster", "a", {"server": f"{RANCHER}/k8s/clusters/c-a"})],
                [entry("user", "u", {"token": "kubeconfig-u-x:s"})],
                [entry("context", "a", {"cluster": "a", "user": "u"}),
                 entry("context", "gone", {"cluster": "g&#43;ne", "user": "u"})]), "cluster 'g+ne', which is not in"),
])
def test_unsafe_inputs_raise_an_input_error_of_one_line(data, says):
    before = copy.deepcopy(data)
    with pytest.raises(InputError) as caught:
        convert_data(data, "the file")
    message = caught.value.message
    assert says in message and message.startswith("the file")
    assert "\n" not in message
    assert data == before


# --- the backup and the store ---

def test_the_backup_has_the_secrets_redacted_and_the_files_mode(tmp_path):
    original = tmp_path / "config"
    text = f"users:\n- name: prod\n  user:\n    token: {TOKEN}\n"
    first = write_backup(str(original), redacted(text, ["s3cr3t-half"]), 0o640)
    second = write_backup(str(original), "again", 0o640)
    assert first != second and os.path.basename(first).startswith("config.bak-")
    with open(first, encoding="utf-8") as handle:
        kept = handle.read()
    assert "s3cr3t-half" not in kept and REDACTED in kept
    assert stat.S_IMODE(os.stat(first).st_mode) == 0o640


def test_found_tokens_go_under_an_imported_login_and_a_longer_lived_one_stays(tmp_path):
    store = Store(str(tmp_path / "store"))
    later = ClusterToken("kubeconfig-u-1.c-1aaaaa:later", minted=0.0, expires=4_000_000_000.0)
    sooner = ClusterToken("kubeconfig-u-1.c-1bbbbb:sooner", minted=0.0, expires=3_900_000_000.0)
    assert store.adopt_tokens(RANCHER, [("c-1", later, "u-1")], "PEM", False) == 1
    assert store.adopt_tokens(RANCHER, [("c-1", sooner, "u-1")], "PEM", False) == 0
    record = store.read(RANCHER)
    assert record is not None and record.cacert == "PEM" and record.current_user == "u-1"
    login = record.logins["u-1"]
    assert login.origin == "imported" and not login.can_mint(0.0)
    assert login.cluster("c-1").token == later.token


def test_a_found_token_goes_under_the_login_of_its_user(tmp_path):
    store = Store(str(tmp_path / "store"))
    store.update(RANCHER, lambda _: ServerRecord(RANCHER, current_user="admin",
                                                 logins={"admin": Login("admin", "token-a:x", user_id="u-1")}))
    mine = ClusterToken("kubeconfig-u-1.c-1aaaaa:mine")
    theirs = ClusterToken("kubeconfig-u-2.c-1aaaaa:theirs")
    assert store.adopt_tokens(RANCHER, [("c-1", mine, "u-1"), ("c-1", theirs, "u-2")], None, False) == 2
    record = store.read(RANCHER)
    assert record is not None and record.current_user == "admin"
    assert record.logins["admin"].cluster("c-1").token == mine.token
    assert record.logins["u-2"].cluster("c-1").token == theirs.token
