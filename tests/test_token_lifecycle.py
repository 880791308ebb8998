"""Rejected, revoked and expiring tokens: noticed, recovered from once, and explained."""

from __future__ import annotations

import json
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import EXEC_V1BETA1

PROD = "c-m-prod0001"


@pytest.fixture
def on_context(logged_in, request):
    """A user with a working, cached token on the context named by the test's parameter (default: proxy)."""
    context = getattr(request, "param", "prod")
    logged_in.exec_kubeconfig(PROD, current=context)
    assert logged_in.kubectl("get", "namespaces").returncode == 0
    return logged_in


def test_token_revoked_at_rancher_is_replaced_after_one_failed_call(on_context, world):
    old = on_context.stored_token(PROD)["token_id"]
    world.revoke_token(old)
    first = on_context.kubectl("get", "namespaces")
    second = on_context.kubectl("get", "namespaces")
    assert "was revoked at Rancher; getting a new one" in first.stderr + second.stderr
    assert second.returncode == 0, second.stderr
    assert on_context.stored_token(PROD)["token_id"] != old
    assert world.counters.mints(PROD) == 2 and world.counters.logins() == 1


@pytest.mark.parametrize("how", ["disable_token", "expire_token"])
def test_disabled_or_expired_at_rancher_is_replaced_too(on_context, world, how):
    getattr(world, how)(on_context.stored_token(PROD)["token_id"])
    results = [on_context.kubectl("get", "namespaces") for _ in range(2)]
    assert results[-1].returncode == 0, results[-1].stderr
    assert world.counters.mints(PROD) == 2


def test_parallel_calls_refused_together_cause_one_recovery(on_context, world):
    world.revoke_token(on_context.stored_token(PROD)["token_id"])
    with ThreadPoolExecutor(max_workers=12) as pool:
        list(pool.map(lambda _: on_context.kubectl("get", "namespaces", timeout=120), range(12)))
    assert world.counters.mints(PROD) == 2
    assert on_context.kubectl("get", "namespaces").returncode == 0


@pytest.mark.parametrize("on_context", ["prod-fqdn"], indirect=True)
def test_refused_at_ace_while_rancher_is_down_names_both_facts(on_context, world):
    world.rancher.set_mode("stopped")
    world.revoke_downstream_only(PROD, on_context.stored_token(PROD)["token_id"])
    world.cluster(PROD).clear_auth_cache()
    world.counters.reset()
    result = on_context.kubectl("get", "namespaces")
    assert result.returncode != 0
    assert "was refused" in result.stderr and "cannot be reached to replace it" in result.stderr
    # kubectl retries discovery a few times; the plugin adds no requests of its own to the storm.
    assert world.counters.unauthorized(f"{PROD}:fqdn") <= 6
    status = on_context.ace("status", "-o", "json")
    assert json.loads(status.stdout)[0]["token"]["refusedAt"]


@pytest.mark.parametrize("on_context", ["prod-fqdn"], indirect=True)
def test_valid_at_rancher_but_refused_at_ace_is_explained_without_a_mint(on_context, world):
    world.revoke_downstream_only(PROD, on_context.stored_token(PROD)["token_id"])
    world.cluster(PROD).clear_auth_cache()
    result = on_context.kubectl("get", "namespaces")
    assert result.returncode != 0
    assert "valid at Rancher but" in result.stderr and "kube-api-auth" in result.stderr
    assert world.counters.mints(PROD) == 1


def run_on_a_terminal(sandbox, *args) -> subprocess.CompletedProcess:
    """Run kubectl with a pseudo-terminal on stdin, as a person at a shell does (so exec is interactive)."""
    master, slave = os.openpty()
    try:
        done = subprocess.run([sandbox.kubectl_path, *args], stdin=slave, capture_output=True, text=True,
                              env=sandbox.env, timeout=60, start_new_session=True)
    finally:
        os.close(slave)
        os.close(master)
    return done


def test_expired_token_with_rancher_down_fails_at_once_without_a_prompt(logged_in, world):
    logged_in.exec_kubeconfig(PROD, api_version=EXEC_V1BETA1, current="prod-fqdn")  # interactiveMode IfAvailable
    assert logged_in.kubectl("get", "namespaces").returncode == 0
    world.expire_token(logged_in.stored_token(PROD)["token_id"])
    logged_in.edit_store(lambda data: data["logins"]["admin"]["clusters"][PROD].update(expires=time.time() - 60))
    world.rancher.set_mode("stopped")
    result = run_on_a_terminal(logged_in, "get", "namespaces")
    assert result.returncode != 0
    assert "expired at" in result.stderr and f"Rancher at {world.rancher_url} cannot be reached" in result.stderr
    assert "Password" not in result.stderr and "Username" not in result.stderr


def test_token_near_expiry_is_refreshed_ahead(on_context, world):
    old = on_context.stored_token(PROD)["token_id"]
    now = time.time()
    on_context.edit_store(lambda data: data["logins"]["admin"]["clusters"][PROD].update(
        minted=now - 9 * 86400, expires=now + 600))
    assert on_context.kubectl("get", "namespaces").returncode == 0
    assert on_context.stored_token(PROD)["token_id"] != old and world.counters.mints(PROD) == 2


@pytest.mark.parametrize("on_context", ["prod-fqdn"], indirect=True)
def test_near_expiry_with_rancher_down_keeps_the_valid_token(on_context, world):
    old = on_context.stored_token(PROD)["token_id"]
    now = time.time()
    on_context.edit_store(lambda data: data["logins"]["admin"]["clusters"][PROD].update(
        minted=now - 9 * 86400, expires=now + 600))
    world.rancher.set_mode("stopped")
    result = on_context.kubectl("get", "namespaces")
    assert result.returncode == 0, result.stderr
    assert on_context.stored_token(PROD)["token_id"] == old


def test_login_running_out_is_announced_once_a_day(on_context):
    on_context.edit_store(lambda data: data["logins"]["admin"].update(expires=time.time() + 86400 + 3600))
    first = on_context.kubectl("get", "namespaces")
    second = on_context.kubectl("get", "namespaces")
    assert "your login to" in first.stderr and "expires in 1 d 1 h" in first.stderr
    assert "your login to" not in second.stderr
    assert first.returncode == 0 and second.returncode == 0


def test_force_refresh_mints_a_new_token(on_context, world):
    old = on_context.stored_token(PROD)["token_id"]
    result = on_context.ace("token", f"--server={world.rancher_url}", f"--cluster={PROD}", "--force-refresh")
    assert result.returncode == 0, result.stderr
    assert on_context.stored_token(PROD)["token_id"] != old and world.counters.mints(PROD) == 2


def test_logout_of_one_cluster_keeps_the_login(on_context, world):
    old = on_context.stored_token(PROD)["token_id"]
    result = on_context.ace("logout", "--cluster", PROD)
    assert result.returncode == 0, result.stderr
    assert old not in {t["name"] for t in world.tokens()}
    assert PROD not in on_context.stored_login()["clusters"]
    assert on_context.kubectl("get", "namespaces").returncode == 0
    assert world.counters.mints(PROD) == 2 and world.counters.logins() == 1
