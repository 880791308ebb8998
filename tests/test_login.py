"""`kubectl ace login` and `logout` against the simulated Rancher."""

from __future__ import annotations


import pytest

from tests.conftest import PASSWORD
from tests.sim import ClusterSpec, World


def test_password_login_keeps_one_unscoped_login(sandbox, world):
    result = sandbox.login()
    assert "Logged in to" in result.stderr and result.stdout == ""
    login = sandbox.stored()["logins"]["admin"]
    assert login["provider"] == "localProvider"
    assert world.counters.logins() == 1
    token = {t["name"]: t for t in world.tokens()}[login["token_id"]]
    assert token["clusterId"] in (None, "")


def test_login_reaches_a_server_given_without_scheme(sandbox, world):
    result = sandbox.ace("login", "--server", world.rancher_host, "--user", "admin", "--password-stdin",
                         "--cacert", str(world.rancher_ca_file), input=PASSWORD)
    assert result.returncode == 0, result.stderr
    assert sandbox.stored()["server"] == world.rancher_url


def test_wrong_password_is_one_clear_line(sandbox, world):
    result = sandbox.ace("login", "--server", world.rancher_url, "--user", "admin", "--password-stdin",
                         "--cacert", str(world.rancher_ca_file), input="wrong\n")
    assert result.returncode != 0
    assert result.stderr.count("\n") == 1 and "refused the login of admin" in result.stderr
    assert "Traceback" not in result.stderr
    assert sandbox.stored() is None


def test_unknown_provider_names_the_enabled_ones(sandbox, world):
    result = sandbox.ace("login", "--server", world.rancher_url, "--auth-provider", "okta", "--user", "admin",
                         "--password-stdin", "--cacert", str(world.rancher_ca_file), input=PASSWORD)
    assert result.returncode != 0
    assert "'okta' is not enabled" in result.stderr and "local (localProvider)" in result.stderr


def test_provider_is_accepted_by_type_or_id(sandbox, world):
    for provider in ("local", "localProvider"):
        sandbox.login("admin", PASSWORD, "--auth-provider", provider)
    assert world.counters.logins() == 2


def test_relogin_revokes_the_previous_login_token(sandbox, world):
    sandbox.login()
    first = sandbox.stored()["logins"]["admin"]["token_id"]
    sandbox.login()
    names = {t["name"] for t in world.tokens()}
    assert first not in names and sandbox.stored()["logins"]["admin"]["token_id"] in names


def test_login_falls_back_to_v3_public_when_v1_is_missing(sandbox, world):
    world.v1_public = False
    sandbox.login()
    assert world.counters.logins() == 1


def test_login_accepts_the_rancher_2_12_response_shape(tmp_path):
    from tests.conftest import Sandbox
    with World(clusters=[ClusterSpec(name="old", id="c-old01", ace="fqdn")], users={"admin": PASSWORD},
               rancher_version="v2.12.3") as old:
        sandbox = Sandbox(tmp_path, old)
        sandbox.login()
        sandbox.exec_kubeconfig("c-old01", current="old-fqdn")
        result = sandbox.kubectl("get", "namespaces")
        assert result.returncode == 0, result.stderr


def test_ldap_user_logs_in_with_the_provider_flag(sandbox, world):
    world.enable_provider("openldap")
    world.add_user("ldapuser", "ldap-pass", provider="openldap")
    result = sandbox.ace("login", "--server", world.rancher_url, "--auth-provider", "openLdapProvider",
                         "--user", "ldapuser", "--password-stdin", "--cacert", str(world.rancher_ca_file),
                         input="ldap-pass\n")
    assert result.returncode == 0, result.stderr
    assert sandbox.stored()["logins"]["ldapuser"]["provider"] == "openLdapProvider"


