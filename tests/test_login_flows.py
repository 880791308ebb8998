"""Browser and Azure AD logins end to end: SAML through the dashboard URL, Azure AD by device code and by
auth code + PKCE, API keys for everything else; from `kubectl ace login` and from kubectl's exec path.

"The browser" is a small script named by BROWSER: it logs each URL it is given, then does what the user
would do there (completes the SAML login through the simulator's admin channel, or signs in at the
Azure AD stand-in and follows the redirect back to the plugin's loopback listener).
"""

from __future__ import annotations

import base64
import json
import os
import re
import select
import signal
import stat
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest

from tests.conftest import EXEC_V1BETA1, PASSWORD, Sandbox
from tests.sim import ClusterSpec, World
from tests.sim.admin import AdminServer

PROD = "c-m-prod0001"
SAML_PROVIDERS = ("ping", "adfs", "keycloak", "okta", "shibboleth")
REQUEST_ID = "[abcdfghjklmnpqrstvwxz12456789]{32}"
FAST_POLL = {"KUBECTL_ACE_POLL_INTERVAL": "0.2"}  # Rancher's CLI polls every 10 s; tests need not wait that long

BROWSER_SCRIPT = '''#!{python}
"""A stand-in browser: log the URL, then act as the user would on that page."""
import json, ssl, sys, urllib.parse, urllib.request

config = json.load(open({config!r}))
url = sys.argv[-1]
with open(config["log"], "a") as log:
    log.write(url + "\\n")
opener = urllib.request.build_opener(urllib.request.ProxyHandler({{}}),
                                     urllib.request.HTTPSHandler(context=ssl.create_default_context(
                                         cafile=config["rancher_ca"])))
try:
    if config["action"] == "ignore":
        pass
    elif "/dashboard/auth/login" in url:
        assert opener.open(url, timeout=10).status == 200  # the dashboard page loads
        body = json.dumps({{"url": url, "username": config["user"], "tamper": config.get("tamper")}}).encode()
        opener.open(urllib.request.Request(config["admin"] + "/saml/complete", data=body, method="POST"),
                    timeout=30).read()
    elif "/oauth2/v2.0/authorize" in url:
        # Sign in as the configured user; Azure AD sends the browser back to the plugin's listener.
        opener.open(url + "&" + urllib.parse.urlencode({{"login_hint": config["user"]}}), timeout=30).read()
except Exception as err:
    with open(config["log"] + ".errors", "a") as log:
        log.write(repr(err) + "\\n")
'''


