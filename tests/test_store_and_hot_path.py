"""The token store's promises and the hot path's: no network, nothing written, nothing heavy imported."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys

import pytest

from kubectl_ace.records import ServerRecord
from kubectl_ace.store import Store, default_dir


def server_file(sandbox):
    [path] = sandbox.server_files()
    return path


def snapshot(root):
    return {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in root.rglob("*")}


def test_store_is_private(logged_in):
    assert stat.S_IMODE(os.stat(logged_in.store).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(logged_in.store / "servers").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(server_file(logged_in)).st_mode) == 0o600


def test_default_location_is_platformdirs_user_data_dir(monkeypatch, tmp_path):
    import platformdirs
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_dir() == platformdirs.user_data_dir("kubectl-ace", appauthor=False)
    monkeypatch.delenv("XDG_DATA_HOME")
    assert default_dir() == platformdirs.user_data_dir("kubectl-ace", appauthor=False)


def test_store_flag_overrides_the_environment(logged_in, tmp_path):
    other = tmp_path / "elsewhere"
    result = logged_in.ace("--store", str(other), "login", "--server", logged_in.world.rancher_url, "--user",
                           "admin", "--password-stdin", "--cacert", str(logged_in.world.rancher_ca_file),
                           input="correct-horse-battery\n")
    assert result.returncode == 0, result.stderr
    assert list((other / "servers").glob("*.json"))


HOT_PATH_MODULES = {
    "_json", "kubectl_ace", "kubectl_ace.argv", "kubectl_ace.cli", "kubectl_ace.commands",
    "kubectl_ace.commands.token", "kubectl_ace.credential", "kubectl_ace.errors", "kubectl_ace.failover",
    "kubectl_ace.files", "kubectl_ace.health", "kubectl_ace.jsonlite", "kubectl_ace.kubectl_process",
    "kubectl_ace.process_marks", "kubectl_ace.records", "kubectl_ace.store", "kubectl_ace.tokens", "kubectl_ace.urls",
}


@pytest.mark.parametrize("context", ["prod", "prod-fqdn"])
def test_hot_path_imports_nothing_heavy_and_writes_one_marker(logged_in, world, context):
    """As kubectl runs it on a proxy and an ACE context, with a fresh health state."""
    logged_in.exec_kubeconfig("c-m-prod0001", current=context)
    assert logged_in.kubectl("get", "namespaces").returncode == 0
    server = world.cluster("c-m-prod0001").proxy_url if context == "prod" else \
        world.cluster("c-m-prod0001").endpoint("fqdn").url
    info = json.dumps({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                       "spec": {"interactive": False, "cluster": {"server": server}}})
    args = ["token", f"--server={world.rancher_url}", "--cluster=c-m-prod0001"]
    before = snapshot(logged_in.store)
    world.counters.reset()
    probe = ("import sys, io\n"
             "before = set(sys.modules)\n"
             "out, sys.stdout = sys.stdout, io.StringIO()\n"
             "from kubectl_ace.cli import main\n"
             f"code = main({args!r})\n"
             "sys.stdout = out\n"
             "print(code, ' '.join(sorted(set(sys.modules) - before)))\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         env=dict(logged_in.env, KUBERNETES_EXEC_INFO=info))
    code, modules = out.stdout.split(" ", 1)
    modules = set(modules.split())
    assert code == "0", out.stderr
    heavy = {"requests", "urllib3", "yaml", "platformdirs", "filelock", "argparse", "dataclasses", "ssl",
             "http.client", "socket", "re", "typing", "threading", "json", "datetime"}
    assert not heavy & modules
    # Each module is ~0.3 M instructions of import machinery before its own code (more when frozen): a new one on
    # this list must pay for itself (no module of the hot path imports __future__: it is a module too).
    assert modules == HOT_PATH_MODULES, (sorted(modules - HOT_PATH_MODULES), sorted(HOT_PATH_MODULES - modules))
    after = snapshot(logged_in.store)
    changed = {p for p in after if after[p] != before.get(p) and p.is_file()}
    assert [p.parent.name for p in changed] == ["handed-" + server_file(logged_in).stem + "-c-m-prod0001"]
    assert world.counters.requests("rancher") == 0 and world.counters.requests("proxy:c-m-prod0001") == 0


TEARDOWN_PROBE = """\
import atexit, os
class _Probe:
    def __del__(self, mark=os.environ["TEARDOWN_MARK"], open=open):  # runs when the interpreter frees this module
        open(mark, "a").write("teardown\\n")
probe = _Probe()
if os.environ.get("REGISTER_EXIT_HOOK"):
    atexit.register(lambda mark=os.environ["TEARDOWN_MARK"]: open(mark, "a").write("hook\\n"))
"""


def run_with_teardown_probe(sandbox, tmp_path, *args, hook=False):
    """Run kubectl-ace with a sitecustomize that notes the interpreter's teardown and, with hook, an exit hook."""
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(TEARDOWN_PROBE)
    mark = tmp_path / "teardown"
    mark.unlink(missing_ok=True)
    env = {"PYTHONPATH": str(site), "TEARDOWN_MARK": str(mark), **({"REGISTER_EXIT_HOOK": "1"} if hook else {})}
    result = sandbox.ace(*args, env=env)
    return result, (mark.read_text().split() if mark.exists() else [])


