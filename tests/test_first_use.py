"""The rough edges a new user hits first (issue 15): help, missing kubeconfig, bad flags, bad URLs, a bad store,
prompts on a terminal, doctor's advice and the failover notice; each through the real kubectl-ace or kubectl."""

from __future__ import annotations

import fcntl
import os
import select
import subprocess
import termios
import time

import pytest

from kubectl_ace.cli import COMMANDS
from tests.conftest import Sandbox

PROD, PLAIN = "c-m-prod0001", "c-plain1"


@pytest.fixture
def user(tmp_path) -> Sandbox:
    """A new user with no kubeconfig, no login and no Rancher."""
    return Sandbox(tmp_path, None)


def one_line_error(result, *needles: str) -> str:
    """The single stderr line of a failed command, checked to hold every needle and no traceback or usage block."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0, result
    assert len(lines) == 1 and lines[0].startswith("kubectl-ace: error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    return lines[0]


# --- no kubeconfig yet ---


def test_kubectl_subcommand_prints_its_own_help_without_a_kubeconfig(user):
    for result in (user.ace("kubectl", "--help"), user.kubectl("ace", "kubectl", "-h")):
        assert result.returncode == 0, result.stderr
        assert "usage: kubectl ace kubectl" in result.stdout and "Examples:" in result.stdout
        assert "no current context" not in result.stderr


def test_kubectl_subcommand_without_a_kubeconfig_says_there_is_none(user):
    result = user.kubectl("ace", "kubectl", "get", "pods")
    one_line_error(result, "no kubeconfig", str(user.kubeconfig), "kubectl ace kubeconfig --all --merge")
    assert "no current context" not in result.stderr


def test_status_all_without_a_kubeconfig_says_there_is_none_and_where_it_looked(user):
    line = one_line_error(user.ace("status", "--all"), "no kubeconfig", str(user.kubeconfig))
    assert "pass --all" not in line


# --- flags and arguments ---


def test_completion_without_a_shell_is_one_line_with_a_hint(user):
    line = one_line_error(user.ace("completion"), "bash", "source <(kubectl-ace completion bash)")
    assert "required" not in line and "words" not in line


def test_completion_of_an_unknown_shell_does_not_list_the_hidden_engine(user):
    line = one_line_error(user.ace("completion", "nosuch"), "'nosuch'", "'bash'", "'install'")
    assert "__complete" not in line


def test_login_without_arguments_is_one_line_with_a_hint(user):
    result = user.ace("login")
    one_line_error(result, "--server", "kubectl ace login --server https://")
    assert result.returncode == 2 and "usage:" not in result.stderr


def test_a_bad_flag_value_is_one_line_not_a_usage_block(user):
    result = user.ace("doctor", "-o", "xml")
    one_line_error(result, "'xml'", "kubectl ace doctor --help")
    assert "usage:" not in result.stderr


@pytest.mark.parametrize("flag, value", [("--probe-timeout", "abc"), ("--connect-timeout", "-1"),
                                         ("--health-ttl", "nan")])
def test_numeric_token_flags_are_checked_before_anything_else(user, flag, value):
    """Said at once, even where the token call would otherwise stop first (here: not logged in)."""
    result = user.ace("token", "--server", "https://rancher.example.com", "--cluster", PROD, flag, value)
    one_line_error(result, flag, repr(value), "seconds")
    assert result.returncode == 2


@pytest.mark.parametrize("value", ["", "ftp://x", "not a url"])
@pytest.mark.parametrize("command", [["login"], ["logout"], ["kubeconfig", "--all"], ["token", "--cluster", PROD]])
def test_every_command_with_server_checks_the_url_in_one_line(user, command, value):
    result = user.ace(*command, "--server", value, input="")
    line = one_line_error(result, "--server", "https://rancher.example.com")
    assert result.returncode == 2
    assert "Invalid URL" not in line and "requests" not in line and "not logged in" not in line


def test_every_command_help_has_examples(user):
    for command in COMMANDS:
        result = user.ace(command, "--help")
        assert result.returncode == 0, (command, result.stderr)
        assert "kubectl" in result.stdout.partition("\nExamples:\n  ")[2], command
    top = user.ace("--help")
    assert "\nExamples:\n  kubectl ace login --server" in top.stdout


@pytest.mark.parametrize("command", ["doctor", "status", "version"])
def test_output_flag_has_help(user, command):
    result = user.ace(command, "--help")
    assert "output format: table for people (default), json or yaml" in " ".join(result.stdout.split())


# --- a regular file where the token store should be ---


@pytest.mark.parametrize("below", [False, True])
@pytest.mark.parametrize("command", [["logout"], ["logout", "--all"], ["kubeconfig", "--all"],
                                     ["token", "--server", "https://127.0.0.1:9", "--cluster", PROD],
                                     ["login", "--server", "https://127.0.0.1:9", "--user", "a", "--password-stdin"]])
def test_a_file_as_the_store_is_one_clear_line(user, command, below):
    blocker = user.root / "not-a-dir"
    blocker.write_text("x")
    store = blocker / "store" if below else blocker
    result = user.ace("--store", str(store), *command, input="pw\n")
    one_line_error(result, "is a file, not a directory", "--store DIR")
    assert "NotADirectoryError" not in result.stderr


@pytest.mark.parametrize("below", [False, True])
def test_doctor_diagnoses_a_file_as_the_store(user, below):
    blocker = user.root / "not-a-dir"
    blocker.write_text("x")
    store = blocker / "store" if below else blocker
    result = user.ace("--store", str(store), "doctor")
    assert result.returncode == 1 and "Traceback" not in result.stderr and "internal error" not in result.stderr
    [line] = [line for line in result.stdout.splitlines() if "token store" in line]
    assert line.startswith("FAIL") and "is a file" in line
    assert f"move {blocker} away" in result.stdout


# --- Rancher down: doctor's advice must work ---


def test_doctor_does_not_advise_switching_to_ace_for_a_cluster_without_it(logged_in, world):
    logged_in.exec_kubeconfig(PLAIN)
    world.rancher.set_mode("stopped")
    result = logged_in.ace("doctor")
    assert result.returncode == 1, result.stdout
    assert "switch --ace" not in result.stdout
    assert "Authorized Cluster Endpoint" in result.stdout
    assert "fix: kubectl ace login" not in result.stdout  # a login cannot work while Rancher is down either


def test_doctor_advises_ace_while_rancher_is_down_when_the_cluster_has_it(logged_in, world):
    logged_in.exec_kubeconfig(PROD)
    world.rancher.set_mode("stopped")
    result = logged_in.ace("doctor")
    assert result.returncode == 1 and "kubectl ace switch --ace" in result.stdout


# --- the failover notice is true whether or not kubectl runs again ---


def proxy_user(sandbox: Sandbox) -> None:
    """On prod's proxy context, with a token cached and a health state from a while ago."""
    sandbox.exec_kubeconfig(PROD, current="prod")
    assert sandbox.kubectl("get", "namespaces").returncode == 0
    sandbox.age_health()