class Browser:
    """The BROWSER script, its configuration and the URLs it was given."""

    def __init__(self, root: Path, world: World, sandbox: Sandbox) -> None:
        self.admin = AdminServer(world)
        self.admin.start()
        self.log = root / "browser.log"
        self.config_path = root / "browser.json"
        self.config = {"log": str(self.log), "admin": self.admin.url, "rancher_ca": world.rancher_ca_file,
                       "user": "alice", "action": "login", "tamper": None}
        self.configure()
        script = root / "browser.py"
        script.write_text(BROWSER_SCRIPT.format(python=sys.executable, config=str(self.config_path)))
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
        sandbox.env.update(BROWSER=str(script), **FAST_POLL)
        for name in ("http_proxy", "HTTP_PROXY"):  # the Azure AD stand-in is plain HTTP on loopback
            sandbox.env.pop(name, None)

    def configure(self, **changes) -> None:
        self.config.update(changes)
        self.config_path.write_text(json.dumps(self.config))

    def urls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def errors(self) -> str:
        path = Path(str(self.log) + ".errors")
        return path.read_text() if path.exists() else ""

    def wait_for_url(self, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while not self.urls():
            assert time.monotonic() < deadline, "the browser was never opened"
            time.sleep(0.05)
        return self.urls()[0]

    def stop(self) -> None:
        self.admin.stop()


@pytest.fixture
def browser(tmp_path, world, sandbox):
    started = Browser(tmp_path, world, sandbox)
    yield started
    started.stop()


# --- helpers ---

def login(sandbox: Sandbox, *extra: str, env: dict | None = None, timeout: float = 60):
    """`kubectl ace login` against the sandbox's world, trusting its CA, with nothing on stdin."""
    return sandbox.ace("login", "--server", sandbox.world.rancher_url, "--cacert", str(sandbox.world.rancher_ca_file),
                       *extra, env=env, timeout=timeout)


def start_login(sandbox: Sandbox, *extra: str, env: dict | None = None) -> subprocess.Popen:
    """The same, running in the background in its own process group (to act meanwhile, or send it Ctrl-C)."""
    return subprocess.Popen(["kubectl-ace", "login", "--server", sandbox.world.rancher_url, "--cacert",
                             str(sandbox.world.rancher_ca_file), *extra], env={**sandbox.env, **(env or {})},
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def assert_nothing_stored(sandbox: Sandbox) -> None:
    assert sandbox.stored() is None
    leftovers = list((sandbox.store / "servers").glob("*")) if (sandbox.store / "servers").exists() else []
    assert leftovers == [], leftovers


def assert_one_error_line(stderr: str, words: str) -> None:
    errors = [line for line in stderr.splitlines() if line.startswith("kubectl-ace: error:")]
    assert len(errors) == 1 and words in errors[0], stderr
    assert "Traceback" not in stderr


def assert_kubectl_works(sandbox: Sandbox, cluster: str = PROD, name: str = "prod") -> None:
    """Real kubectl through the Rancher proxy context and then the ACE context."""
    sandbox.exec_kubeconfig(cluster, current=name)
    for context in (name, f"{name}-fqdn"):
        result = sandbox.kubectl("--context", context, "get", "namespaces")
        assert result.returncode == 0, (context, result.stderr)
        assert "kube-system" in result.stdout


def assert_no_leaks(sandbox: Sandbox, browser: Browser | None, *outputs: str) -> None:
    """No token secret outside the store: not on stdout, stderr, nor in what the browser was given."""
    secrets = sandbox.stored_secrets()
    assert secrets
    seen = "\n".join(outputs) + "\n".join(browser.urls() if browser else [])
    for secret in secrets:
        assert secret not in seen


def saml_user(world: World, provider: str = "okta", user: str = "alice") -> None:
    world.enable_provider(provider)
    world.add_user(user, "", provider=provider)


def azure_user(world: World, user: str = "bob"):
    azure = world.enable_azure_ad()
    world.add_user(user, "", provider="azuread")
    return azure


def device_code_login(sandbox: Sandbox, azure, user: str, *extra: str, env: dict | None = None,
                      decline: bool = False) -> subprocess.CompletedProcess:
    """Run a device code login and, like the user on their phone, enter the code and sign in as user."""
    proc = start_login(sandbox, "--auth-provider", "azuread", *extra, env=env)
    try:
        code = azure.wait_for_user_code()
        if decline:
            azure.decline(code)
        else:
            azure.approve(code, user)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


# --- SAML ---

@pytest.mark.parametrize("provider", SAML_PROVIDERS)
def test_saml_login_then_kubectl_through_proxy_and_ace(sandbox, world, browser, provider):
    saml_user(world, provider)
    result = login(sandbox, "--auth-provider", provider)
    assert result.returncode == 0, result.stderr + browser.errors()
    assert result.stdout == ""
    [url] = browser.urls()
    match = re.fullmatch(re.escape(world.rancher_url) + rf"/dashboard/auth/login\?cli=true&publicKey=([^&]+)"
                         rf"&requestId=({REQUEST_ID})&responseType=kubeconfig", url)
    assert match, url
    key = json.loads(base64.b64decode(urllib.parse.unquote(match[1])))
    assert key["E"] == 65537 and key["N"].bit_length() == 2048
    assert url in result.stderr and match[2] in result.stderr  # printed too, for a browser elsewhere
    assert f"as alice ({world.providers[-1]['type']})" in result.stderr
    assert world.saml_tokens() == []  # read once, then deleted at Rancher
    login_record = sandbox.stored()["logins"]["alice"]
    assert login_record["origin"] == "login" and login_record["expires"] > time.time() + 86400
    assert_kubectl_works(sandbox)
    assert world.counters.logins() == 1
    assert_no_leaks(sandbox, browser, result.stdout, result.stderr)


def test_no_browser_only_prints_the_url(sandbox, world, browser):
    saml_user(world)
    proc = start_login(sandbox, "--auth-provider", "okta", "--no-browser")
    try:
        url = ""
        deadline = time.monotonic() + 30
        while "/dashboard/auth/login" not in url:
            assert time.monotonic() < deadline
            url = proc.stderr.readline().strip()
        assert browser.urls() == []
        # The user opens the printed URL somewhere else.
        params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
        world.complete_saml_login(params["requestId"], params["publicKey"], "alice")
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert sandbox.stored()["logins"]["alice"]["provider"] == "oktaProvider"


# --- Azure AD ---

def test_azure_device_code_polls_as_told_then_kubectl_works(sandbox, world, browser):
    azure = azure_user(world)
    azure.device_script = ["authorization_pending", "slow_down"]
    result = device_code_login(sandbox, azure, "bob")
    assert result.returncode == 0, result.stderr
    assert re.search(r"open the page http://\S+/devicelogin and enter the code [A-Z0-9]{9} to authenticate",
                     result.stderr)
    answers = [poll.answer for poll in azure.polls]
    assert answers == ["authorization_pending", "slow_down", "ok"]
    gaps = [later.at - earlier.at for earlier, later in zip(azure.polls, azure.polls[1:])]
    assert gaps[0] < 3 and gaps[1] >= 5  # slow_down adds 5 s to the interval
    assert browser.urls() == []  # the code is typed on the sign-in page; nothing to open
    assert sandbox.stored()["logins"]["bob"]["provider"] == "azureADProvider"
    assert_kubectl_works(sandbox)
    assert_no_leaks(sandbox, browser, result.stdout, result.stderr)


def test_azure_auth_code_with_pkce_then_kubectl_works(sandbox, world, browser):
    azure = azure_user(world, "carol")
    browser.configure(user="carol")
    result = login(sandbox, "--auth-provider", "azureADProvider", "--auth-flow", "authcode")
    assert result.returncode == 0, result.stderr + browser.errors()
    [url] = browser.urls()
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    assert url.startswith(azure.authorize_url + "?")
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert re.fullmatch(r"http://localhost:\d+", query["redirect_uri"]) and len(query["state"]) >= 43
    assert query["client_id"] == azure.client_id and query["scope"] == "openid profile email"
    assert azure.pkce_checks == 1 and azure.pkce_failures == 0
    assert sandbox.stored()["logins"]["carol"]["provider"] == "azureADProvider"
    assert_kubectl_works(sandbox)
    assert_no_leaks(sandbox, browser, result.stdout, result.stderr)


# --- Rancher without /v1-public, and Rancher 2.12 ---

@pytest.mark.parametrize("flow", ["saml", "devicecode", "authcode"])
def test_every_flow_falls_back_to_v3_public(sandbox, world, browser, flow):
    world.v1_public = False
    if flow == "saml":
        saml_user(world)
        result = login(sandbox, "--auth-provider", "okta")
        assert world.saml_tokens() == []  # deleted through /v3-public/authTokens
    elif flow == "devicecode":
        azure = azure_user(world)
        result = device_code_login(sandbox, azure, "bob")
    else:
        azure_user(world, "alice")
        result = login(sandbox, "--auth-provider", "azuread", env={"CATTLE_OAUTH_AUTH_FLOW": "authcode"})
        assert len(browser.urls()) == 1
    assert result.returncode == 0, result.stderr + browser.errors()
    assert_kubectl_works(sandbox)


def test_browser_logins_accept_the_rancher_2_12_shapes(tmp_path):
    with World(clusters=[ClusterSpec(name="old", id="c-old01", ace="fqdn")], users={"admin": PASSWORD},
               rancher_version="v2.12.3") as old:
        sandbox = Sandbox(tmp_path, old)
        browser = Browser(tmp_path, old, sandbox)
        try:
            saml_user(old)
            azure_user(old, "dave")
            result = login(sandbox, "--auth-provider", "okta")
            assert result.returncode == 0, result.stderr + browser.errors()
            browser.configure(user="dave")
            result = login(sandbox, "--auth-provider", "azuread", "--auth-flow", "authcode")
            assert result.returncode == 0, result.stderr + browser.errors()
            logins = sandbox.stored()["logins"]
            assert set(logins) == {"alice", "dave"} and logins["dave"]["user_id"] == old.user_id("dave", "azuread")
            assert_kubectl_works(sandbox, "c-old01", "old")
        finally:
            browser.stop()


# --- from kubectl's exec path: one login for many processes ---

def interactive_exec_kubeconfig(sandbox: Sandbox, *args: str) -> None:
    """Exec user with interactiveMode IfAvailable, trusting Rancher's CA for the login it may start."""
    config = sandbox.exec_kubeconfig(PROD, api_version=EXEC_V1BETA1, current="prod-fqdn")
    config["users"][0]["user"]["exec"]["args"] += [f"--cacerts={sandbox.world.rancher_ca_file}", *args]
    sandbox.write_kubeconfig(config)


def kubectl_crowd(sandbox: Sandbox, count: int, answers: dict[bytes, bytes] | None = None,
                  timeout: float = 90) -> list[tuple[int, str, str]]:
    """Run `count` kubectl processes at once, each with a terminal on stdin; answer prompts as they appear."""
    answers = answers or {}
    crowd = []
    for _ in range(count):
        master, slave = os.openpty()
        proc = subprocess.Popen([sandbox.kubectl_path, "get", "namespaces"], stdin=slave, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=sandbox.env, start_new_session=True)
        os.close(slave)
        crowd.append({"proc": proc, "master": master, "err": b"", "out": b"", "answered": set()})
    deadline = time.monotonic() + timeout
    try:
        while any(member["proc"].poll() is None for member in crowd) or any(
                not member.get("closed") for member in crowd):
            assert time.monotonic() < deadline, "kubectl processes did not finish"
            streams = {}
            for member in crowd:
                if not member.get("closed"):
                    streams[member["proc"].stderr.fileno()] = (member, "err")
                if not member.get("out_closed"):
                    streams[member["proc"].stdout.fileno()] = (member, "out")
            if not streams:
                time.sleep(0.05)
                continue
            ready, _, _ = select.select(list(streams), [], [], 0.2)
            for fd in ready:
                member, which = streams[fd]
                data = os.read(fd, 65536)
                if not data:
                    member["closed" if which == "err" else "out_closed"] = True
                    continue
                member[which] += data
                for prompt, answer in answers.items():
                    if which == "err" and prompt in member["err"] and prompt not in member["answered"]:
                        member["answered"].add(prompt)
                        os.write(member["master"], answer)
        results = []
        for member in crowd:
            member["proc"].wait(timeout=10)
            results.append((member["proc"].returncode, member["out"].decode(), member["err"].decode()))
        return results
    finally:
        for member in crowd:
            member["proc"].kill()
            os.close(member["master"])


def test_16_parallel_kubectl_share_one_browser_login(sandbox, world, browser):
    saml_user(world)
    interactive_exec_kubeconfig(sandbox, "--auth-provider=okta")
    results = kubectl_crowd(sandbox, 16)
    for code, out, err in results:
        assert code == 0, err + browser.errors()
        assert "kube-system" in out
    assert len(browser.urls()) == 1
    assert sum("/dashboard/auth/login" in err for _, _, err in results) == 1
    assert world.counters.logins() == 1 and world.counters.mints(PROD) == 1
    assert_no_leaks(sandbox, browser, *(err for _, _, err in results))


def test_16_parallel_kubectl_share_one_password_prompt(sandbox, world):
    interactive_exec_kubeconfig(sandbox)
    results = kubectl_crowd(sandbox, 16, {b"Username: ": b"admin\n",
                                          b"Password for admin: ": PASSWORD.encode() + b"\n"})
    for code, out, err in results:
        assert code == 0, err
        assert "kube-system" in out
    assert sum(err.count("Password for admin") for _, _, err in results) == 1
    assert world.counters.logins() == 1 and world.counters.mints(PROD) == 1
    assert_no_leaks(sandbox, None, *(err for _, _, err in results))


def test_a_wrong_password_in_the_exec_path_is_asked_once_for_all(sandbox, world):
    interactive_exec_kubeconfig(sandbox)
    results = kubectl_crowd(sandbox, 6, {b"Username: ": b"admin\n", b"Password for admin: ": b"wrong\n"})
    assert sum(err.count("Password for admin") for _, _, err in results) == 1
    for code, _, err in results:
        assert code != 0
        # kubectl runs the plugin again for each of its requests: the reason is said once per kubectl.
        assert_one_error_line(err, "refused the login of admin")
    others = [err for _, _, err in results if f"a login to {world.rancher_url} just failed" in err]
    assert len(others) == 5
    assert_nothing_stored(sandbox)
    assert world.counters.login_failures() == 1


def test_a_later_kubectl_is_not_refused_for_an_earlier_failure(sandbox, world):
    interactive_exec_kubeconfig(sandbox)
    [(code, _, err)] = kubectl_crowd(sandbox, 1, {b"Username: ": b"admin\n", b"Password for admin: ": b"nope\n"})
    assert code != 0 and "refused the login" in err
    [(code, _, err)] = kubectl_crowd(sandbox, 1, {b"Username: ": b"admin\n",
                                                 b"Password for admin: ": PASSWORD.encode() + b"\n"})
    assert code == 0, err


def test_the_exec_path_runs_the_azure_auth_code_flow(sandbox, world, browser):
    azure = azure_user(world, "erin")
    browser.configure(user="erin")
    interactive_exec_kubeconfig(sandbox, "--auth-provider=azuread", "--auth-flow=authcode")
    [(code, out, err)] = kubectl_crowd(sandbox, 1)
    assert code == 0, err + browser.errors()
    assert "kube-system" in out and len(browser.urls()) == 1 and azure.pkce_checks == 1


def test_a_terminal_shows_how_long_the_browser_login_has_waited(sandbox, world, browser):
    saml_user(world)
    browser.configure(action="ignore")
    master, slave = os.openpty()
    proc = subprocess.Popen(["kubectl-ace", "login", "--server", world.rancher_url, "--cacert",
                             str(world.rancher_ca_file), "--auth-provider", "okta", "--login-timeout", "3s"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave, env=sandbox.env,
                            start_new_session=True)
    os.close(slave)
    seen = b""
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 30)
            assert ready, seen
            try:
                data = os.read(master, 4096)
            except OSError:  # EIO: the process closed the terminal
                break
            if not data:
                break
            seen += data
        proc.wait(timeout=30)
    finally:
        proc.kill()
        os.close(master)
    assert b"\r\x1b[KWaiting for the browser login... 0:02 (gives up after 3 s; Ctrl-C to cancel)" in seen
    # The line is cleared before the error, which stands alone.
    assert b"\r\x1b[Kkubectl-ace: error: the browser login was not completed within 3 s" in seen
    assert proc.returncode != 0


# --- failures: one clear line, nothing half-written ---

def test_browser_login_timeout(sandbox, world, browser):
    saml_user(world)
    browser.configure(action="ignore")
    result = login(sandbox, "--auth-provider", "okta", "--login-timeout", "1s")
    assert result.returncode != 0
    assert_one_error_line(result.stderr, "the browser login was not completed within 1 s")
    assert len(browser.urls()) == 1
    assert_nothing_stored(sandbox)


def test_ctrl_c_ends_a_browser_login_cleanly(sandbox, world, browser):
    saml_user(world)
    browser.configure(action="ignore")
    proc = start_login(sandbox, "--auth-provider", "okta")
    try:
        browser.wait_for_url()
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert err.splitlines()[-1] == "kubectl-ace: error: the login was interrupted; nothing was saved"
    assert_one_error_line(err, "interrupted")
    assert out == ""
    assert_nothing_stored(sandbox)


@pytest.mark.parametrize("tamper,words", [("garbage", "not base64"), ("wrong-key", "cannot be decrypted")])
def test_malformed_or_undecryptable_auth_token(sandbox, world, browser, tamper, words):
    saml_user(world)
    browser.configure(tamper=tamper)
    result = login(sandbox, "--auth-provider", "okta")
    assert result.returncode != 0
    assert_one_error_line(result.stderr, words)
    assert world.saml_tokens() == []  # deleted at Rancher even so
    assert_nothing_stored(sandbox)


@pytest.mark.parametrize("how", ["declined-device-code", "denied-auth-code", "unknown-to-rancher"])
def test_denied_azure_login(sandbox, world, browser, how):
    azure = azure_user(world)
    if how == "declined-device-code":
        result = device_code_login(sandbox, azure, "bob", decline=True)
        words = "the Azure AD sign-in was declined"
    elif how == "denied-auth-code":
        azure.deny = True
        result = login(sandbox, "--auth-provider", "azuread", "--auth-flow", "authcode")
        words = "the Azure AD sign-in was refused (access_denied"
    else:
        result = device_code_login(sandbox, azure, "mallory")  # Azure AD knows mallory; Rancher does not
        words = "does not let this Azure AD account log in"
    assert result.returncode != 0
    assert_one_error_line(result.stderr, words)
    assert_nothing_stored(sandbox)


# --- everything else: API keys ---

@pytest.mark.parametrize("provider", ["github", "googleoauth", "genericoidc", "keycloakoidc", "cognito"])
def test_providers_without_a_cli_flow_explain_the_api_key_login(sandbox, world, provider):
    world.enable_provider(provider)
    result = login(sandbox, "--auth-provider", provider)
    assert result.returncode != 0
    assert_one_error_line(result.stderr, "has no command-line login: create an API key in the Rancher UI")
    assert f"kubectl ace login --server {world.rancher_url} --token-stdin" in result.stderr


def test_the_only_provider_being_oidc_explains_it_too(sandbox, world):
    world.disable_provider("local")
    world.enable_provider("oidc")
    result = login(sandbox)
    assert_one_error_line(result.stderr, "oidc (oidcProvider) has no command-line login")


def test_api_key_login_shows_its_expiry(sandbox, world):
    world.enable_provider("github")
    world.add_user("octocat", "", provider="github")
    key = world.create_token("octocat", ttl_ms=7 * 86400 * 1000)
    result = sandbox.ace("login", "--server", world.rancher_url, "--token-stdin", "--cacert",
                         str(world.rancher_ca_file), input=key + "\n")
    assert result.returncode == 0, result.stderr
    assert f"with an API key of {world.user_id('octocat', 'github')} (github)" in result.stderr
    in_a_week = time.strftime("%Y-%m-%d", time.localtime(time.time() + 7 * 86400))
    assert re.search(rf"the key expires at {in_a_week} \d\d:\d\d:\d\d", result.stderr), result.stderr
    assert key.split(":")[1] not in result.stderr
