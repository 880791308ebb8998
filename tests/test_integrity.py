"""Nothing lost, nothing leaked: kubeconfig and token-store integrity under concurrency, crashes and bad answers."""

from __future__ import annotations

import os
import queue
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from tests.conftest import KUBECTLS, NEWEST
from tests.test_failover import warmed_up


@pytest.fixture
def on_proxy(logged_in):
    """A user on prod's proxy context, with a working token cached and a health state from a while ago."""
    warmed_up(logged_in, "c-m-prod0001", "prod")
    return logged_in


class Started:
    """A kubectl run in the background whose stderr is read line by line (to await what it says)."""

    def __init__(self, sandbox, *args: str) -> None:
        self.process = subprocess.Popen([KUBECTLS[NEWEST], *args], env=sandbox.env, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue = queue.Queue()
        self.seen: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.process.stderr:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for_line(self, words: str, timeout: float = 30) -> bool:
        """Read stderr until a line holds `words` (True) or the process ends (False)."""
        while True:
            line = self.lines.get(timeout=timeout)
            if line is None:
                return False
            self.seen.append(line)
            if words in line:
                return True

    def finish(self, timeout: float = 60) -> tuple[int, str]:
        code = self.process.wait(timeout=timeout)
        self.reader.join(timeout)
        while not self.lines.empty():
            line = self.lines.get()
            if line is not None:
                self.seen.append(line)
        self.process.stdout.close()
        self.process.stderr.close()
        return code, "".join(self.seen)


def hold_lock(path) -> str:
    """Take kubectl's lock on a kubeconfig as client-go does (O_CREAT|O_EXCL, mode 0)."""
    lock = f"{path}.lock"
    os.close(os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0))
    return lock


# --- 1. kubectl's lock, empty reads, parallel writers ---

def test_failover_waits_for_kubectls_lock_and_proceeds_when_released(on_proxy, world):
    before = on_proxy.kubeconfig.read_text()
    lock = hold_lock(on_proxy.kubeconfig)
    world.rancher.set_mode("stopped")
    run = Started(on_proxy, "get", "namespaces")
    try:
        assert run.wait_for_line(f"waiting for {lock}"), "the tool did not wait for kubectl's lock"
        assert on_proxy.kubeconfig.read_text() == before
    finally:
        os.unlink(lock)
    code, stderr = run.finish()
    assert "switched the current context from prod to prod-fqdn" in stderr
    assert on_proxy.current_context() == "prod-fqdn"
    assert not os.path.exists(lock)


def test_a_lock_left_by_a_killed_kubectl_ace_is_removed_but_never_kubectls(on_proxy, world):
    dead = subprocess.Popen(["true"])
    dead.wait()  # a pid that no longer runs
    lock = f"{on_proxy.kubeconfig}.lock"
    with open(lock, "w") as handle:
        handle.write(f"kubectl-ace {dead.pid}\n")
    world.rancher.set_mode("stopped")
    first = on_proxy.kubectl("get", "namespaces")
    assert f"removed {lock}, left by kubectl-ace process {dead.pid}" in first.stderr
    assert "switched the current context from prod to prod-fqdn" in first.stderr
    assert not os.path.exists(lock) and on_proxy.current_context() == "prod-fqdn"


def test_a_kubeconfig_emptied_by_another_writer_is_not_written_back(on_proxy, world):
    lock = hold_lock(on_proxy.kubeconfig)
    world.rancher.set_mode("stopped")
    run = Started(on_proxy, "get", "namespaces")
    try:
        assert run.wait_for_line(f"waiting for {lock}"), "the tool did not wait for kubectl's lock"
        on_proxy.kubeconfig.write_text("")  # kubectl truncates in place, then writes: caught half-way
    finally:
        os.unlink(lock)
    code, stderr = run.finish()
    assert code != 0 and "Traceback" not in stderr
    assert "switched the current context" not in stderr
    assert on_proxy.kubeconfig.read_text() == ""
    assert not os.path.exists(lock)


def test_entries_are_not_merged_into_a_kubeconfig_that_reads_empty(logged_in, world):
    logged_in.kubeconfig.write_text("")
    result = logged_in.ace("kubeconfig", "--all", "--merge", f"--server={world.rancher_url}")
    assert result.returncode != 0 and "reads as empty" in result.stderr and "Traceback" not in result.stderr
    assert logged_in.kubeconfig.read_text() == ""


