"""kubectl-ace against each Rancher version: ext login answers, the token API that works at ACE, v3 removal."""

from __future__ import annotations

import pytest
import yaml

from tests.conftest import PASSWORD, Sandbox
from tests.sim import World
from tests.test_sim_versions import CLUSTERS, PROD, create_kubeconfig, ext_token, kubectl_get


@pytest.fixture
def make_user(tmp_path):
    """Start a world of a chosen version and give back a Sandbox user of it; every world is stopped at teardown."""
    worlds: list[World] = []

    def make(version: str, **kwargs) -> Sandbox:
        w = World(clusters=CLUSTERS, users={"admin": PASSWORD}, rancher_version=version,
                  temp_root=str(tmp_path / "sim"), **kwargs).start()
        worlds.append(w)
        root = tmp_path / f"user{len(worlds)}"
        root.mkdir()
        return Sandbox(root, w)

    yield make
    for w in worlds:
        w.stop()


def live_tokens(world: World) -> list[dict]:
    return [t for t in world.tokens() if t["enabled"] and not t["expired"]]


def test_login_reads_an_ext_token_login_answer(make_user):
    user = make_user("v2.16.0", ext_login=True)
    user.login()
    login = user.stored_login()
    assert login["token"].startswith("ext/")
    assert login["user_id"] == user.world.user_id("admin") and login["expires"]
    user.exec_kubeconfig(PROD, current="prod")
    result = user.kubectl("get", "namespaces")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("rancher", ["v2.13.6", "v2.14.1"])
def test_minted_token_is_v3_where_ext_is_refused_at_ace(make_user, tmp_path, rancher):
    user = make_user(rancher)
    user.login()
    user.exec_kubeconfig(PROD, current="prod-fqdn")
    result = user.kubectl("get", "namespaces")
    assert result.returncode == 0, result.stderr
    stored = user.stored_token(PROD)
    assert not stored["token"].startswith("ext/")
    assert user.world.token(stored["token_id"])["type"] == "v3" and user.stored()["token_api"] == "v3"
    # The other kind: an ext token for the same cluster is refused at ACE on this version.
    bearer = ext_token(user.world, user.stored_login()["token"], PROD).json()["status"]["bearerToken"]
    assert kubectl_get(user.world, tmp_path, PROD, bearer).returncode != 0


@pytest.mark.parametrize("rancher,v3", [("v2.13.7", True), ("v2.14.3", True), ("v2.15.0", True),
                                        ("v2.16.0", False)])
def test_minted_token_is_ext_where_it_works_at_ace(make_user, rancher, v3):
    user = make_user(rancher, v3_tokens=v3)
    user.login()
    user.exec_kubeconfig(PROD, current="prod-fqdn")
    result = user.kubectl("get", "namespaces")
    assert result.returncode == 0, result.stderr
    stored = user.stored_token(PROD)
    assert stored["token"].startswith("ext/")
    record = user.world.token(stored["token_id"])
    assert record["type"] == "ext" and record["clusterId"] == PROD
    assert user.stored()["token_api"] == "ext"


def test_with_v3_removed_a_revoked_token_costs_one_failing_call(make_user):
    user = make_user("v2.16.0", v3_tokens=False, ext_login=True)
    user.login()
    user.exec_kubeconfig(PROD, current="prod")
    assert user.kubectl("get", "namespaces").returncode == 0
    old = user.stored_token(PROD)["token_id"]
    user.world.revoke_token(old)
    first = user.kubectl("get", "namespaces")
    second = user.kubectl("get", "namespaces")
    assert "was revoked at Rancher; getting a new one" in first.stderr + second.stderr
    assert second.returncode == 0, second.stderr
    assert user.stored_token(PROD)["token_id"] != old


@pytest.mark.parametrize("ext_login", [False, True])
def test_logout_with_v3_removed_leaves_no_live_token(make_user, ext_login):
    user = make_user("v2.16.0", v3_tokens=False, ext_login=ext_login)
    user.login()
    for context in ("prod", "edge"):
        user.exec_kubeconfig(PROD if context == "prod" else "c-m-edge0001", current=context)
        assert user.kubectl("get", "namespaces").returncode == 0
    assert len(live_tokens(user.world)) == 3
    result = user.ace("logout")
    assert result.returncode == 0, result.stderr
    assert "3 token(s) revoked" in result.stderr and "could not be told" not in result.stderr
    assert live_tokens(user.world) == []


CONTEXTS = ["prod", "prod-fqdn", "edge", "edge-cp1", "edge-cp2", "plain"]


def generated_left(world: World, before: set[str]) -> list[str]:
    """Live tokens made since `before` other than those kubectl-ace minted for itself."""
    return [t["name"] for t in live_tokens(world)
            if t["name"] not in before and not t["description"].startswith("kubectl-ace")]


