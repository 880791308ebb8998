"""Failover between a cluster's ACE endpoints (FQDN, nodes, the proxy), and back, driven through the real kubectl."""

from __future__ import annotations

import json

import pytest

EDGE = "c-m-edge0001"


def on_node(sandbox, context: str = "edge-cp1") -> None:
    """A user on an ACE node context (as Rancher 2.14+ kubeconfigs start), with a working token and an old state."""
    sandbox.exec_kubeconfig(EDGE, current=context)
    result = sandbox.kubectl("get", "namespaces")
    assert result.returncode == 0, result.stderr
    sandbox.age_health()


@pytest.mark.parametrize("rancher", ["up", "stopped"])
def test_a_dead_ace_node_fails_over_to_another_node_and_back_when_it_returns(logged_in, world, rancher):
    on_node(logged_in)
    world.cluster(EDGE).endpoint("cp1").set_down(True)
    world.rancher.set_mode(rancher)
    first = logged_in.kubectl("get", "namespaces")
    assert first.returncode != 0
    assert "the ACE endpoint edge-cp1 of cluster c-m-edge0001 does not answer (connection refused)" in first.stderr
    assert "switched the current context from edge-cp1 to edge-cp2 (ACE node): kubectl commands started from now on use it" in first.stderr
    assert first.stderr.count("kubectl-ace:") == 1
    assert logged_in.current_context() == "edge-cp2"
    second = logged_in.kubectl("get", "namespaces")
    assert second.returncode == 0, second.stderr
    assert "kube-system" in second.stdout
    world.cluster(EDGE).endpoint("cp1").set_down(False)
    logged_in.age_health()
    back = logged_in.kubectl("get", "namespaces")
    assert back.returncode == 0, back.stderr
    assert "edge-cp1 answers again; switched the current context back from edge-cp2 to edge-cp1" in back.stderr
    assert logged_in.current_context() == "edge-cp1"


def test_every_ace_node_dead_falls_back_to_the_proxy_while_rancher_serves_it(logged_in, world):
    on_node(logged_in)
    for node in ("cp1", "cp2"):
        world.cluster(EDGE).endpoint(node).set_down(True)
    first = logged_in.kubectl("get", "namespaces")
    assert "switched the current context from edge-cp1 to edge (Rancher proxy)" in first.stderr
    assert logged_in.kubectl("get", "namespaces").returncode == 0
    world.cluster(EDGE).endpoint("cp1").set_down(False)
    logged_in.age_health()
    back = logged_in.kubectl("get", "namespaces")
    assert back.returncode == 0 and "switched the current context back from edge to edge-cp1" in back.stderr
    assert logged_in.current_context() == "edge-cp1"


def test_every_endpoint_dead_is_one_clear_error_and_the_context_stays(logged_in, world):
    on_node(logged_in)
    for node in ("cp1", "cp2"):
        world.cluster(EDGE).endpoint(node).set_down(True)
    world.rancher.set_mode("stopped")
    result = logged_in.kubectl("get", "namespaces")
    assert result.returncode != 0
    assert "no other endpoint answers either (edge-cp2 connection refused; edge " in result.stderr
    assert result.stderr.count("kubectl-ace:") == 1
    assert logged_in.current_context() == "edge-cp1"


def test_a_second_failover_still_switches_back_to_the_users_first_context(logged_in, world):
    on_node(logged_in)
    world.cluster(EDGE).endpoint("cp1").set_down(True)
    logged_in.kubectl("get", "namespaces")
    assert logged_in.current_context() == "edge-cp2"
    world.cluster(EDGE).endpoint("cp2").set_down(True)
    logged_in.age_health()
    logged_in.kubectl("get", "namespaces")
    assert logged_in.current_context() == "edge"
    [switch] = json.loads((logged_in.store / "switches.json").read_text())["switches"]
    assert (switch["from"], switch["to"]) == ("edge-cp1", "edge")


def test_a_healthy_ace_context_is_left_alone(logged_in, world):
    on_node(logged_in)
    world.rancher.set_mode("stopped")
    result = logged_in.kubectl("get", "namespaces")
    assert result.returncode == 0, result.stderr
    assert logged_in.current_context() == "edge-cp1" and "kubectl-ace" not in result.stderr


def test_a_token_refused_at_ace_is_no_outage(logged_in, world):
    """A 401 means kube-api-auth answered: the endpoint is up (the token story handles the refusal)."""
    on_node(logged_in)
    world.cluster(EDGE).clear_auth_cache()
    logged_in.edit_store(lambda data: data["logins"]["admin"]["clusters"][EDGE].update(token="kubeconfig-u-x:nope"))
    logged_in.kubectl("get", "namespaces")
    assert logged_in.current_context() == "edge-cp1"
