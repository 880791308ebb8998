"""Failover to the Authorized Cluster Endpoint and back, driven through the real kubectl."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml


def warmed_up(sandbox, cluster_id: str, context: str, **kubeconfig) -> None:
    """A user on `context` with a working token cached and a health state from a while ago."""
    sandbox.exec_kubeconfig(cluster_id, current=context, **kubeconfig)
    result = sandbox.kubectl("get", "namespaces")
    assert result.returncode == 0, result.stderr
    sandbox.age_health()


@pytest.fixture
def on_proxy(logged_in):
    """A user on prod's proxy context, with a working token cached and a health state from a while ago."""
    warmed_up(logged_in, "c-m-prod0001", "prod")
    return logged_in


def test_a_fresh_healthy_state_is_trusted_without_probing(logged_in, world):
    """Within the health TTL the hot path does not probe: the proxy is not asked twice."""
    logged_in.exec_kubeconfig("c-m-prod0001", current="prod")
    assert logged_in.kubectl("get", "namespaces").returncode == 0
    world.counters.reset()
    assert logged_in.kubectl("get", "namespaces").returncode == 0
    version_probes = world.counters.requests("proxy:c-m-prod0001")
    logged_in.age_health()
    assert logged_in.kubectl("get", "namespaces").returncode == 0
    assert world.counters.requests("proxy:c-m-prod0001") == 2 * version_probes + 1


@pytest.mark.parametrize("fault", ["stopped", "stalled", "agent-disconnected"])
def test_first_call_fails_over_and_the_next_goes_to_ace(on_proxy, world, fault):
    if fault == "agent-disconnected":
        world.cluster("c-m-prod0001").agent_connected = False
    else:
        world.rancher.set_mode(fault)
    first = on_proxy.kubectl("get", "namespaces")
    assert first.returncode != 0
    assert "switched the current context from prod to prod-fqdn" in first.stderr
    assert on_proxy.current_context() == "prod-fqdn"
    second = on_proxy.kubectl("get", "namespaces")
    assert second.returncode == 0, second.stderr
    assert "kube-system" in second.stdout


def test_healthy_proxy_is_left_alone(on_proxy, world):
    result = on_proxy.kubectl("get", "namespaces")
    assert result.returncode == 0 and on_proxy.current_context() == "prod"


def test_fastest_healthy_node_is_chosen_when_one_is_down(logged_in, world):
    warmed_up(logged_in, "c-m-edge0001", "edge")
    world.cluster("c-m-edge0001").endpoint("cp1").set_down(True)
    world.rancher.set_mode("stopped")
    first = logged_in.kubectl("get", "namespaces")
    assert "to edge-cp2" in first.stderr
    assert logged_in.current_context() == "edge-cp2"
    assert logged_in.kubectl("get", "namespaces").returncode == 0


def test_fqdn_down_falls_back_to_a_healthy_node(tmp_path):
    from tests.conftest import PASSWORD, Sandbox
    from tests.sim import ClusterSpec, World
    with World(clusters=[ClusterSpec(name="lb", id="c-m-lb000001", ace="fqdn+nodes", nodes=("cp1", "cp2"))],
               users={"admin": PASSWORD}) as world:
        sandbox = Sandbox(tmp_path, world)
        sandbox.login()
        warmed_up(sandbox, "c-m-lb000001", "lb")
        world.cluster("c-m-lb000001").endpoint("fqdn").set_down(True)
        world.rancher.set_mode("stopped")
        first = sandbox.kubectl("get", "namespaces")
        assert "(ACE node)" in first.stderr
        assert sandbox.current_context() in ("lb-cp1", "lb-cp2")
        assert sandbox.kubectl("get", "namespaces").returncode == 0


def test_all_ace_endpoints_down_is_a_clear_error_listing_them(logged_in, world):
    warmed_up(logged_in, "c-m-edge0001", "edge")
    for node in ("cp1", "cp2"):
        world.cluster("c-m-edge0001").endpoint(node).set_down(True)
    world.rancher.set_mode("stopped")
    result = logged_in.kubectl("get", "namespaces")
    assert result.returncode != 0
    assert "no ACE endpoint answers" in result.stderr
    assert "edge-cp1 connection refused" in result.stderr and "edge-cp2 connection refused" in result.stderr
    assert logged_in.current_context() == "edge"


