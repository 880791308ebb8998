"""The bad-inputs catalogue (issue 13): every parameter below is one bad input, and each must give one clear line.

For every case: exactly one line on stderr (no traceback, no `internal error`), a non-zero exit, stdout empty for
`token`, no token secret in the output, and the token store and kubeconfig unchanged byte for byte where the
command should not write them. Cases run through the real `kubectl-ace`, and through the real kubectl where
kubectl is the one that hands the input over.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

from tests.conftest import EXEC_V1, PASSWORD, Sandbox

PROD = "c-m-prod0001"
LINE_LIMIT = 400  # one clear line: a message that quotes a huge input back is not one


# --- what a case checks ---

def snapshot(sandbox: Sandbox) -> dict[str, bytes]:
    """Every file of the token store and the kubeconfig, byte for byte (temp files and locks are checked apart)."""
    files = {}
    if sandbox.store.is_dir():
        for path in sorted(sandbox.store.rglob("*")):
            if path.is_file() and path.parts[-2] in ("servers", "ca"):
                files[str(path)] = path.read_bytes()
    if sandbox.kubeconfig.is_file():
        files[str(sandbox.kubeconfig)] = sandbox.kubeconfig.read_bytes()
    return files


def one_clear_line(result, *, token: bool = False, secrets: list[str] = (), zero: bool = False) -> str:
    """The result failed (or, with zero, ended) with exactly one short line on stderr and leaked nothing."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr[:2000]
    line = lines[0]
    assert "Traceback" not in result.stderr and "internal error" not in line, line
    assert len(line) <= LINE_LIMIT, line[:LINE_LIMIT]
    assert (result.returncode == 0) if zero else (result.returncode != 0), (result.returncode, line)
    if token:
        assert result.stdout == "", "a failed `token` must print no ExecCredential"
    for secret in secrets:
        assert secret not in result.stdout + result.stderr, "a token secret was printed"
    return line


def unchanged(before: dict[str, bytes], sandbox: Sandbox, keep: tuple[str, ...] = ()) -> None:
    """The files of `before` (all, or those whose path ends with one of `keep`) are byte for byte the same."""
    after = snapshot(sandbox)
    for path, data in before.items():
        if not keep or path.endswith(keep):
            assert after.get(path) == data, f"{path} was changed"
    leftovers = [p for p in (sandbox.store / "servers").glob("*.tmp")] if sandbox.store.is_dir() else []
    assert not leftovers, leftovers
    assert not os.path.exists(f"{sandbox.kubeconfig}.lock")


def token_args(world) -> list[str]:
    return ["token", f"--server={world.rancher_url}", f"--cluster={PROD}"]


