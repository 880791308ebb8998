"""Ready before Rancher fails: each ACE cluster holds a token its ACE endpoints accept; status reports it read-only."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import time

from tests.conftest import KUBECTLS, background_runs

PROD, EDGE, PLAIN = "c-m-prod0001", "c-m-edge0001", "c-plain1"


def minted(world) -> list[str]:
    """The cluster tokens kubectl-ace has minted at Rancher so far."""
    return [t["name"] for t in world.tokens() if t["description"].startswith("kubectl-ace")]


def merged(sandbox, *extra: str):
    result = sandbox.ace("kubeconfig", "--all", "--merge", *extra)
    assert result.returncode == 0, result.stderr
    return result


def on_terminal(sandbox, *args: str, timeout: float = 60) -> tuple[int, str]:
    """Run kubectl-ace with stdout and stderr on a pseudo-terminal; its exit code and everything it wrote there."""
    master, slave = pty.openpty()
    process = subprocess.Popen(["kubectl-ace", *args], stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
                               env=sandbox.env)
    os.close(slave)
    chunks, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    data = os.read(master, 4096)
                except OSError:
                    break  # the other side closed: the process ended
                if not data:
                    break
                chunks.append(data)
            elif process.poll() is not None:
                break
        return process.wait(timeout=max(1.0, deadline - time.monotonic())), b"".join(chunks).decode()
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
            process.wait()


def test_after_the_fetch_an_unused_clusters_ace_context_works_with_rancher_stopped(logged_in, world):
    result = merged(logged_in)
    assert "ready for a Rancher outage: 2/2 clusters" in result.stderr
    world.rancher.set_mode("stopped")
    for context in ("edge-cp1", "prod-fqdn"):
        used = logged_in.kubectl("--context", context, "get", "namespaces")
        assert used.returncode == 0, used.stderr
        assert "kube-system" in used.stdout


def test_the_fetch_waits_for_rancher_to_sync_and_shows_progress_on_a_terminal(logged_in, world):
    world.set_sync_delay(3.0, PROD)
    code, text = on_terminal(logged_in, "kubeconfig", "--all", "--merge")
    assert code == 0, text
    assert "waiting for Rancher's sync" in text
    assert "ready for a Rancher outage: 2/2 clusters" in text
    assert len(minted(world)) == 2  # one token per ACE cluster, none for the cluster without ACE


def test_a_cluster_rancher_has_not_synced_is_listed_with_the_reason_and_is_not_fatal(logged_in, world):
    merged(logged_in, "--no-prepare")
    world.set_sync_delay(600.0, PROD)
    result = logged_in.ace("prepare", "--all", "--wait", "1")
    assert result.returncode == 0, result.stderr
    assert ("ready for a Rancher outage: 1/2 clusters; prod: its ACE endpoints refuse the token after 1 s "
            "(Rancher has not synced it yet)") in result.stderr
    assert "\r" not in result.stderr  # no progress line when stderr is no terminal


def test_prepare_with_rancher_down_and_no_token_says_why_and_exits_7(logged_in, world):
    merged(logged_in, "--no-prepare")
    world.rancher.set_mode("stopped")
    result = logged_in.ace("prepare", "--all")
    assert result.returncode == 7, result.stderr
    assert "ready for a Rancher outage: 0/2 clusters" in result.stderr and "no token (cannot reach Rancher" in result.stderr


def test_prepare_of_a_ready_cluster_mints_nothing(logged_in, world):
    merged(logged_in)
    before = minted(world)
    result = logged_in.ace("prepare", "--context", "edge-cp2")
    assert result.returncode == 0 and "ready for a Rancher outage: 1/1 cluster" in result.stderr
    assert minted(world) == before


def test_login_prepares_the_kubeconfigs_clusters_of_its_server_unless_told_not_to(logged_in, world):
    merged(logged_in, "--no-prepare")
    assert "ready for a Rancher outage" not in logged_in.login("admin", "correct-horse-battery", "--no-prepare").stderr
    assert minted(world) == []
    assert "ready for a Rancher outage: 2/2 clusters" in logged_in.login().stderr
    assert len(minted(world)) == 2


def test_status_mints_nothing_and_reports_readiness_per_cluster(logged_in, world):
    merged(logged_in, "--no-prepare")
    result = logged_in.ace("status", "--all", "-o", "json")
    assert result.returncode == 0, result.stderr
    assert minted(world) == []
    readiness = {c["cluster"]: c["readiness"] for c in json.loads(result.stdout)}
    assert not readiness[PROD]["ready"] and "no cluster token yet" in readiness[PROD]["reason"]
    assert readiness[PLAIN] == {"ready": False, "reason": "no ACE endpoint in the kubeconfig", "tokenExpires": None,
                                "verifiedAt": None}
    assert logged_in.ace("prepare", "--all").returncode == 0
    world.rancher.set_mode("stopped")
    down = logged_in.ace("status", "--all", "-o", "json")
    assert down.returncode == 0, down.stderr
    for cluster in json.loads(down.stdout):
        if cluster["cluster"] != PLAIN:
            assert cluster["readiness"]["ready"] and cluster["readiness"]["reason"] is None
            assert cluster["readiness"]["tokenExpires"] == cluster["token"]["expires"]
            assert cluster["readiness"]["verifiedAt"]
            assert not cluster["rancher"]["reachable"]


def test_status_table_names_every_column_and_ends_with_the_readiness_summary(logged_in, world):
    merged(logged_in)
    world.rancher.set_mode("stopped")
    result = logged_in.ace("status", "--all")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["CLUSTER", "CONTEXT", "KIND", "REACHABLE", "LATENCY", "RESULT", "MARKS"]
    assert any(line.split()[:2] == [EDGE, "edge-cp1"] for line in lines)
    assert lines[-1] == "ready for a Rancher outage: 2/2 clusters"
    yaml_out = logged_in.ace("status", "--all", "-o", "yaml")
    assert yaml_out.returncode == 0 and "readiness:" in yaml_out.stdout


def test_status_says_a_refused_token_is_not_ready(logged_in, world):
    merged(logged_in)
    logged_in.edit_store(lambda data: data["logins"]["admin"]["clusters"][PROD].update(refused_at=time.time()))
    result = logged_in.ace("status", "prod", "-o", "json")
    [cluster] = json.loads(result.stdout)
    assert not cluster["readiness"]["ready"] and "its token was refused at" in cluster["readiness"]["reason"]


# --- staying ready ---

def test_a_kubectl_call_refreshes_another_clusters_prepared_token_in_the_background(logged_in, world):
    merged(logged_in)
    old = logged_in.stored_token(EDGE)
    now = time.time()
    logged_in.edit_store(lambda data: data["logins"]["admin"]["clusters"][EDGE].update(expires=now + 100,
                                                                                       minted=now - 3600))
    used = logged_in.kubectl("--context", "prod-fqdn", "get", "namespaces")
    assert used.returncode == 0, used.stderr

    def renewed() -> bool:
        entry = logged_in.stored_token(EDGE)
        return entry["token"] != old["token"] and bool(entry.get("verified_at"))

    assert world.wait_for(renewed, timeout=30)
    assert logged_in.stored()["refresh_started"] >= now
    assert logged_in.stored_token(EDGE)["expires"] > now + 3600


def test_a_short_lived_login_warns_once_a_day_when_ace_access_would_end(logged_in, world):
    logged_in.login("admin", "correct-horse-battery", "--ttl", "2h", "--no-prepare")
    merged(logged_in)
    first = logged_in.kubectl("--context", "prod-fqdn", "get", "namespaces")
    assert first.returncode == 0, first.stderr
    assert "if Rancher fails now, ACE access to 2 clusters ends at " in first.stderr
    assert "; run kubectl ace login --server" in first.stderr
    again = logged_in.kubectl("--context", "prod-fqdn", "get", "namespaces")
    assert again.returncode == 0 and "if Rancher fails now" not in again.stderr


# --- the blind window ---

def test_a_trusted_state_past_half_its_ttl_is_reprobed_in_the_background(logged_in, world):
    """The call trusts the state and returns; the detached re-probe finds the stalled Rancher and fails over, so the
    next call works through ACE instead of hanging on kubectl's TLS timeout."""
    logged_in.exec_kubeconfig(PROD, current="prod")
    assert logged_in.kubectl("get", "namespaces").returncode == 0
    logged_in.age_health(6)  # past half of the 10 s TTL, still trusted
    world.rancher.set_mode("stalled")
    cluster = world.cluster(PROD)
    info = json.dumps({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                       "spec": {"interactive": False, "cluster": {"server": cluster.proxy_url}}})
    token = logged_in.ace("token", f"--server={world.rancher_url}", f"--cluster={PROD}",
                          env={"KUBERNETES_EXEC_INFO": info})
    assert token.returncode == 0, token.stderr
    assert world.wait_for(lambda: logged_in.current_context() == "prod-fqdn", timeout=30)
    first = logged_in.kubectl("get", "namespaces")
    assert first.returncode == 0, first.stderr
    assert "is down (timed out); switched the current context from prod to prod-fqdn" in first.stderr