NOTICE = "switched the current context from prod to prod-fqdn (ACE"
TRUE_END = "kubectl commands started from now on use it"


def test_failover_notice_says_what_comes_next_when_the_command_ends(logged_in, world):
    proxy_user(logged_in)
    world.rancher.set_mode("stopped")
    first = logged_in.kubectl("get", "namespaces")
    assert first.returncode != 0 and NOTICE in first.stderr and TRUE_END in first.stderr
    assert "run the command again" not in first.stderr
    assert logged_in.kubectl("get", "namespaces").returncode == 0


def test_failover_notice_is_true_when_a_dispatcher_reruns_kubectl_in_the_same_process(logged_in, world):
    """gcloud's kubectl dispatcher execs the real kubectl in its own process: the rerun already succeeds."""
    proxy_user(logged_in)
    world.rancher.set_mode("stopped")
    result = logged_in.shell("kubectl get namespaces || exec kubectl get namespaces")
    assert result.returncode == 0 and "kube-system" in result.stdout, result.stderr
    assert result.stderr.count(NOTICE) == 1 and TRUE_END in result.stderr
    assert "run the command again" not in result.stderr


# --- a login on a terminal ---


class Terminal:
    """kubectl-ace run with a pseudo-terminal as its controlling terminal (so ^C is SIGINT, echoed as `^C`)."""

    def __init__(self, sandbox: Sandbox, *args: str) -> None:
        self.master, slave = os.openpty()

        def take_terminal() -> None:
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen(["kubectl-ace", *args], stdin=slave, stdout=slave, stderr=slave,
                                     env=sandbox.env, preexec_fn=take_terminal)
        os.close(slave)
        self.seen = b""

    def wait_for(self, text: bytes, timeout: float = 30) -> None:
        """Read the terminal until text appears (or the program ends: then fail)."""
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0, f"no {text!r} on the terminal: {self.seen!r}"
            if select.select([self.master], [], [], left)[0] and not self.read():
                raise AssertionError(f"the program ended before {text!r}: {self.seen!r}")

    def read(self) -> bool:
        try:
            data = os.read(self.master, 4096)
        except OSError:  # EIO: the other side is closed
            return False
        self.seen += data
        return bool(data)

    def finish(self, timeout: float = 30) -> int:
        code = self.proc.wait(timeout=timeout)
        while select.select([self.master], [], [], 0)[0] and self.read():
            pass
        return code

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        os.close(self.master)


@pytest.fixture
def terminal_login(sandbox, world):
    terminal = Terminal(sandbox, "login", "--server", world.rancher_url, "--cacert", str(world.rancher_ca_file),
                        "--auth-provider", "local")
    yield terminal
    terminal.close()


def test_the_credentials_line_comes_before_the_username_prompt(terminal_login):
    terminal_login.wait_for(b"Username: ")
    said = terminal_login.seen.decode()
    assert "Enter credentials for localProvider" in said
    assert said.index("Enter credentials for localProvider") < said.index("Username: ")


def test_ctrl_c_at_a_prompt_puts_the_message_on_a_line_of_its_own(terminal_login):
    terminal_login.wait_for(b"Username: ")
    os.write(terminal_login.master, b"\x03")
    assert terminal_login.finish() == 130
    said = terminal_login.seen.decode()
    assert "kubectl-ace: error: the login was interrupted" in said
    assert "^Ckubectl-ace" not in said
