"""`kubectl ace login`."""

from __future__ import annotations

import sys

from kubectl_ace import connect, login_flows, logins
from kubectl_ace.errors import UsageError
from kubectl_ace.output import local_time
from kubectl_ace.store import Store
from kubectl_ace.urls import checked_server

EXAMPLES = """\
  kubectl ace login --server https://rancher.example.com                  prompts for the provider, user, password
  kubectl ace login --server https://rancher.example.com --auth-provider openldap --user alice
  kubectl ace login --server rancher.example.com --token-stdin < key.txt  an API key (GitHub, OIDC, … users)
  kubectl ace login --server https://rancher.example.com --ttl 12h        a login that lasts 12 hours"""
NEEDS_SERVER = (
    "login: --server is required: the Rancher URL, e.g. kubectl ace login --server https://rancher.example.com"
)


def configure(parser) -> None:
    parser.add_argument("--server", help="Rancher URL, e.g. https://rancher.example.com (required)")
    parser.add_argument("--auth-provider", help="provider type or id (localProvider, openldap, …)")
    parser.add_argument("--user", help="username (prompted for when not given)")
    secret = parser.add_mutually_exclusive_group()
    secret.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    secret.add_argument(
        "--token-stdin",
        action="store_true",
        help="read a Rancher API key (token-xxxxx:secret) from stdin; works with every provider, "
        "and is how GitHub, Google, OIDC, Keycloak OIDC and Cognito users log in "
        "(create the key in the Rancher UI: Account & API Keys, Scope: No Scope)",
    )
    parser.add_argument("--cacert", help="PEM file with Rancher's CA certificate")
    parser.add_argument("--insecure-skip-tls-verify", action="store_true", help="do not verify Rancher's certificate")
    parser.add_argument("--ttl", help="lifetime of the login, e.g. 12h, 7d (default: Rancher's)")
    parser.add_argument(
        "--auth-flow",
        choices=("devicecode", "authcode"),
        help="Azure AD sign-in: device code (default) or auth code with PKCE in a browser "
        "(default from $CATTLE_OAUTH_AUTH_FLOW)",
    )
    parser.add_argument(
        "--no-browser", action="store_true", help="print the login URL of a browser login instead of opening it"
    )
    parser.add_argument(
        "--login-timeout", metavar="DURATION", help="how long to wait for a browser login, e.g. 5m (default 15m)"
    )
    parser.add_argument(
        "--no-prepare",
        action="store_true",
        help="do not get and check a token for each ACE cluster afterwards (see `kubectl ace prepare`)",
    )


def run(args) -> int:
    if args.server is None:
        raise UsageError(NEEDS_SERVER)
    server = checked_server(args.server)
    store = Store(getattr(args, "store", None))
    password = api_key = None
    if args.password_stdin or args.token_stdin:
        value = sys.stdin.readline().rstrip("\r\n")
        if not value:
            raise UsageError("nothing was read from stdin")
        if args.token_stdin:
            api_key = value
        else:
            password = value
    cacert = connect.read_ca(args.cacert) if args.cacert else None
    if cacert is None and not args.insecure_skip_tls_verify:
        cacert = ca_from_kubeconfig(getattr(args, "kubeconfig", None), server)
    options = login_flows.LoginOptions(
        auth_flow=args.auth_flow,
        open_browser=False if args.no_browser else None,
        timeout=parse_duration(args.login_timeout, "--login-timeout") if args.login_timeout else None,
    )
    try:
        result = logins.log_in(
            server,
            store,
            provider=args.auth_provider,
            user=args.user,
            password=password,
            api_key=api_key,
            cacert_pem=cacert,
            insecure=args.insecure_skip_tls_verify,
            ttl_seconds=parse_duration(args.ttl) if args.ttl else None,
            options=options,
        )
    except BaseException:
        store.drop_ca_unless_known(server)  # a failed login keeps nothing, not even Rancher's CA
        raise
    if result.origin == "api-key":
        until = (
            "the key never expires" if result.expires is None else f"the key expires at {local_time(result.expires)}"
        )
        print(
            f"Logged in to {server} with an API key of {result.name}"
            + (f" ({result.provider})" if result.provider else "")
            + f"; {until}.",
            file=sys.stderr,
        )
    else:
        until = "never expires" if result.expires is None else f"valid until {local_time(result.expires)}"
        print(f"Logged in to {server} as {result.name} ({result.provider}); {until}.", file=sys.stderr)
    if not args.no_prepare:  # the kubeconfig's ACE clusters of this server, ready for a Rancher outage
        from kubectl_ace import readiness

        readiness.prepare_after(store, getattr(args, "kubeconfig", None), server=server)
    return 0


def ca_from_kubeconfig(explicit: str | None, server: str) -> str | None:
    """Rancher's CA from a kubeconfig that already reaches it (as the Rancher UI writes them), if any."""
    from kubectl_ace import endpoints, kubeconfig_view
    from kubectl_ace.errors import AceError

    try:
        pem = endpoints.rancher_ca(kubeconfig_view.load(explicit), server)
    except AceError:
        return None  # an unreadable kubeconfig is not this command's business
    if pem:
        print(
            "kubectl-ace: trusting Rancher's CA from the kubeconfig (pass --cacert to choose another)", file=sys.stderr
        )
    return pem or None


def parse_duration(text: str, flag: str = "--ttl") -> float:
    """`90m`, `12h`, `7d`, `1h30m`, `3600` (seconds) → seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    total, number = 0.0, ""
    for char in text.strip().lower():
        if char.isdigit() or char == ".":
            number += char
        elif char in units and number:
            total += float(number) * units[char]
            number = ""
        else:
            raise UsageError(f"{flag} {text!r} is not a duration; use e.g. 90m, 12h or 7d")
    if number:
        total += float(number)
    if total <= 0:
        raise UsageError(f"{flag} {text!r} must be longer than zero")
    return total