def test_parallel_failovers_and_kubectl_edits_lose_no_entry(on_proxy, world):
    """5 rounds of 16 parallel failover calls while a `kubectl config set-context` loop edits the same file."""
    original = yaml.safe_load(on_proxy.kubeconfig.read_text())
    written: list[str] = []
    world.rancher.set_mode("stopped")
    for round_ in range(5):
        assert on_proxy.kubectl("config", "use-context", "prod").returncode == 0
        done = threading.Event()

        def edits() -> None:
            for index in range(40):
                if done.is_set() and index >= 4:
                    return
                name = f"kubectl-{round_}-{index}"
                result = on_proxy.kubectl("config", "set-context", name, "--cluster=prod", "--user=prod",
                                          timeout=30)
                if result.returncode == 0:
                    written.append(name)

        editor = threading.Thread(target=edits)
        editor.start()
        with ThreadPoolExecutor(max_workers=16) as pool:
            results = list(pool.map(lambda _: on_proxy.kubectl("get", "namespaces", timeout=60), range(16)))
        done.set()
        editor.join(60)
        assert not editor.is_alive()
        assert all("Traceback" not in r.stderr for r in results)
        data = yaml.safe_load(on_proxy.kubeconfig.read_text())
        assert isinstance(data, dict), f"round {round_}: the kubeconfig was wiped"
        for key in ("clusters", "users", "contexts"):
            names = {item["name"] for item in data.get(key) or []}
            assert {item["name"] for item in original[key]} <= names, f"round {round_}: {key} lost"
        contexts = {item["name"] for item in data["contexts"]}
        assert set(written) <= contexts, f"round {round_}: lost {sorted(set(written) - contexts)}"
    assert written, "kubectl never managed an edit"
    assert not os.path.exists(f"{on_proxy.kubeconfig}.lock")


# --- 2. an HTML page is not the Kubernetes API ---

def test_an_html_page_from_rancher_fails_over_to_ace(on_proxy, world):
    world.rancher.set_mode("html")
    first = on_proxy.kubectl("get", "namespaces")
    assert "switched the current context from prod to prod-fqdn" in first.stderr
    assert "HTML page" in first.stderr
    assert on_proxy.current_context() == "prod-fqdn"
    assert on_proxy.kubectl("get", "namespaces").returncode == 0


def test_status_says_why_an_html_answer_is_unhealthy(on_proxy, world):
    import json
    world.rancher.set_mode("html")
    result = on_proxy.ace("status", "-o", "json")
    assert result.returncode == 0, result.stderr
    [cluster] = json.loads(result.stdout)
    rows = {row["context"]: row for row in cluster["endpoints"]}
    assert not rows["prod"]["healthy"] and rows["prod-fqdn"]["healthy"]
    assert "HTML page" in json.dumps(rows["prod"])


def test_an_html_ace_endpoint_is_not_chosen(logged_in, world):
    warmed_up(logged_in, "c-m-edge0001", "edge")
    world.cluster("c-m-edge0001").endpoint("cp1").set_html(True)
    world.rancher.set_mode("stopped")
    first = logged_in.kubectl("get", "namespaces")
    assert "to edge-cp2" in first.stderr
    assert logged_in.current_context() == "edge-cp2"


# --- 3. a cut-off answer is one clear line ---

def one_clear_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0
    assert len(lines) == 1, result.stderr
    assert "IncompleteRead" not in result.stderr and "Connection broken" not in result.stderr
    assert "broke off its answer" in lines[0]
    return lines[0]


def test_a_cut_login_answer_is_one_clear_line(sandbox, world):
    from tests.conftest import PASSWORD
    world.add_fault("cut", "/v3-public/localProviders/local", method="POST")
    world.add_fault("cut", "/v1-public/login", method="POST")
    result = sandbox.ace("login", "--server", world.rancher_url, "--user", "admin", "--password-stdin",
                         "--cacert", str(world.rancher_ca_file), input=PASSWORD + "\n")
    one_clear_line(result)


def test_a_cut_first_mint_is_one_clear_line(logged_in, world):
    world.add_fault("cut", "/v3/tokens", method="POST")
    world.add_fault("cut", "/v1/ext.cattle.io.tokens", method="POST")
    result = logged_in.ace("token", f"--server={world.rancher_url}", "--cluster=c-m-prod0001")
    one_clear_line(result)