def test_cluster_without_ace_says_there_is_nothing_to_fail_over_to(logged_in, world):
    warmed_up(logged_in, "c-plain1", "plain")
    world.rancher.set_mode("stopped")
    result = logged_in.kubectl("get", "namespaces")
    assert result.returncode != 0 and "no Authorized Cluster Endpoint context" in result.stderr
    assert logged_in.current_context() == "plain"


def test_switches_back_when_rancher_returns(on_proxy, world):
    world.rancher.set_mode("stopped")
    on_proxy.kubectl("get", "namespaces")
    assert on_proxy.current_context() == "prod-fqdn"
    world.rancher.set_mode("up")
    on_proxy.age_health()
    result = on_proxy.kubectl("get", "namespaces")
    assert result.returncode == 0, result.stderr
    assert "switched the current context back from prod-fqdn to prod" in result.stderr
    assert on_proxy.current_context() == "prod"
    assert on_proxy.kubectl("get", "namespaces").returncode == 0


def test_a_context_chosen_by_hand_is_never_switched_back(on_proxy, world):
    world.rancher.set_mode("stopped")
    on_proxy.kubectl("get", "namespaces")
    assert on_proxy.ace("switch", "prod-fqdn").returncode == 0
    world.rancher.set_mode("up")
    on_proxy.age_health()
    result = on_proxy.kubectl("get", "namespaces")
    assert result.returncode == 0 and on_proxy.current_context() == "prod-fqdn"


def test_user_on_ace_by_choice_stays_there(logged_in, world):
    logged_in.exec_kubeconfig("c-m-prod0001", current="prod-fqdn")
    result = logged_in.kubectl("get", "namespaces", env={"KUBECTL_ACE_HEALTH_TTL": "0"})
    assert result.returncode == 0 and logged_in.current_context() == "prod-fqdn"


def test_explicit_context_is_not_switched_but_named(on_proxy, world):
    on_proxy.exec_kubeconfig("c-m-prod0001", current="prod-fqdn")
    world.rancher.set_mode("stopped")
    result = on_proxy.kubectl("get", "namespaces", "--context", "prod")
    assert result.returncode != 0 and "rerun with --context prod-fqdn" in result.stderr
    assert on_proxy.current_context() == "prod-fqdn"


def test_disabled_failover_leaves_the_context(on_proxy, world):
    world.rancher.set_mode("stopped")
    result = on_proxy.kubectl("get", "namespaces", env={"KUBECTL_ACE_FAILOVER": "0"})
    assert result.returncode != 0 and on_proxy.current_context() == "prod"


def test_kubectl_subcommand_uses_ace_without_touching_the_kubeconfig(on_proxy, world):
    before = on_proxy.kubeconfig.read_bytes()
    world.rancher.set_mode("stopped")
    result = on_proxy.ace("kubectl", "get", "namespaces")
    assert result.returncode == 0, result.stderr
    assert "kube-system" in result.stdout and "using prod-fqdn" in result.stderr
    assert on_proxy.kubeconfig.read_bytes() == before


def test_kubectl_subcommand_passes_the_exit_code_through(on_proxy):
    result = on_proxy.ace("kubectl", "get", "namespace", "does-not-exist")
    assert result.returncode == 1 and ("NotFound" in result.stderr or "not found" in result.stderr)


def test_writes_land_where_client_go_puts_them(on_proxy, world, tmp_path):
    """KUBECONFIG=a:b with current-context set in b: the switch edits b's current-context line only."""
    config = yaml.safe_load(on_proxy.kubeconfig.read_text())
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    unrelated = {"apiVersion": "v1", "kind": "Config", "clusters": [{"name": "other", "cluster": {"server": "https://127.0.0.9:1"}}],
                 "users": [{"name": "other", "user": {"token": "not-a-rancher-token"}}],
                 "contexts": [{"name": "other", "context": {"cluster": "other", "user": "other"}}]}
    first.write_text("# my own notes\n" + yaml.safe_dump(unrelated))
    second.write_text("# managed by hand\n" + yaml.safe_dump(config, sort_keys=False))
    first_before, second_before = first.read_text(), second.read_text()
    second.chmod(0o640)
    env = {"KUBECONFIG": f"{first}:{second}"}
    world.rancher.set_mode("stopped")
    result = on_proxy.kubectl("get", "namespaces", env=env)
    assert "switched the current context" in result.stderr
    assert first.read_text() == first_before
    assert second.read_text() == second_before.replace("current-context: prod", "current-context: prod-fqdn")
    assert second.stat().st_mode & 0o777 == 0o640
    assert on_proxy.kubectl("get", "namespaces", env=env).returncode == 0


