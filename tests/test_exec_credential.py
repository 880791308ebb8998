"""The exec credential end to end: real kubectl, the real exec protocol, the simulated Rancher and clusters."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from tests.conftest import EDGE_KUBECTLS, EXEC_V1, EXEC_V1BETA1, exec_versions_for

CASES = [(version, api, context)
         for version in EDGE_KUBECTLS
         for api in exec_versions_for(version)
         for context in ("prod", "prod-fqdn", "edge", "edge-cp2")]


@pytest.mark.parametrize("version,api_version,context", CASES,
                         ids=[f"kubectl{v[0]}.{v[1]}-{a.rsplit('/', 1)[1]}-{c}" for v, a, c in CASES])
def test_kubectl_gets_namespaces_through_proxy_and_ace(logged_in, version, api_version, context):
    cluster_id = "c-m-prod0001" if context.startswith("prod") else "c-m-edge0001"
    logged_in.exec_kubeconfig(cluster_id, api_version)
    result = logged_in.kubectl("get", "namespaces", "--context", context, version=version)
    assert result.returncode == 0, result.stderr
    assert "kube-system" in result.stdout


def test_proxy_and_ace_contexts_share_one_cluster_token(logged_in, world):
    logged_in.exec_kubeconfig("c-m-prod0001")
    for context in ("prod", "prod-fqdn", "prod"):
        assert logged_in.kubectl("get", "namespaces", "--context", context).returncode == 0
    assert world.counters.mints("c-m-prod0001") == 1


def test_parallel_calls_mint_one_token(logged_in, world):
    logged_in.exec_kubeconfig("c-m-prod0001", current="prod-fqdn")
    with ThreadPoolExecutor(max_workers=48) as pool:
        results = list(pool.map(lambda _: logged_in.kubectl("get", "--raw", "/version", timeout=120), range(48)))
    failures = [r.stderr for r in results if r.returncode != 0]
    assert not failures, failures[:3]
    assert world.counters.mints("c-m-prod0001") == 1


def test_cached_token_is_used_without_contacting_rancher(logged_in, world):
    logged_in.exec_kubeconfig("c-m-prod0001", current="prod-fqdn")
    assert logged_in.kubectl("get", "namespaces").returncode == 0
    world.counters.reset()
    world.rancher.set_mode("stopped")
    result = logged_in.kubectl("get", "namespaces")
    assert result.returncode == 0, result.stderr
    assert world.counters.requests("rancher") == 0


def test_rancher_generated_exec_kubeconfig_works_by_changing_command(logged_in, world):
    """A kubeconfig exactly as Rancher writes it for `rancher token`, with only `command:` changed."""
    world.settings["kubeconfig-generate-token"] = "false"
    for cluster_id, contexts in (("c-m-prod0001", ["prod", "prod-fqdn"]), ("c-m-edge0001", ["edge", "edge-cp1"])):
        text = generate_kubeconfig(logged_in, world, cluster_id)
        assert "command: rancher" in text
        logged_in.kubeconfig.write_text(text.replace("command: rancher", "command: kubectl-ace"))
        for context in contexts:
            result = logged_in.kubectl("get", "namespaces", "--context", context)
            assert result.returncode == 0, (context, result.stderr)
    assert world.counters.mints("c-m-prod0001") == 1
    assert world.counters.mints("c-m-edge0001") == 1


def test_rancher_kubeconfig_without_ace_gets_an_unscoped_token(logged_in, world):
    world.settings["kubeconfig-generate-token"] = "false"
    text = generate_kubeconfig(logged_in, world, "c-plain1")
    assert "--cluster" not in text
    logged_in.kubeconfig.write_text(text.replace("command: rancher", "command: kubectl-ace"))
    result = logged_in.kubectl("get", "namespaces")
    assert result.returncode == 0, result.stderr


def test_credential_answers_in_the_version_kubectl_asked_for(logged_in):
    for api_version in (EXEC_V1, EXEC_V1BETA1):
        info = json.dumps({"apiVersion": api_version, "kind": "ExecCredential", "spec": {"interactive": False}})
        # Through a shell, so each run has its own parent process, as each kubectl run does.
        result = logged_in.shell(f"kubectl-ace token --server={logged_in.world.rancher_url} --cluster=c-m-prod0001",
                                 env={"KUBERNETES_EXEC_INFO": info})
        assert result.returncode == 0, result.stderr
        credential = json.loads(result.stdout)
        assert credential["apiVersion"] == api_version
        assert credential["kind"] == "ExecCredential"
        assert result.stdout.count("\n") == 1 and result.stderr == ""


def test_without_exec_info_the_answer_is_v1beta1(logged_in):
    result = logged_in.ace("token", f"--server={logged_in.world.rancher_url}", "--cluster=c-m-prod0001")
    assert json.loads(result.stdout)["apiVersion"] == EXEC_V1BETA1


def test_expiry_is_reported_early_but_not_in_the_past(logged_in):
    import datetime
    result = logged_in.ace("token", f"--server={logged_in.world.rancher_url}", "--cluster=c-m-prod0001")
    reported = datetime.datetime.fromisoformat(
        json.loads(result.stdout)["status"]["expirationTimestamp"].replace("Z", "+00:00"))
    entry = logged_in.stored_token("c-m-prod0001")
    assert datetime.datetime.now(datetime.timezone.utc) < reported
    assert reported.timestamp() < entry["expires"]


def test_minted_token_does_not_outlive_the_login(logged_in, world):
    logged_in.ace("token", f"--server={logged_in.world.rancher_url}", "--cluster=c-m-prod0001")
    tokens = {t["name"]: t for t in world.tokens()}
    login = logged_in.stored_login()
    minted = tokens[login["clusters"]["c-m-prod0001"]["token_id"]]
    assert minted["clusterId"] == "c-m-prod0001"
    assert minted["expiresAt"] <= tokens[login["token_id"]]["expiresAt"]


def test_not_logged_in_fails_at_once_when_nobody_can_answer(sandbox, world):
    sandbox.exec_kubeconfig("c-m-prod0001", current="prod-fqdn")
    result = sandbox.kubectl("get", "namespaces", timeout=30)
    assert result.returncode != 0
    assert f"kubectl ace login --server {world.rancher_url}" in result.stderr
    assert world.counters.logins() == 0


def test_logout_revokes_tokens_and_empties_the_store(logged_in, world):
    logged_in.exec_kubeconfig("c-m-prod0001", current="prod-fqdn")
    assert logged_in.kubectl("get", "namespaces").returncode == 0
    before = len(world.tokens())
    result = logged_in.ace("logout")
    assert result.returncode == 0, result.stderr
    assert len(world.tokens()) == before - 2
    assert logged_in.stored() is None
    again = logged_in.kubectl("get", "namespaces", "--context", "prod")
    assert again.returncode != 0 and "kubectl ace login" in again.stderr


def test_logout_with_rancher_down_still_empties_the_store(logged_in, world):
    logged_in.ace("token", f"--server={world.rancher_url}", "--cluster=c-m-prod0001")
    world.rancher.set_mode("stopped")
    result = logged_in.ace("logout")
    assert result.returncode == 0, result.stderr
    assert "could not be told" in result.stderr
    assert logged_in.stored() is None


def generate_kubeconfig(sandbox, world, cluster_id: str) -> str:
    """Ask the simulated Rancher for a kubeconfig, as the UI's download button does."""
    import requests
    answer = requests.post(f"{world.rancher_url}/v3/clusters/{cluster_id}?action=generateKubeconfig",
                           headers={"Authorization": "Bearer " + sandbox.stored_login()["token"]},
                           verify=str(world.rancher_ca_file), timeout=10)
    assert answer.status_code == 200, answer.text
    text = answer.json()["config"]
    yaml.safe_load(text)
    return text


