"""Argument parsing and dispatch; each command's module is imported only when it runs."""

import sys

from kubectl_ace import argv as argv_reader
from kubectl_ace.errors import AceError

# Subcommands in help order, with their one-line help. A command's module (configure(parser), EXAMPLES, run(args))
# is imported only when that command runs or its help is asked for, so `kubectl ace --help` imports none of them.
COMMANDS = {
    "login": "Log in to a Rancher server once; the login is kept in the token store",
    "logout": "Revoke this tool's tokens at Rancher and delete them from the store",
    "kubeconfig": (
        "Fetch kubeconfigs from Rancher (generateKubeconfig) with kubectl-ace users; merge, write or print them"
    ),
    "convert": "Rewrite a Rancher kubeconfig in place: token and `rancher token` users become kubectl-ace exec users",
    "doctor": (
        "Check the plugin, kubectl, kubeconfig, token store, logins, Rancher and every endpoint; say how to fix them"
    ),
    "token": "Print an ExecCredential for kubectl (used from a kubeconfig's exec section)",
    "status": (
        "Probe Rancher, each cluster's proxy and ACE endpoints; show what is healthy, used, and ready for an outage"
    ),
    "prepare": "Make sure each ACE cluster holds a token its ACE endpoints accept, ready for a Rancher outage",
    "switch": "Set the current context: by name, or to the best (--auto), proxy (--proxy) or ACE (--ace) endpoint",
    "kubectl": "Run kubectl against the best endpoint of the target cluster for this one command",
    "completion": "Print a shell completion script, or install the kubectl_complete-ace shim for `kubectl ace <TAB>`",
    "version": "Print the version, build and Python",
}
GLOBAL_VALUE_FLAGS = ("--kubeconfig", "--context", "--store")


def entry() -> None:
    """The program (the launcher, `python -m kubectl_ace`, the frozen build): main() with the process's arguments,
    then exit with its code."""
    code = main()
    import atexit

    if "threading" not in sys.modules and not getattr(atexit, "_ncallbacks", lambda: 1)():
        # Nothing runs beside this thread (a probe, a spawn or a login imports threading), no exit hook waits and
        # every file is closed: skip the interpreter's teardown (freeing every module and a full garbage collection,
        # ~9 M instructions: a sixth of a cached `kubectl-ace token`, which kubectl runs on every call).
        import os

        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except (OSError, ValueError):
            code = code or 141  # kubectl did not get the answer (a closed pipe)
        os._exit(code)
    sys.exit(code)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    verbose = "-v" in argv or "--verbose" in argv
    try:
        index = argv_reader.subcommand_at(argv, "token", GLOBAL_VALUE_FLAGS)
        if index is not None:
            from kubectl_ace.commands import token

            return token.run(argv[index + 1 :] + argv[:index])  # the hot path: no argparse
        index = argv_reader.subcommand_at(argv, "kubectl", GLOBAL_VALUE_FLAGS)
        if index is not None and argv[index + 1 : index + 2] in (["-h"], ["--help"]):
            return dispatch(["kubectl", "--help"])  # its own help; `kubectl ace kubectl get -h` is kubectl's
        if index is not None:
            from kubectl_ace.commands import kubectl

            head = argv[:index]
            values = argv_reader.flag_values(head, GLOBAL_VALUE_FLAGS)
            return kubectl.run_raw(argv[index + 1 :], {name[2:]: value for name, value in values.items()})
        return dispatch(argv)
    except AceError as err:
        if err.exit_code == 130:
            _end_prompt_line()
        if not err.already_said:  # kubectl runs the plugin again for each retry: a notice is said once
            print(f"kubectl-ace: error: {err.message}", file=sys.stderr)
        if verbose and err.detail:
            print(f"kubectl-ace: detail: {err.detail}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        _end_prompt_line()
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


def _end_prompt_line() -> None:
    """After Ctrl-C at a prompt the terminal shows `^C` with no newline: start the message on a line of its own."""
    try:
        if sys.stderr.isatty():
            sys.stderr.write("\n")
    except (AttributeError, ValueError, OSError):
        pass


def dispatch(argv: list[str]) -> int:
    import importlib

    parser = build_parser(only=argv_reader.subcommand(argv, GLOBAL_VALUE_FLAGS) or "")  # "": none in full
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help(sys.stderr)
        return 2
    module = importlib.import_module(f"kubectl_ace.commands.{args.command}")
    args.build_parser = build_parser  # completion walks the parser; commands never import this module
    return module.run(args)


OUTPUT_HELP = "output format: table for people (default), json or yaml for scripts"


def build_parser(only: str | None = None):
    """The parser of every command (completion walks it), or with only that command's options (the others are listed
    by name and help: enough for `kubectl ace --help` and for an unknown command's error)."""
    import argparse
    import importlib

    class Parser(argparse.ArgumentParser):
        """argparse with one-line errors: the usage block is what --help is for."""

        def error(self, message: str):
            from kubectl_ace.errors import UsageError

            where = self.prog.removeprefix("kubectl ace").strip()
            raise UsageError(f"{where + ': ' if where else ''}{message}; see `{self.prog} --help`")

    common = Parser(add_help=False)
    common.add_argument("--kubeconfig", default=argparse.SUPPRESS, help="kubeconfig file to use")
    common.add_argument("--context", default=argparse.SUPPRESS, help="kubeconfig context to use")
    common.add_argument(
        "--store",
        default=argparse.SUPPRESS,
        help="token store directory (default: $KUBECTL_ACE_STORE or the user data directory)",
    )
    common.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="more detail on errors (secrets are never shown)",
    )

    parser = Parser(
        prog="kubectl ace",
        parents=[common],
        description="Rancher credentials for kubectl, with failover to the Authorized Cluster Endpoint.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, text in COMMANDS.items():
        if only is not None and name != only:
            sub.add_parser(name, help=text)  # for the command list and `invalid choice`; never parsed
            continue
        module = importlib.import_module(f"kubectl_ace.commands.{name}")
        examples = getattr(module, "EXAMPLES", "")
        command = sub.add_parser(
            name,
            parents=[common],
            help=text,
            description=text,
            epilog=f"Examples:\n{examples}" if examples else None,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.configure(command)
        for action in command._actions:  # every command's -o means the same
            if "--output" in action.option_strings and not action.help:
                action.help = OUTPUT_HELP
    return parser


EXAMPLES = """\
Examples:
  kubectl ace login --server https://rancher.example.com      log in once
  kubectl ace kubeconfig --all --merge                          contexts for every cluster, into your kubeconfig
  kubectl ace doctor                                            check everything, with the fix for each problem
  kubectl ace status --all                                      which endpoints are healthy and which is used
  kubectl ace <COMMAND> --help                                  a command's options and examples"""