def test_a_cached_call_ends_without_the_interpreter_teardown_and_a_whole_answer(logged_in, world, tmp_path):
    """kubectl runs the plugin on every call: freeing every module and a full garbage collection is a sixth of it."""
    args = ("token", f"--server={world.rancher_url}", "--cluster=c-m-prod0001")
    assert logged_in.ace(*args).returncode == 0  # minted and cached
    for marker in logged_in.store.rglob("handed-*/*"):
        marker.unlink()
    result, seen = run_with_teardown_probe(logged_in, tmp_path, *args)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"]["token"] and seen == []
    # An exit hook someone registered still runs, and so does the teardown: the shortcut is taken only when safe.
    for marker in logged_in.store.rglob("handed-*/*"):
        marker.unlink()
    result, seen = run_with_teardown_probe(logged_in, tmp_path, *args, hook=True)
    assert result.returncode == 0 and sorted(seen) == ["hook", "teardown"]


def test_a_command_that_ran_threads_exits_the_ordinary_way(logged_in, world, tmp_path):
    logged_in.exec_kubeconfig("c-m-prod0001", current="prod")
    result, seen = run_with_teardown_probe(logged_in, tmp_path, "status")  # probes in threads
    assert result.returncode == 0, result.stderr
    assert seen == ["teardown"]


def test_corrupt_store_is_reported_and_login_sets_it_aside(logged_in, world):
    path = server_file(logged_in)
    path.write_text('{"logins": {"admin": ')
    result = logged_in.ace("token", f"--server={world.rancher_url}", "--cluster=c-m-prod0001")
    assert result.returncode != 0 and result.stdout == ""
    assert "corrupt" in result.stderr and "kubectl ace login" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert path.read_text() == '{"logins": {"admin": '
    logged_in.login()
    kept = list(path.parent.glob(path.name + ".corrupt-*"))
    assert len(kept) == 1 and kept[0].read_text() == '{"logins": {"admin": '
    assert logged_in.ace("token", f"--server={world.rancher_url}", "--cluster=c-m-prod0001").returncode == 0


def test_a_corrupt_file_of_one_server_leaves_the_others_alone(tmp_path):
    directory = str(tmp_path)
    store = Store(directory)
    store.update("https://a.example", lambda r: ServerRecord("https://a.example", current_user="x"))
    store.update("https://b.example", lambda r: ServerRecord("https://b.example", current_user="y"))
    with open(store.server_file("https://a.example"), "w") as handle:
        handle.write("garbage")
    assert store.read("https://b.example").current_user == "y"
    assert store.servers() == ["https://b.example"]


def test_a_killed_writer_leaves_the_old_or_the_new_file(tmp_path):
    """Kill a process in the middle of a stream of store writes: the file always parses."""
    directory = str(tmp_path)
    writer = ("import sys\nfrom kubectl_ace.records import ServerRecord\nfrom kubectl_ace.store import Store\n"
              "i, store = 0, Store(sys.argv[1])\n"
              "while True:\n"
              "    i += 1\n"
              "    store.update('https://r.example', lambda r: ServerRecord('', extra=dict(n=i, pad='x' * 200000)))\n"
              "    if i == 3: print('ready', flush=True)\n")
    for _ in range(5):
        proc = subprocess.Popen([sys.executable, "-c", writer, directory], stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        record = Store(directory).read("https://r.example")
        assert record.extra["n"] >= 3 and len(record.extra["pad"]) == 200000


@pytest.mark.parametrize("info,words", [
    ("{not json", "not valid JSON"),
    ('{"apiVersion": "client.authentication.k8s.io/v1alpha1", "kind": "ExecCredential"}', "does not speak"),
    ('{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", "spec": []}', "spec"),
    ("[1, 2]", "not a JSON object"),
])
def test_malformed_exec_info_is_one_clear_line(logged_in, world, info, words):
    result = logged_in.ace("token", f"--server={world.rancher_url}", "--cluster=c-m-prod0001",
                           env={"KUBERNETES_EXEC_INFO": info})
    assert result.returncode != 0 and result.stdout == ""
    assert words in result.stderr and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


@pytest.mark.parametrize("args,words", [
    ([], "--server is required"),
    (["--server"], "needs a value"),
    (["--server=x", "--bogus"], "unknown flag '--bogus'"),
])
def test_bad_token_flags_are_one_clear_line(sandbox, args, words):
    result = sandbox.ace("token", *args)
    assert result.returncode == 2 and words in result.stderr and result.stderr.count("\n") == 1


def test_no_secret_leaves_the_store(logged_in, world, tmp_path):
    """Run a whole session, including failures and -v, and look for any token secret outside the store."""
    logged_in.exec_kubeconfig("c-m-prod0001", current="prod")
    outputs = []
    for args in (["get", "namespaces"], ["get", "namespaces", "--context", "prod-fqdn", "-v=9"]):
        result = logged_in.kubectl(*args)
        outputs += [result.stderr] + ([result.stdout] if "-v=9" not in args else [])
    for args in (["-v", "token", f"--server={world.rancher_url}", "--cluster=c-m-nope"],
                 ["-v", "version"], ["-v", "logout", "--server", "https://127.0.0.1:1"]):
        result = logged_in.ace(*args)
        outputs += [result.stdout, result.stderr]
    secrets = logged_in.stored_secrets()
    assert len(secrets) >= 2
    files = [p for p in tmp_path.rglob("*") if p.is_file() and "servers" not in p.parts]
    for secret in secrets:
        assert not any(secret in text for text in outputs)
        assert not any(secret in p.read_text(errors="replace") for p in files)