@pytest.mark.parametrize("v3,norman", [(False, True), (True, False), (False, False)])
def test_kubeconfig_all_merge_on_2_16_revokes_for_real_and_works(make_user, v3, norman):
    user = make_user("v2.16.0", v3_tokens=v3, norman_kubeconfig=norman)
    user.login()
    before = {t["name"] for t in user.world.tokens()}
    result = user.ace("kubeconfig", "--all", "--merge", timeout=120)
    assert result.returncode == 0, result.stderr
    assert generated_left(user.world, before) == [], "every token Rancher generated must be dead"
    assert "did not revoke" not in result.stderr
    assert "revoked the 3 token(s)" in result.stderr
    assert user.world.kubeconfigs() == []
    for context in CONTEXTS:
        done = user.kubectl("get", "namespaces", "--context", context)
        assert done.returncode == 0, (context, done.stderr)


def test_kubeconfig_never_claims_a_revocation_rancher_refused(make_user):
    user = make_user("v2.16.0", v3_tokens=False)
    user.login()
    before = {t["name"] for t in user.world.tokens()}
    user.world.add_fault("html", "/apis/ext.cattle.io/v1/tokens/", method="DELETE", reach_rancher=False)
    result = user.ace("kubeconfig", "--all", "--merge", timeout=120)
    assert len(generated_left(user.world, before)) == 3
    assert "revoked the" not in result.stderr
    assert "did not revoke 3 generated token(s)" in result.stderr


def dashboard_download(world: World, cluster_id: str, include_default: bool) -> str:
    """A 2.14+ dashboard "Download KubeConfig": the ext Kubeconfig API with the UI's (v3) session."""
    session = world.create_token("admin", ext=False)
    spec = {"clusters": [cluster_id], "includeDefaultEntry": include_default}
    answer = create_kubeconfig(world, session, spec)
    assert answer.status_code == 201, answer.text
    return answer.json()["status"]["value"]


def test_convert_2_15_file_turns_the_default_rancher_entry_into_an_unscoped_exec_user(make_user):
    user = make_user("v2.15.0")
    user.kubeconfig.write_text(dashboard_download(user.world, PROD, include_default=True))
    before = {u["name"]: u["user"] for u in yaml.safe_load(user.kubeconfig.read_text())["users"]}
    assert before["rancher"]["token"].startswith("ext/")
    result = user.ace("convert", "-f", str(user.kubeconfig))
    assert result.returncode == 0, result.stderr
    text = user.kubeconfig.read_text()
    assert "ext/" not in text and "token:" not in text
    users = {u["name"]: u["user"] for u in yaml.safe_load(text)["users"]}
    assert users["rancher"]["exec"]["command"] == "kubectl-ace"
    assert not any(a.startswith("--cluster") for a in users["rancher"]["exec"]["args"])
    assert f"--cluster={PROD}" in users["prod"]["exec"]["args"]
    # The unscoped token moved into the store, under no cluster: what `kubectl-ace token` without --cluster hands out.
    login = next(iter(user.stored()["logins"].values()))
    assert login["clusters"][""]["token"].startswith("ext/")
    for context in ("prod", "prod-fqdn"):
        done = user.kubectl("get", "namespaces", "--context", context)
        assert done.returncode == 0, (context, done.stderr)


def test_ext_api_key_logs_in_with_v3_removed(make_user):
    user = make_user("v2.16.0", v3_tokens=False)
    api_key = user.world.create_token("admin", ext=True)
    result = user.ace("login", "--server", user.world.rancher_url, "--token-stdin", "--cacert",
                      str(user.world.rancher_ca_file), input=api_key + "\n")
    assert result.returncode == 0, result.stderr
    assert user.stored_login(user.world.user_id("admin"))["origin"] == "api-key"
    user.exec_kubeconfig(PROD, current="prod-fqdn")
    done = user.kubectl("get", "namespaces")
    assert done.returncode == 0, done.stderr


def test_convert_repairs_the_broken_2_14_1_rancher_token_exec_args(make_user):
    user = make_user("v2.14.1")
    user.world.settings["kubeconfig-generate-token"] = "false"
    session = user.world.create_token("admin", ext=False)
    answer = create_kubeconfig(user.world, session, {"clusters": [PROD, "c-plain1"]})
    assert answer.status_code == 201, answer.text
    user.kubeconfig.write_text(answer.json()["status"]["value"])
    broken = {u["name"]: u["user"]["exec"]["args"] for u in yaml.safe_load(user.kubeconfig.read_text())["users"]}
    assert "--server=" in broken["prod"] and not any(a.startswith("--cluster") for a in broken["prod"])
    result = user.ace("convert", "-f", str(user.kubeconfig))
    assert result.returncode == 0, result.stderr
    users = {u["name"]: u["user"] for u in yaml.safe_load(user.kubeconfig.read_text())["users"]}
    assert f"--server={user.world.rancher_url}" in users["prod"]["exec"]["args"]
    assert f"--cluster={PROD}" in users["prod"]["exec"]["args"]
    user.login()
    for context in ("prod", "prod-fqdn", "plain"):
        done = user.kubectl("get", "namespaces", "--context", context)
        assert done.returncode == 0, (context, done.stderr)
