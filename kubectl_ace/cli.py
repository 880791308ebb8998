"""Argument parsing and dispatch; each command's module is imported only when it runs."""

from __future__ import annotations

import sys

from kubectl_ace.errors import AceError

COMMANDS = {
    "login": "Log in to a Rancher server once; the login is kept in the token store",
    "logout": "Revoke this tool's tokens at Rancher and delete them from the store",
    "token": "Print an ExecCredential for kubectl (used from a kubeconfig's exec section)",
    "version": "Print the version, build and Python",
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    verbose = "-v" in argv or "--verbose" in argv
    try:
        if argv and argv[0] == "token":
            from kubectl_ace.commands import token
            return token.run(argv[1:])  # the hot path: no argparse
        return dispatch(argv)
    except AceError as err:
        print(f"kubectl-ace: error: {err.message}", file=sys.stderr)
        if verbose and err.detail:
            print(f"kubectl-ace: detail: {err.detail}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("kubectl-ace: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 141
    except Exception as err:  # a bug: one line, the traceback only with -v
        if verbose:
            import traceback
            traceback.print_exc()
        print(f"kubectl-ace: internal error ({type(err).__name__}); rerun with -v and report it", file=sys.stderr)
        return 70


def dispatch(argv: list[str]) -> int:
    import importlib

    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help(sys.stderr)
        return 2
    module = importlib.import_module(f"kubectl_ace.commands.{args.command}")
    return module.run(args)


def build_parser():
    import argparse

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--kubeconfig", default=argparse.SUPPRESS, help="kubeconfig file to use")
    common.add_argument("--context", default=argparse.SUPPRESS, help="kubeconfig context to use")
    common.add_argument("--store", default=argparse.SUPPRESS,
                        help="token store directory (default: $KUBECTL_ACE_STORE or the user data directory)")
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="more detail on errors (secrets are never shown)")

    parser = argparse.ArgumentParser(prog="kubectl ace", parents=[common],
                                     description="Rancher credentials for kubectl, with failover to the "
                                                 "Authorized Cluster Endpoint.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    login = sub.add_parser("login", parents=[common], help=COMMANDS["login"], description=COMMANDS["login"])
    login.add_argument("--server", required=True, help="Rancher URL, e.g. https://rancher.example.com")
    login.add_argument("--auth-provider", help="provider type or id (localProvider, openldap, …)")
    login.add_argument("--user", help="username (prompted for when not given)")
    secret = login.add_mutually_exclusive_group()
    secret.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    secret.add_argument("--token-stdin", action="store_true",
                        help="read a Rancher API key (token-xxxxx:secret) from stdin; works with every provider")
    login.add_argument("--cacert", help="PEM file with Rancher's CA certificate")
    login.add_argument("--insecure-skip-tls-verify", action="store_true", help="do not verify Rancher's certificate")
    login.add_argument("--ttl", help="lifetime of the login, e.g. 12h, 7d (default: Rancher's)")

    logout = sub.add_parser("logout", parents=[common], help=COMMANDS["logout"], description=COMMANDS["logout"])
    logout.add_argument("--server", help="the Rancher server (needed when logged in to several)")
    logout.add_argument("--all", action="store_true", help="log out of every server")

    token = sub.add_parser("token", parents=[common], help=COMMANDS["token"], description=COMMANDS["token"])
    token.add_argument("--server", required=True)

    version = sub.add_parser("version", parents=[common], help=COMMANDS["version"], description=COMMANDS["version"])
    version.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table")
    return parser