def test_a_cut_kubeconfig_answer_is_one_clear_line(logged_in, world):
    world.add_fault("cut", "/v3/clusters")
    world.add_fault("cut", "/v1/management.cattle.io.clusters")
    result = logged_in.ace("kubeconfig", "--all", f"--server={world.rancher_url}")
    one_clear_line(result)


# --- 4. temp files of killed writers ---

def dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    child = subprocess.Popen(["true"])
    child.wait(timeout=10)
    return child.pid


def live_names(world) -> set[str]:
    return {token["name"] for token in world.tokens()}


def test_logout_revokes_a_token_left_in_a_killed_writers_temp_file(logged_in, world):
    assert logged_in.ace("token", f"--server={world.rancher_url}", "--cluster=c-m-prod0001").returncode == 0
    [path] = logged_in.server_files()
    orphan = path.with_name(f"{path.name}.{dead_pid()}.123456789.tmp")
    orphan.write_text(path.read_text())  # the writer was killed after writing the temp file, before the rename
    hidden = logged_in.stored_token("c-m-prod0001")["token"].split(":")[0]
    logged_in.edit_store(lambda data: data["logins"]["admin"]["clusters"].clear())
    assert hidden in live_names(world)
    result = logged_in.ace("logout", "--all")
    assert result.returncode == 0, result.stderr
    assert hidden not in live_names(world)
    assert not orphan.exists()


def test_the_next_write_removes_temp_files_of_dead_writers_only(logged_in, world):
    [path] = logged_in.server_files()
    dead = path.with_name(f"{path.name}.{dead_pid()}.1.tmp")
    alive = path.with_name(f"{path.name}.{os.getpid()}.2.tmp")  # this test's own pid: a writer still running
    for planted in (dead, alive):
        planted.write_text(path.read_text())
    kube_dead = logged_in.kubeconfig.with_name(f"{logged_in.kubeconfig.name}.{dead_pid()}.3.tmp")
    logged_in.exec_kubeconfig("c-m-prod0001", current="prod")
    kube_dead.write_text(logged_in.kubeconfig.read_text())
    assert logged_in.ace("token", f"--server={world.rancher_url}", "--cluster=c-m-prod0001").returncode == 0
    assert not dead.exists() and alive.exists()
    assert logged_in.ace("switch", "prod-fqdn").returncode == 0
    assert not kube_dead.exists()
    alive.unlink()


# --- 5. loose permissions ---

def test_a_loose_store_file_and_directory_are_repaired_with_one_warning(logged_in, world):
    logged_in.exec_kubeconfig("c-m-prod0001", current="prod")
    [path] = logged_in.server_files()
    path.chmod(0o644)
    logged_in.store.chmod(0o755)
    first = logged_in.kubectl("get", "namespaces")
    assert first.returncode == 0, first.stderr
    assert path.stat().st_mode & 0o777 == 0o600
    assert logged_in.store.stat().st_mode & 0o777 == 0o700
    assert first.stderr.count("was open to others") == 2, first.stderr
    again = logged_in.kubectl("get", "namespaces")
    assert again.returncode == 0 and "open to others" not in again.stderr


# --- 6. smaller ones ---

def test_force_refresh_while_rancher_is_down_fails_with_the_reason(logged_in, world):
    args = ("token", f"--server={world.rancher_url}", "--cluster=c-m-prod0001")
    assert logged_in.ace(*args).returncode == 0
    world.rancher.set_mode("stopped")
    result = logged_in.ace(*args, "--force-refresh")
    assert result.returncode != 0 and result.stdout == ""
    assert "cannot get a new token" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_failed_login_leaves_no_ca_file(sandbox, world):
    result = sandbox.ace("login", "--server", world.rancher_url, "--user", "admin", "--password-stdin",
                         "--cacert", str(world.rancher_ca_file), input="wrong-password\n")
    assert result.returncode != 0
    assert not list((sandbox.store / "ca").glob("*.pem"))


def test_a_generated_kubeconfig_that_is_not_yaml_reads_cleanly(logged_in, world):
    world.add_fault("wrong-type", "/v3/clusters/c-m-prod0001", method="POST",
                    body=b'{"type": "generateKubeconfigOutput", "config": "clusters: [unclosed"}')
    result = logged_in.ace("kubeconfig", "c-m-prod0001", f"--server={world.rancher_url}")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "the kubeconfig Rancher generated for cluster" in result.stderr
    assert "kubeconfig the kubeconfig" not in result.stderr
