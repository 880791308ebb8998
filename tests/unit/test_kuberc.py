"""kuberc decisions without kubectl or the simulator: which file is in force, how it reads, what kubectl would do.

The expected answers are what real kubectl 1.36.4 and 1.37.1 did with the same files (tests/test_kuberc.py runs the
main cases through real kubectl); 1.35 answers follow its schema, which has `name:` and no `command:`.
"""

from __future__ import annotations

import os

import pytest

from kubectl_ace import kuberc

pytestmark = pytest.mark.timeout(10)  # pure decisions: anything slow is a hang
HEADER = "apiVersion: kubectl.config.k8s.io/v1beta1\nkind: Preference\n"
SET_FIX = "kubectl kuberc set --section credentialplugin --policy Allowlist --allowlist-entry command=kubectl-ace"


def read(text: str, version=(1, 37), command: str = "kubectl-ace", path_env: str = "") -> kuberc.Verdict:
    return kuberc.decide(kuberc.preference(text), version, command, path_env, "~/.kube/kuberc")


# -- which file ---------------------------------------------------------------------------------

def test_the_default_kuberc_is_in_the_home_directory():
    assert kuberc.locate({"HOME": "/h"}) == kuberc.Location("/h/.kube/kuberc", False)


def test_kuberc_env_and_flag_name_the_file_and_the_flag_wins():
    assert kuberc.locate({"HOME": "/h", "KUBERC": "/k"}) == kuberc.Location("/k", True)
    assert kuberc.locate({"HOME": "/h", "KUBERC": "/k"}, flag="/f") == kuberc.Location("/f", True)


def test_kuberc_off_and_kubectl_kuberc_false_turn_it_off_but_only_as_kubectl_spells_them():
    assert kuberc.locate({"KUBERC": "off"}) is None
    assert kuberc.locate({"KUBECTL_KUBERC": "false"}) is None
    assert kuberc.locate({"KUBECTL_KUBERC": "False", "KUBERC": "/k"}) is None
    assert kuberc.locate({"HOME": "/h", "KUBERC": "OFF"}) == kuberc.Location("OFF", True)  # a file named OFF
    assert kuberc.locate({"HOME": "/h", "KUBECTL_KUBERC": "0"}) == kuberc.Location("/h/.kube/kuberc", False)
    assert kuberc.locate({"HOME": "/h"}, flag="off") == kuberc.Location("off", True)


# -- reading ------------------------------------------------------------------------------------

def test_the_file_kubectl_kuberc_set_writes_reads_back():
    text = ("aliases: null\napiVersion: kubectl.config.k8s.io/v1beta1\ncredentialPluginAllowlist:\n"
            "- command: aws\n- command: kubectl-ace\ncredentialPluginPolicy: Allowlist\ndefaults: null\n"
            "kind: Preference\n")
    assert kuberc.preference(text) == {"aliases": None, "apiVersion": kuberc.API_VERSION,
                                       "credentialPluginAllowlist": [{"command": "aws"}, {"command": "kubectl-ace"}],
                                       "credentialPluginPolicy": "Allowlist", "defaults": None, "kind": "Preference"}


def test_flow_style_quotes_comments_and_nested_entries_read_as_yaml_does():
    text = (HEADER + "# mine\ncredentialPluginPolicy: 'Allowlist'  # yes\ncredentialPluginAllowlist: [{command: aws},\n"
            '  {name: "kubectl-ace"}]\naliases:\n  - name: getn\n    command: get\n    options:\n'
            "      - name: output\n        default: json\n")
    document = kuberc.preference(text)
    assert document["credentialPluginPolicy"] == "Allowlist"
    assert document["credentialPluginAllowlist"] == [{"command": "aws"}, {"name": "kubectl-ace"}]
    assert document["aliases"] == [{"name": "getn", "command": "get",
                                    "options": [{"name": "output", "default": "json"}]}]


def test_the_first_valid_preference_document_counts():
    text = "foo: bar\n---\n" + HEADER + "credentialPluginPolicy: DenyAll\n---\n" + HEADER
    assert kuberc.preference(text)["credentialPluginPolicy"] == "DenyAll"


@pytest.mark.parametrize("text", ["credentialPluginPolicy: DenyAll\n",  # no apiVersion/kind
                                  HEADER + "credentialPluginPolicy: 3\n",
                                  HEADER + "credentialPluginPolicy: Allowlist\n"
                                           "credentialPluginAllowlist: kubectl-ace\n",
                                  "", "- a\n- b\n"])