def test_several_providers_without_a_choice_need_a_terminal(sandbox, world):
    world.enable_provider("openldap")
    result = sandbox.ace("login", "--server", world.rancher_url, "--user", "admin", "--password-stdin",
                         "--cacert", str(world.rancher_ca_file), input=PASSWORD)
    assert result.returncode != 0 and "--auth-provider" in result.stderr


def test_api_key_login_is_checked_and_used_for_minting(sandbox, world):
    key = world.create_token("admin")
    result = sandbox.ace("login", "--server", world.rancher_url, "--token-stdin",
                         "--cacert", str(world.rancher_ca_file), input=key + "\n")
    assert result.returncode == 0, result.stderr
    sandbox.exec_kubeconfig("c-m-prod0001", current="prod-fqdn")
    assert sandbox.kubectl("get", "namespaces").returncode == 0
    assert world.counters.mints("c-m-prod0001") == 1


def test_api_key_login_rejects_a_revoked_key(sandbox, world):
    key = world.create_token("admin")
    world.revoke_token(key.split(":")[0])
    result = sandbox.ace("login", "--server", world.rancher_url, "--token-stdin",
                         "--cacert", str(world.rancher_ca_file), input=key + "\n")
    assert result.returncode != 0 and "refused the API key" in result.stderr
    assert key.split(":")[1] not in result.stderr


def test_api_key_scoped_to_one_cluster_is_refused_with_the_reason(sandbox, world):
    key = world.create_token("admin", cluster_id="c-m-prod0001")
    result = sandbox.ace("login", "--server", world.rancher_url, "--token-stdin",
                         "--cacert", str(world.rancher_ca_file), input=key + "\n")
    assert result.returncode != 0 and result.stderr.count("\n") == 1


def test_logout_leaves_an_api_key_alive(sandbox, world):
    key = world.create_token("admin")
    sandbox.ace("login", "--server", world.rancher_url, "--token-stdin", "--cacert", str(world.rancher_ca_file),
                input=key + "\n")
    assert sandbox.ace("logout").returncode == 0
    assert key.split(":")[0] in {t["name"] for t in world.tokens()}


def test_ttl_flag_sets_the_login_lifetime(sandbox, world):
    sandbox.login("admin", PASSWORD, "--ttl", "2h")
    login = sandbox.stored()["logins"]["admin"]
    token = {t["name"]: t for t in world.tokens()}[login["token_id"]]
    assert token["ttl"] == 2 * 3600 * 1000
    assert world.counters.logins() == 1 and len(world.tokens()) == 1


@pytest.mark.parametrize("mode,words", [("html", "not JSON"), ("error", "unavailable"),
                                        ("stopped", "cannot reach Rancher")])
def test_broken_rancher_gives_one_clear_line(sandbox, world, mode, words):
    world.rancher.set_mode(mode)
    result = sandbox.ace("login", "--server", world.rancher_url, "--user", "admin", "--password-stdin",
                         "--cacert", str(world.rancher_ca_file), input=PASSWORD)
    assert result.returncode != 0
    assert words in result.stderr and result.stderr.count("\n") == 1, result.stderr


def test_untrusted_certificate_says_how_to_trust_it(sandbox, world):
    result = sandbox.ace("login", "--server", world.rancher_url, "--user", "admin", "--password-stdin",
                         input=PASSWORD)
    assert result.returncode != 0 and "--cacert" in result.stderr and result.stderr.count("\n") == 1


def test_login_trusts_rancher_ca_from_the_kubeconfig(sandbox, world):
    """A kubeconfig from the Rancher UI carries Rancher's CA: login uses it without --cacert."""
    from tests.test_onboarding import download
    sandbox.kubeconfig.write_text(download(world, "c-m-prod0001"))
    result = sandbox.ace("login", "--server", world.rancher_url, "--user", "admin", "--password-stdin",
                         input=PASSWORD + "\n")
    assert result.returncode == 0, result.stderr
    assert "trusting Rancher's CA from the kubeconfig" in result.stderr
    assert sandbox.stored()["cacert"] == world.rancher_ca_pem
