"""`kubectl-ace token`: the exec credential command kubectl runs on every call."""

import sys
import time

from kubectl_ace import argv, credential, failover, process_marks, tokens
from kubectl_ace.errors import UsageError
from kubectl_ace.store import Store
from kubectl_ace.urls import checked_server

EXAMPLES = """\
  kubectl-ace token --server=https://rancher.example.com --cluster=c-m-abcd1234
  kubectl-ace token --server=https://rancher.example.com --cluster=c-m-abcd1234 --force-refresh"""


def configure(parser) -> None:
    """Shown in `kubectl ace --help` only: the command itself parses its flags by hand (see parse)."""
    parser.add_argument("--server", required=True)


# The flags of `rancher token` plus ours; parsed by hand on the hot path (argparse costs ~7 ms a call).
VALUE_FLAGS = {
    "--server": "server",
    "--cluster": "cluster",
    "--user": "user",
    "--auth-provider": "provider",
    "--cacerts": "cacerts",
    "--store": "store",
    "--auth-flow": "auth_flow",
    "--kubeconfig": "kubeconfig",
    "--context": "context",
    "--probe-timeout": "probe_timeout",
    "--connect-timeout": "connect_timeout",
    "--health-ttl": "health_ttl",
}
BOOL_FLAGS = {
    "--skip-verify": "skip_verify",
    "--force-refresh": "force_refresh",
    "-v": "verbose",
    "--verbose": "verbose",
    "--no-failover": "no_failover",
    "--no-switch-back": "no_switch_back",
    "-h": "help",
    "--help": "help",
}


def parse(args: list[str]) -> dict:
    """Parse the token flags; unknown ones get argparse-style errors."""
    try:
        options, rest = argv.parse(args, VALUE_FLAGS, BOOL_FLAGS)
    except ValueError as err:
        raise UsageError(f"token: {err}") from None
    if options.get("help"):
        print(USAGE)
        raise SystemExit(0)
    if rest:
        raise UsageError(f"token: unknown flag {rest[0].split('=')[0]!r}; see `kubectl-ace token --help`")
    if options.get("server") is None:
        raise UsageError("token: --server is required (the Rancher URL or host)")
    options["server"] = checked_server(options["server"])
    for name in NUMBER_FLAGS:  # said now, not after a login or a mint
        seconds(options, name)
    return options


def guard_options(options: dict) -> failover.Options:
    return failover.Options(
        failover=False if options.get("no_failover") else None,
        switch_back=False if options.get("no_switch_back") else None,
        connect_timeout=seconds(options, "connect_timeout"),
        read_timeout=seconds(options, "probe_timeout"),
        healthy_ttl=seconds(options, "health_ttl"),
    )


NUMBER_FLAGS = ("connect_timeout", "probe_timeout", "health_ttl")


def seconds(options: dict, name: str) -> float | None:
    """A flag's seconds (`2`, `2.5`, `2s`); UsageError unless a finite number, above zero (the TTL may be 0)."""
    value = options.get(name)
    if value is None:
        return None
    try:
        number = float(value.strip().removesuffix("s"))
    except ValueError:
        number = float("nan")
    least_ok = 0.0 if name == "health_ttl" else 1e-3
    if not least_ok <= number < float("inf"):  # NaN fails every comparison
        floor = "0 or more" if name == "health_ttl" else "above 0"
        raise UsageError(
            f"token: --{name.replace('_', '-')} {value!r} is not a number of seconds ({floor}, e.g. 2 or 2.5s)"
        ) from None
    return number


def run(args: list[str]) -> int:
    options = parse(args)
    info = credential.read_exec_info()
    store = Store(options.get("store"))
    request = tokens.Request(
        options["server"],
        options.get("cluster"),
        user=options.get("user"),
        provider=options.get("provider"),
        cacerts=options.get("cacerts"),
        skip_verify=bool(options.get("skip_verify")),
        force_refresh=bool(options.get("force_refresh")),
        interactive=info.interactive,
        store=store,
        from_kubectl=info.from_kubectl,
        endpoint=info.server,
        auth_flow=options.get("auth_flow"),
        endpoint_ca=info.cluster.get("certificate-authority-data") or "",
    )
    cred = tokens.get_token(request)
    guard = guard_options(options)
    due = failover.guard(info.cluster, request.server, request.cluster, cred.token, store, guard)
    if due is not None:
        from kubectl_ace import switching

        switching.carry_out(due, cred.token, store, guard)
    if info.from_kubectl:
        process_marks.remember_handout(store, request.server, request.cluster, cred.token)
    sys.stdout.write(credential.render(info.api_version, cred.token, cred.reported_expiry(time.time())) + "\n")
    return 0


USAGE = (
    """usage: kubectl-ace token --server URL [--cluster ID] [--user NAME] [--auth-provider TYPE]
                         [--auth-flow devicecode|authcode]
                         [--cacerts FILE] [--skip-verify] [--force-refresh] [--store DIR]
                         [--no-failover] [--no-switch-back] [--probe-timeout S]
                         [--connect-timeout S] [--health-ttl S]

Print an ExecCredential for kubectl with a cluster-scoped Rancher token, minting one from your
login when needed. kubectl runs this from the exec section of a kubeconfig user; it accepts the
flags of `rancher token`, so Rancher's kubeconfigs work by changing `command:` to kubectl-ace.

When kubectl is about to use a Rancher proxy context and the proxy does not answer, the current
context is switched to the cluster's best healthy ACE context and this call fails at once; when
Rancher is healthy again, a context the tool switched is switched back. Environment:
KUBECTL_ACE_FAILOVER=0, KUBECTL_ACE_SWITCH_BACK=0, KUBECTL_ACE_PROBE_TIMEOUT (read, s),
KUBECTL_ACE_CONNECT_TIMEOUT (s), KUBECTL_ACE_HEALTH_TTL (s, default 10).

When the login has run out and kubectl runs on a terminal, the login runs here, on stderr, as
`kubectl ace login` would (one process logs in, the others wait for it); KUBECTL_ACE_NO_BROWSER=1
only prints a browser login's URL, KUBECTL_ACE_LOGIN_TIMEOUT (s, default 900) bounds its wait.

Examples:
"""
    + EXAMPLES
)