def test_kubectl_ignores_a_file_without_a_valid_preference(text):
    assert kuberc.preference(text) is None
    assert read(text).allowed


def test_a_v1alpha1_preference_has_no_credential_plugin_policy():
    verdict = read("apiVersion: kubectl.config.k8s.io/v1alpha1\nkind: Preference\ncredentialPluginPolicy: DenyAll\n")
    assert verdict.allowed and "allows credential plugins" in verdict.detail


def test_yaml_anchors_are_read_as_kubectl_reads_them(tmp_path):
    path = tmp_path / "kuberc"
    path.write_text(HEADER + "credentialPluginPolicy: &p DenyAll\n")
    verdict = kuberc.check({"KUBERC": str(path), "PATH": ""}, (1, 37))
    assert not verdict.allowed and verdict.certain


def test_a_file_that_is_not_yaml_is_reported_not_guessed(tmp_path):
    path = tmp_path / "kuberc"
    path.write_text(HEADER + "credentialPluginPolicy: [DenyAll\n")
    verdict = kuberc.check({"KUBERC": str(path), "PATH": ""}, (1, 37))
    assert not verdict.certain and "kubectl kuberc view" in verdict.fix


# -- deciding -----------------------------------------------------------------------------------

def test_before_1_35_no_policy_applies():
    verdict = read(HEADER + "credentialPluginPolicy: DenyAll\n", (1, 34))
    assert verdict.allowed and "no credential plugin policy" in verdict.detail


@pytest.mark.parametrize("policy", ["", "credentialPluginPolicy: AllowAll\n", "credentialPluginPolicy: ''\n"])
def test_allow_all_and_no_policy_run_the_plugin(policy):
    assert read(HEADER + policy).allowed


def test_deny_all_blocks_and_the_fix_is_kubectl_kuberc_set_from_1_36():
    for version in ((1, 36), (1, 37)):
        verdict = read(HEADER + "credentialPluginPolicy: DenyAll\n", version)
        assert not verdict.allowed and not verdict.broken and "DenyAll" in verdict.detail
        assert verdict.fix == SET_FIX


def test_on_1_35_the_fix_is_a_hand_edit_with_name():
    verdict = read(HEADER + "credentialPluginPolicy: DenyAll\n", (1, 35))
    assert not verdict.allowed
    assert "credentialPluginAllowlist: [{name: kubectl-ace}]" in verdict.fix and "by hand" in verdict.fix
    assert "kuberc set" not in verdict.fix.split("(")[0]


def test_a_command_entry_allows_the_plugin_from_1_36():
    """The reported defect: `[{command: kubectl-ace}]` was read as an empty allowlist."""
    verdict = read(HEADER + "credentialPluginPolicy: Allowlist\ncredentialPluginAllowlist: [{command: kubectl-ace}]\n")
    assert verdict.allowed and "kubectl-ace" in verdict.detail


def test_a_1_35_name_entry_allows_the_plugin_on_every_version_with_policies():
    text = HEADER + "credentialPluginPolicy: Allowlist\ncredentialPluginAllowlist:\n- name: kubectl-ace\n"
    assert all(read(text, version).allowed for version in ((1, 35), (1, 36), (1, 37)))


def test_on_1_35_a_command_entry_is_empty_so_kubectl_refuses_to_start():
    verdict = read(HEADER + "credentialPluginPolicy: Allowlist\ncredentialPluginAllowlist: [{command: kubectl-ace}]\n",
                   (1, 35))
    assert verdict.broken and "empty allowlist entry #1" in verdict.detail and "{name: kubectl-ace}" in verdict.fix


def test_name_and_command_that_differ_make_1_36_ignore_the_file_and_1_35_read_the_name():
    text = (HEADER + "credentialPluginPolicy: Allowlist\ncredentialPluginAllowlist:\n"
            "- name: aws\n  command: kubectl-ace\n")
    assert read(text, (1, 37)).allowed and "ignores it" in read(text, (1, 37)).detail
    assert not read(text, (1, 35)).allowed


def test_an_allowlist_without_the_plugin_blocks_and_the_fix_keeps_the_other_entries():
    text = HEADER + "credentialPluginPolicy: Allowlist\ncredentialPluginAllowlist:\n- name: aws\n- command: gke-auth\n"
    verdict = read(text)
    assert not verdict.allowed and "aws, gke-auth" in verdict.detail
    assert verdict.fix == ("kubectl kuberc set --section credentialplugin --policy Allowlist "
                           "--allowlist-entry command=aws --allowlist-entry command=gke-auth "
                           "--allowlist-entry command=kubectl-ace")


