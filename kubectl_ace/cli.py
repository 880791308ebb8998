"""Argument parsing and dispatch; each command's module is imported only when it runs."""

from __future__ import annotations

import sys

from kubectl_ace.errors import AceError

# Subcommands in help order; each module has HELP and configure(parser), and imports heavy things in run().
COMMANDS = ("login", "logout", "kubeconfig", "convert", "doctor", "token", "status", "switch", "kubectl", "completion",
            "version")
GLOBAL_VALUE_FLAGS = ("--kubeconfig", "--context", "--store")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    verbose = "-v" in argv or "--verbose" in argv
    try:
        if "token" in argv:
            index = argv.index("token")
            if all(arg.startswith("-") or argv[i - 1] in GLOBAL_VALUE_FLAGS for i, arg in enumerate(argv[:index])):
                from kubectl_ace.commands import token
                return token.run(argv[index + 1:] + argv[:index])  # the hot path: no argparse
        if "kubectl" in argv:
            index = argv.index("kubectl")
            head = argv[:index]
            if all(arg.startswith("-") or head[i - 1] in GLOBAL_VALUE_FLAGS for i, arg in enumerate(head)):
                from kubectl_ace.commands import kubectl
                return kubectl.run_raw(argv[index + 1:], global_values(head))
        return dispatch(argv)
    except AceError as err:
        if err.message:  # a repeated failover notice is empty: it was said once to this kubectl
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


def global_values(head: list[str]) -> dict:
    """--kubeconfig, --context and --store given before a raw subcommand."""
    values: dict = {}
    for index, arg in enumerate(head):
        name, has_value, value = arg.partition("=")
        if name in GLOBAL_VALUE_FLAGS:
            values[name[2:]] = value if has_value else (head[index + 1] if index + 1 < len(head) else None)
    return values


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
    import importlib

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
    for name in COMMANDS:
        module = importlib.import_module(f"kubectl_ace.commands.{name}")
        module.configure(sub.add_parser(name, parents=[common], help=module.HELP, description=module.HELP))
    return parser