def watchers(sandbox) -> list[int]:
    return background_runs(str(sandbox.store), "--reprobe")


def proxy_state(sandbox) -> dict:
    [path] = (sandbox.store / "health").glob("*.json")
    return json.loads(path.read_text()).get(f"proxy:{PROD}", {})


def test_while_kubectl_calls_go_on_the_watcher_sees_rancher_stop_and_fails_over_before_the_next_call(
        logged_in, world):
    logged_in.exec_kubeconfig(PROD, current="prod")
    assert logged_in.kubectl("get", "namespaces").returncode == 0
    logged_in.age_health(6)  # past half the TTL: the next call starts the watcher
    aged = proxy_state(logged_in)["checked"]
    assert logged_in.kubectl("get", "namespaces").returncode == 0
    assert world.wait_for(lambda: proxy_state(logged_in).get("checked", 0) > aged, timeout=30)  # its first probe
    world.rancher.set_mode("stopped")  # no kubectl call from here on until the watcher has switched
    assert world.wait_for(lambda: logged_in.current_context() == "prod-fqdn", timeout=30)
    assert world.wait_for(lambda: not watchers(logged_in), timeout=30)  # it ended at the failed probe
    first = logged_in.kubectl("get", "namespaces")
    assert first.returncode == 0, first.stderr  # already on ACE: this call works
    assert "switched the current context from prod to prod-fqdn (ACE FQDN) at " in first.stderr
    assert f"the Rancher proxy of cluster {PROD} at {world.rancher_url} is down (connection refused)" in first.stderr
    again = logged_in.kubectl("get", "namespaces")
    assert again.returncode == 0 and "switched" not in again.stderr  # said once
    world.rancher.set_mode("up")
    logged_in.age_health()
    back = logged_in.kubectl("get", "namespaces")
    assert back.returncode == 0 and "switched the current context back from prod-fqdn to prod" in back.stderr