def kubectl_answering_prompts(sandbox, prompts: list[tuple[bytes, bytes]]):
    """Run kubectl with a terminal on stdin (so exec is interactive) and answer the plugin's prompts.

    Returns (returncode, stdout, everything on stderr).
    """
    import os
    import select
    import subprocess

    master, slave = os.openpty()
    proc = subprocess.Popen([sandbox.kubectl_path, "get", "namespaces"], stdin=slave, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=sandbox.env, start_new_session=True)
    os.close(slave)
    seen = b""
    try:
        for prompt, answer in prompts:
            while prompt not in seen:
                ready, _, _ = select.select([proc.stderr], [], [], 30)
                assert ready, f"no {prompt!r} prompt; saw {seen[-300:]!r}"
                chunk = os.read(proc.stderr.fileno(), 4096)
                assert chunk, f"kubectl ended before the {prompt!r} prompt; saw {seen[-300:]!r}"  # not a busy loop
                seen += chunk
            os.write(master, answer)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        os.close(master)
    return proc.returncode, out, seen + err


LOGIN_PROMPTS = [(b"Username: ", b"admin\n"), (b"Password for admin: ", b"correct-horse-battery\n")]


def test_without_a_login_an_interactive_kubectl_gets_a_prompt(sandbox, world):
    """kubectl on a terminal (interactiveMode IfAvailable) passes its stdin: the plugin prompts on stderr."""
    sandbox.exec_kubeconfig("c-m-prod0001", api_version=EXEC_V1BETA1, current="prod-fqdn")
    # The login it starts needs Rancher's CA: `--cacerts`, as for `rancher token`.
    config = yaml.safe_load(sandbox.kubeconfig.read_text())
    config["users"][0]["user"]["exec"]["args"].append(f"--cacerts={world.rancher_ca_file}")
    sandbox.write_kubeconfig(config)
    code, out, err = kubectl_answering_prompts(sandbox, LOGIN_PROMPTS)
    assert code == 0, err
    assert b"kube-system" in out and b"Username" not in out and b"correct-horse-battery" not in err
    assert world.counters.logins() == 1 and world.counters.mints("c-m-prod0001") == 1


def test_exec_login_trusts_the_ca_kubectl_uses_for_the_rancher_proxy(sandbox, world):
    """No --cacerts and no login yet: the proxy cluster's CA (provideClusterInfo) is Rancher's CA."""
    sandbox.exec_kubeconfig("c-m-prod0001", api_version=EXEC_V1BETA1, current="prod")
    config = yaml.safe_load(sandbox.kubeconfig.read_text())
    config["users"][0]["user"]["exec"]["provideClusterInfo"] = True
    sandbox.write_kubeconfig(config)
    code, out, err = kubectl_answering_prompts(sandbox, LOGIN_PROMPTS)
    assert code == 0, err
    assert b"kube-system" in out