def exec_info(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def cluster_info(**cluster) -> dict:
    return {"kind": "ExecCredential", "apiVersion": EXEC_V1, "spec": {"interactive": False, "cluster": cluster}}


# --- 1. KUBERNETES_EXEC_INFO, set by kubectl (or by hand) ---

EXEC_INFOS = {
    "garbage": "\x01{{ not json at all",
    "truncated": '{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"inter',
    "a-list": [EXEC_V1],
    "a-string": "client.authentication.k8s.io/v1",
    "a-number": "42",
    "null": "null",
    "no-apiVersion": {"kind": "ExecCredential", "spec": {}},
    "unknown-apiVersion": {"kind": "ExecCredential", "apiVersion": "client.authentication.k8s.io/v2", "spec": {}},
    "apiVersion-a-number": {"kind": "ExecCredential", "apiVersion": 1, "spec": {}},
    "apiVersion-huge": {"kind": "ExecCredential", "apiVersion": "x" * 100_000, "spec": {}},
    "wrong-kind": {"kind": "Pod", "apiVersion": EXEC_V1, "spec": {}},
    "spec-a-list": {"kind": "ExecCredential", "apiVersion": EXEC_V1, "spec": []},
    "cluster-a-string": {"kind": "ExecCredential", "apiVersion": EXEC_V1, "spec": {"cluster": "prod"}},
    "server-a-number": cluster_info(server=443),
    "server-a-list": cluster_info(server=["https://127.0.0.1"]),
    "ca-data-a-number": cluster_info(**{"server": "https://127.0.0.1:6443", "certificate-authority-data": 7}),
    "interactive-a-string": {"kind": "ExecCredential", "apiVersion": EXEC_V1, "spec": {"interactive": "no"}},
    "huge": "[" + "1," * 60_000 + "1]",  # an environment string is capped at 128 KiB by the kernel
    "deeply-nested": "[" * 60_000 + "]" * 60_000,
}


@pytest.mark.parametrize("info", EXEC_INFOS.values(), ids=EXEC_INFOS.keys())
def test_bad_exec_info_is_one_line(logged_in, world, info):
    logged_in.exec_kubeconfig(PROD)
    assert logged_in.ace(*token_args(world)).returncode == 0  # a cached token: only the exec info is wrong
    before = snapshot(logged_in)
    result = logged_in.ace(*token_args(world), env={"KUBERNETES_EXEC_INFO": exec_info(info)})
    one_clear_line(result, token=True, secrets=logged_in.stored_secrets())
    unchanged(before, logged_in)


# What kubectl itself hands over from an odd kubeconfig: the cluster's exec extension (spec.cluster.config) is
# a hint, not a requirement (the args name the server and cluster), so kubectl-ace works and says nothing.
ODD_EXTENSIONS = {
    "extension-a-string": "kubectl-ace",
    "extension-a-list": [1, 2],
    "ours-a-string": {"kubectl-ace": "https://rancher"},
    "ours-wrong-types": {"kubectl-ace": {"server": 5, "clusterId": ["x"], "endpoint": {"a": 1}}},
}


@pytest.mark.parametrize("extension", ODD_EXTENSIONS.values(), ids=ODD_EXTENSIONS.keys())
def test_an_odd_exec_extension_from_kubectl_is_ignored(logged_in, world, extension):
    config = logged_in.exec_kubeconfig(PROD)
    for entry in config["clusters"]:
        entry["cluster"]["extensions"] = [{"name": "client.authentication.k8s.io/exec", "extension": extension}]
    logged_in.write_kubeconfig(config)
    before = snapshot(logged_in)
    result = logged_in.kubectl("get", "namespaces")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert "kubectl-ace" not in result.stderr
    unchanged(before, logged_in, keep=(".yaml",))


# --- 2. the token store's server file ---

def server_file(sandbox: Sandbox) -> Path:
    [path] = sandbox.server_files()
    return path


def cut_in_half(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def with_json(change):
    def plant(path: Path) -> None:
        data = json.loads(path.read_text())
        path.write_text(json.dumps(change(data)))
    return plant


def into_directory(path: Path) -> None:
    path.unlink()
    path.mkdir()
    (path / "inside").write_text("{}")


def wrong_cluster_token(**fields):
    def change(data):
        data["logins"]["admin"]["clusters"][PROD].update(fields)
        return data
    return change


STORE_FILES = {
    "garbage": lambda path: path.write_bytes(b"\x00\x89PNG\r\n{{{ not json"),
    "empty": lambda path: path.write_bytes(b""),
    "truncated": cut_in_half,
    "not-utf8": lambda path: path.write_bytes(b'{"server": "\xff\xfe", "logins": {}}'),
    "a-list": lambda path: path.write_text("[1, 2, 3]"),
    "a-string": lambda path: path.write_text('"servers"'),
    "logins-a-list": with_json(lambda data: {**data, "logins": ["admin"]}),
    "login-a-string": with_json(lambda data: {**data, "logins": {"admin": "token"}}),
    "clusters-a-list": with_json(lambda data: {**data, "logins": {"admin": {**data["logins"]["admin"],
                                                                             "clusters": [PROD]}}}),
    "expires-a-string": with_json(wrong_cluster_token(expires="tomorrow")),
    "login-expires-a-list": with_json(lambda data: {**data, "logins": {"admin": {**data["logins"]["admin"],
                                                                                  "expires": [1]}}}),
    "newer-format": with_json(lambda data: {**data, "version": 99}),
    "version-a-string": with_json(lambda data: {**data, "version": "two"}),
    "a-directory": into_directory,
    "huge": lambda path: path.write_bytes(b'{"pad": "' + b"x" * (32 * 1024 * 1024) + b'"'),
    "deeply-nested": lambda path: path.write_text("[" * 200_000 + "]" * 200_000),
}


@pytest.mark.parametrize("plant", STORE_FILES.values(), ids=STORE_FILES.keys())
def test_a_bad_store_file_is_one_line(logged_in, world, plant):
    logged_in.exec_kubeconfig(PROD)
    path = server_file(logged_in)
    assert logged_in.ace(*token_args(world)).returncode == 0
    secrets = logged_in.stored_secrets()
    plant(path)
    before = snapshot(logged_in)
    result = logged_in.ace(*token_args(world))
    one_clear_line(result, token=True, secrets=secrets)
    unchanged(before, logged_in)


@pytest.mark.parametrize("plant", [STORE_FILES["truncated"], STORE_FILES["expires-a-string"]],
                         ids=["truncated", "expires-a-string"])
def test_a_bad_store_file_reaches_kubectl_as_one_line(logged_in, world, plant):
    logged_in.exec_kubeconfig(PROD)
    path = server_file(logged_in)
    assert logged_in.kubectl("get", "namespaces").returncode == 0
    secrets = logged_in.stored_secrets()
    plant(path)
    before = snapshot(logged_in)
    result = logged_in.kubectl("get", "namespaces")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    ours = {line for line in result.stderr.splitlines() if line.startswith("kubectl-ace")}
    assert len(ours) == 1 and "internal error" not in result.stderr, result.stderr
    assert not any(secret in result.stdout + result.stderr for secret in secrets)
    unchanged(before, logged_in)


# --- 3. kubeconfigs ---

def good_kubeconfig(sandbox: Sandbox) -> dict:
    return sandbox.exec_kubeconfig(PROD)


def kubeconfig_text(text: str | bytes):
    def plant(sandbox: Sandbox) -> None:
        data = text.encode() if isinstance(text, str) else text
        sandbox.kubeconfig.write_bytes(data)
    return plant


def kubeconfig_change(change):
    def plant(sandbox: Sandbox) -> None:
        config = good_kubeconfig(sandbox)
        change(config)
        sandbox.write_kubeconfig(config)
    return plant


def missing_cluster(config: dict) -> None:
    config["contexts"][0]["context"]["cluster"] = "nowhere"


KUBECONFIGS = {
    "garbage": kubeconfig_text(b"\x00\x01: [{ not: yaml"),
    "empty": kubeconfig_text(""),
    "blank": kubeconfig_text("\n  \n"),
    "not-utf8": kubeconfig_text(b"apiVersion: v1\nkind: Config\nclusters: []\ncurrent-context: \xff\xfe\n"),
    "a-list": kubeconfig_text("- clusters\n- users\n"),
    "a-string": kubeconfig_text("just some words\n"),
    "clusters-a-mapping": kubeconfig_change(lambda c: c.update(clusters={"prod": {"server": "https://x"}})),
    "users-a-string": kubeconfig_change(lambda c: c.update(users="prod")),
    "contexts-a-number": kubeconfig_change(lambda c: c.update(contexts=3)),
    "contexts-of-strings": kubeconfig_change(lambda c: c.update(contexts=["prod", "prod-fqdn"])),
    "context-body-a-string": kubeconfig_change(lambda c: c["contexts"][0].update(context="prod")),
    "cluster-body-a-list": kubeconfig_change(lambda c: c["clusters"][0].update(cluster=["https://x"])),
    "name-a-list": kubeconfig_change(lambda c: c["contexts"][0].update(name=["prod"])),
    "current-context-a-list": kubeconfig_change(lambda c: c.update({"current-context": ["prod"]})),
    "huge": kubeconfig_text("# " + "x" * (32 * 1024 * 1024) + "\n: [\n"),
    "deeply-nested": kubeconfig_text("clusters: " + "[" * 100_000 + "]" * 100_000 + "\n"),
}


@pytest.mark.parametrize("plant", KUBECONFIGS.values(), ids=KUBECONFIGS.keys())
def test_a_bad_kubeconfig_is_not_merged_into(logged_in, world, plant):
    plant(logged_in)
    before = snapshot(logged_in)
    result = logged_in.ace("kubeconfig", "--all", "--merge", f"--server={world.rancher_url}")
    one_clear_line(result, secrets=logged_in.stored_secrets())
    unchanged(before, logged_in, keep=(".yaml",))


@pytest.mark.parametrize("plant", [*KUBECONFIGS.values(), kubeconfig_change(missing_cluster)],
                         ids=[*KUBECONFIGS.keys(), "context-names-a-missing-cluster"])
def test_a_bad_kubeconfig_is_one_line_for_status(logged_in, world, plant):
    plant(logged_in)
    before = snapshot(logged_in)
    result = logged_in.ace("status")
    one_clear_line(result, secrets=logged_in.stored_secrets())
    unchanged(before, logged_in)


@pytest.mark.parametrize("how", ["--auto", "--proxy", "--ace"])
def test_switching_from_a_context_naming_a_missing_cluster_is_one_line(logged_in, world, how):
    """(`switch CONTEXT` by name does what `kubectl config use-context` does: it sets the name, whatever it names.)"""
    kubeconfig_change(missing_cluster)(logged_in)
    before = snapshot(logged_in)
    result = logged_in.ace("switch", how)
    one_clear_line(result, secrets=logged_in.stored_secrets())
    unchanged(before, logged_in)


# --- 4. Rancher's answers ---

FAULT_KINDS = ("cut", "garbage", "empty", "huge", "wrong-type", "html")
LOGIN_PATHS = ("/v3-public/localProviders/local", "/v1-public/login")
MINT_PATHS = ("/v3/tokens", "/v1/ext.cattle.io.tokens")
CLUSTER_PATHS = ("/v3/clusters", "/v1/management.cattle.io.clusters")


def login(sandbox: Sandbox, world):
    return sandbox.ace("login", "--server", world.rancher_url, "--user", "admin", "--password-stdin",
                       "--cacert", str(world.rancher_ca_file), input=PASSWORD + "\n")


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_a_bad_login_answer_is_one_line_and_keeps_nothing(sandbox, world, kind):
    good_kubeconfig(sandbox)
    before = snapshot(sandbox)
    for path in LOGIN_PATHS:
        world.add_fault(kind, path, method="POST")
    result = login(sandbox, world)
    one_clear_line(result)
    unchanged(before, sandbox)
    assert sandbox.server_files() == [], "a failed login kept a record"
    assert not list((sandbox.store / "ca").glob("*.pem")) if (sandbox.store / "ca").is_dir() else True


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_a_bad_first_mint_answer_is_one_line(logged_in, world, kind):
    good_kubeconfig(logged_in)
    before = snapshot(logged_in)
    secrets = logged_in.stored_secrets()
    for path in MINT_PATHS:
        world.add_fault(kind, path, method="POST")
    result = logged_in.ace(*token_args(world))
    one_clear_line(result, token=True, secrets=secrets)
    unchanged(before, logged_in)


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_a_bad_first_mint_answer_reaches_kubectl_as_one_line(logged_in, world, kind):
    good_kubeconfig(logged_in)
    before = snapshot(logged_in)
    for path in MINT_PATHS:
        world.add_fault(kind, path, method="POST")
    result = logged_in.kubectl("get", "namespaces")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    ours = {line for line in result.stderr.splitlines() if line.startswith("kubectl-ace")}
    assert len(ours) == 1 and "internal error" not in result.stderr, result.stderr
    unchanged(before, logged_in)


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_a_bad_cluster_list_answer_is_one_line_and_merges_nothing(logged_in, world, kind):
    good_kubeconfig(logged_in)
    before = snapshot(logged_in)
    for path in CLUSTER_PATHS:
        world.add_fault(kind, path, method="GET")
    result = logged_in.ace("kubeconfig", "--all", "--merge", f"--server={world.rancher_url}")
    one_clear_line(result, secrets=logged_in.stored_secrets())
    unchanged(before, logged_in, keep=(".yaml",))


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_a_bad_generated_kubeconfig_answer_is_one_line_and_merges_nothing(logged_in, world, kind):
    good_kubeconfig(logged_in)
    before = snapshot(logged_in)
    world.add_fault(kind, f"/v3/clusters/{PROD}", method="POST")
    world.add_fault(kind, "/v1/ext.cattle.io.kubeconfigs", method="POST")
    result = logged_in.ace("kubeconfig", PROD, "--merge", f"--server={world.rancher_url}")
    one_clear_line(result, secrets=logged_in.stored_secrets())
    unchanged(before, logged_in, keep=(".yaml",))


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_a_bad_logout_answer_is_one_line_and_still_logs_out(logged_in, world, kind):
    """DESIGN: logout deletes the tokens from the store either way, so it ends 0 and says Rancher was not told."""
    good_kubeconfig(logged_in)
    assert logged_in.ace(*token_args(world)).returncode == 0
    before = snapshot(logged_in)
    secrets = logged_in.stored_secrets()
    for path in ("/v3/tokens", "/v1/ext.cattle.io.tokens", "/v1/logout"):
        world.add_fault(kind, path)
    result = logged_in.ace("logout", "--all")
    line = one_clear_line(result, secrets=secrets, zero=True)
    assert line.startswith("Logged out of"), line
    assert logged_in.server_files() == []
    unchanged(before, logged_in, keep=(".yaml",))