def test_the_watcher_does_not_fail_over_for_a_kubectl_told_not_to(logged_in, world):
    logged_in.exec_kubeconfig(PROD, current="prod")
    logged_in.env["KUBECTL_ACE_FAILOVER"] = "0"
    logged_in.env["KUBECTL_ACE_WATCH_IDLE"] = "2"
    assert logged_in.kubectl("get", "namespaces").returncode == 0
    logged_in.age_health(6)
    assert logged_in.kubectl("get", "namespaces").returncode == 0
    world.rancher.set_mode("stopped")
    assert world.wait_for(lambda: not watchers(logged_in), timeout=30)
    assert logged_in.current_context() == "prod"


def test_the_watcher_ends_once_kubectl_calls_stop(logged_in, world):
    logged_in.exec_kubeconfig(PROD, current="prod")
    logged_in.env["KUBECTL_ACE_WATCH_IDLE"] = "2"
    assert logged_in.kubectl("get", "namespaces").returncode == 0
    logged_in.age_health(6)
    aged = proxy_state(logged_in)["checked"]
    assert logged_in.kubectl("get", "namespaces").returncode == 0
    assert world.wait_for(lambda: proxy_state(logged_in).get("checked", 0) > aged, timeout=30)
    assert world.wait_for(lambda: not watchers(logged_in), timeout=30)
    assert proxy_state(logged_in)["reachable"] is True


def test_a_background_refresh_reads_the_kubeconfig_kubectl_was_given(logged_in, world):
    merged(logged_in)
    given = logged_in.kubeconfig.with_name("given.yaml")
    logged_in.kubeconfig.rename(given)  # the default kubeconfig (KUBECONFIG) is now empty of these clusters
    old = logged_in.stored_token(EDGE)
    now = time.time()
    logged_in.edit_store(lambda data: data["logins"]["admin"]["clusters"][EDGE].update(expires=now + 100,
                                                                                       minted=now - 3600))
    used = logged_in.kubectl("--kubeconfig", str(given), "--context", "prod-fqdn", "get", "namespaces")
    assert used.returncode == 0, used.stderr

    def renewed() -> bool:
        entry = logged_in.stored_token(EDGE)
        return entry["token"] != old["token"] and bool(entry.get("verified_at"))

    assert world.wait_for(renewed, timeout=30)


def test_a_background_run_never_imports_kubectl_ace_from_kubectls_working_directory(logged_in, world, tmp_path):
    """kubectl runs the plugin in the user's working directory; the watcher it starts must run the installed
    kubectl-ace, not a `kubectl_ace` folder that happens to be there."""
    elsewhere = tmp_path / "checkout"
    (elsewhere / "kubectl_ace").mkdir(parents=True)
    marker = tmp_path / "imported-from-the-working-directory"
    (elsewhere / "kubectl_ace" / "__init__.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    (elsewhere / "kubectl_ace" / "__main__.py").write_text("")
    logged_in.exec_kubeconfig(PROD, current="prod")
    assert logged_in.kubectl("get", "namespaces").returncode == 0
    logged_in.age_health(6)
    aged = proxy_state(logged_in)["checked"]
    used = subprocess.run([KUBECTLS[logged_in.kubectl_version], "get", "namespaces"], env=logged_in.env, cwd=elsewhere,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert used.returncode == 0, used.stderr
    assert world.wait_for(lambda: proxy_state(logged_in).get("checked", 0) > aged, timeout=30)  # the watcher ran
    assert not marker.exists()