@pytest.mark.parametrize("body,said", [
    ("credentialPluginPolicy: Allowlist\ncredentialPluginAllowlist: []\n", "allowlist is empty"),
    ("credentialPluginPolicy: Allowlist\n", "allowlist is unspecified"),
    ("credentialPluginPolicy: Allowlist\ncredentialPluginAllowlist:\n- command: ''\n", "empty allowlist entry #1"),
    ("credentialPluginPolicy: Allowlist\ncredentialPluginAllowlist:\n- command: ./bin/kubectl-ace\n", "non-normalized"),
    ("credentialPluginPolicy: Allowlist\ncredentialPluginAllowlist:\n- command: /a//b\n", "non-normalized"),
    ("credentialPluginPolicy: denyall\n", "unknown plugin policy"),
    ("credentialPluginPolicy: DenyAll\ncredentialPluginAllowlist: [{command: x}]\n", "allowlist is non-nil"),
    ("credentialPluginAllowlist: []\n", "allowlist is non-nil"),
])
def test_a_misconfigured_policy_stops_kubectl_and_the_fix_is_a_hand_edit(body, said):
    verdict = read(HEADER + body)
    assert not verdict.allowed and verdict.broken and said in verdict.detail
    assert "by hand" in verdict.fix and "{command: kubectl-ace}" in verdict.fix


def test_an_entry_matches_the_lookpath_result_but_not_a_symlink_target(tmp_path):
    """krew links ~/.krew/bin/kubectl-ace to its store: an entry with the store path does not match."""
    store = tmp_path / "store" / "kubectl-ace"
    store.parent.mkdir()
    store.write_text("#!/bin/sh\n")
    store.chmod(0o755)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "kubectl-ace").symlink_to(store)
    body = HEADER + "credentialPluginPolicy: Allowlist\ncredentialPluginAllowlist:\n- command: {}\n"
    assert read(body.format(bindir / "kubectl-ace"), path_env=str(bindir)).allowed
    assert not read(body.format(store), path_env=str(bindir)).allowed
    # An absolute command in the kubeconfig matches a bare entry that LookPath resolves to it.
    assert read(body.format("kubectl-ace"), command=str(bindir / "kubectl-ace"), path_env=str(bindir)).allowed
    assert not read(body.format("kubectl-ace"), command=str(store), path_env=str(bindir)).allowed


def test_lookpath_skips_relative_path_entries_as_go_does(tmp_path, monkeypatch):
    (tmp_path / "kubectl-ace").write_text("#!/bin/sh\n")
    (tmp_path / "kubectl-ace").chmod(0o755)
    monkeypatch.chdir(tmp_path)
    assert kuberc.lookpath("kubectl-ace", "." + os.pathsep) == ""
    assert kuberc.lookpath("kubectl-ace", str(tmp_path)) == str(tmp_path / "kubectl-ace")


# -- the file in force --------------------------------------------------------------------------

def test_an_explicit_kuberc_that_is_missing_stops_kubectl_but_a_missing_default_does_not(tmp_path):
    missing = str(tmp_path / "nope")
    assert kuberc.check({"KUBERC": missing, "PATH": ""}, (1, 37)).broken
    assert kuberc.check({"HOME": str(tmp_path), "PATH": ""}, (1, 37)).allowed


def test_a_kuberc_without_a_policy_needs_no_kubectl_to_decide(tmp_path):
    (tmp_path / "kuberc").write_text(HEADER + "aliases:\n- name: getn\n  command: get\n")
    assert kuberc.check({"KUBERC": str(tmp_path / "kuberc"), "PATH": str(tmp_path / "empty")}).allowed


def test_the_warning_is_one_line_with_the_fix_and_empty_when_allowed(tmp_path):
    path = tmp_path / "kuberc"
    path.write_text(HEADER + "credentialPluginPolicy: DenyAll\n")
    environ = {"KUBERC": str(path), "PATH": str(tmp_path / "no-kubectl")}  # unknown kubectl: the newest rules
    line = kuberc.warning(environ)
    assert line.startswith("kubectl-ace: warning: ") and "\n" not in line and line.endswith(SET_FIX)
    path.write_text(HEADER + "credentialPluginPolicy: AllowAll\n")
    assert kuberc.warning(environ) == ""