def test_parallel_calls_during_an_outage_switch_once(on_proxy, world):
    before = yaml.safe_load(on_proxy.kubeconfig.read_text())
    world.rancher.set_mode("stopped")
    with ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(lambda _: on_proxy.kubectl("get", "namespaces", timeout=120), range(32)))
    after = yaml.safe_load(on_proxy.kubeconfig.read_text())
    assert after == dict(before, **{"current-context": "prod-fqdn"})
    assert all(r.returncode == 0 or "prod-fqdn" in r.stderr for r in results)


def test_status_shows_each_endpoint_and_the_choice(on_proxy, world):
    world.rancher.set_mode("stopped")
    result = on_proxy.ace("status", "-o", "json")
    assert result.returncode == 0, result.stderr
    [cluster] = json.loads(result.stdout)
    rows = {row["context"]: row for row in cluster["endpoints"]}
    assert rows["prod"]["kind"] == "proxy" and not rows["prod"]["reachable"]
    assert rows["prod-fqdn"]["kind"] == "fqdn" and rows["prod-fqdn"]["healthy"] and rows["prod-fqdn"]["chosen"]
    assert cluster["chosen"] == "prod-fqdn" and cluster["token"]["expires"]
    table = on_proxy.ace("status")
    assert "prod-fqdn" in table.stdout and "would use prod-fqdn" in table.stdout


def test_switch_modes(on_proxy, world):
    assert on_proxy.ace("switch", "--ace").returncode == 0 and on_proxy.current_context() == "prod-fqdn"
    assert on_proxy.ace("switch", "--proxy").returncode == 0 and on_proxy.current_context() == "prod"
    world.rancher.set_mode("stopped")
    assert on_proxy.ace("switch", "--auto").returncode == 0 and on_proxy.current_context() == "prod-fqdn"
    missing = on_proxy.ace("switch", "nope")
    assert missing.returncode != 0 and "'nope' is not in the kubeconfig" in missing.stderr


def test_kubeconfig_as_rancher_writes_it_fails_over_too(logged_in, world):
    """No provideClusterInfo: the plugin reads kubectl's kubeconfig to learn which endpoint is in use."""
    from tests.test_exec_credential import generate_kubeconfig
    world.settings["kubeconfig-generate-token"] = "false"
    text = generate_kubeconfig(logged_in, world, "c-m-prod0001")
    assert "provideClusterInfo" not in text
    logged_in.kubeconfig.write_text(text.replace("command: rancher", "command: kubectl-ace"))
    assert logged_in.kubectl("get", "namespaces").returncode == 0
    logged_in.age_health()
    world.rancher.set_mode("stopped")
    first = logged_in.kubectl("get", "namespaces")
    assert "switched the current context from prod to prod-fqdn" in first.stderr
    assert first.stderr.count("kubectl-ace:") == 1
    assert logged_in.kubectl("get", "namespaces").returncode == 0
    world.rancher.set_mode("up")
    logged_in.age_health()
    back = logged_in.kubectl("get", "namespaces")
    assert back.returncode == 0 and "switched the current context back" in back.stderr
    assert logged_in.current_context() == "prod"


def test_the_cluster_extension_finds_endpoints_whatever_their_names(logged_in, world):
    """Contexts renamed by the user: only the extension says which is the proxy and which is ACE."""
    warmed_up(logged_in, "c-m-prod0001", "prod", extensions=True, names={"prod": "work", "prod-fqdn": "work-direct"})
    world.rancher.set_mode("stopped")
    first = logged_in.kubectl("get", "namespaces")
    assert "switched the current context from work to work-direct (ACE FQDN)" in first.stderr
    assert logged_in.kubectl("get", "namespaces").returncode == 0


def test_a_failed_failover_is_said_once_per_kubectl_run(logged_in, world):
    """kubectl runs the plugin again for each retry of its discovery: the reason is said once."""
    warmed_up(logged_in, "c-plain1", "plain")
    world.rancher.set_mode("stopped")
    result = logged_in.kubectl("get", "namespaces")
    assert result.stderr.count("no Authorized Cluster Endpoint context") == 1
