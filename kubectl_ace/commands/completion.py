"""`kubectl ace completion`: shell completion, and the kubectl_complete-ace shim that kubectl >= 1.26 runs."""

from __future__ import annotations

import argparse
import sys

from kubectl_ace.completion import ENGINE, SHELLS, complete, install, script
from kubectl_ace.errors import UsageError

EXAMPLES = """\
  source <(kubectl-ace completion bash)      bash, e.g. in ~/.bashrc
  source <(kubectl-ace completion zsh)       zsh, after compinit, e.g. in ~/.zshrc
  kubectl-ace completion fish | source       fish (or save it in ~/.config/fish/completions/)
  kubectl ace completion install             writes kubectl_complete-ace beside kubectl-ace: `kubectl ace <TAB>`
                                             then works wherever kubectl's own completion is loaded (kubectl >= 1.26)"""

NEEDS_SHELL = "completion: name a shell (bash, zsh or fish) or install; e.g. source <(kubectl-ace completion bash)"


class Words(tuple):
    """The shell words; the engine's hidden word is accepted but never listed (in help, errors or completion)."""

    def __contains__(self, value: object) -> bool:
        return value == ENGINE or tuple.__contains__(self, value)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "shell",
        nargs="?",
        choices=Words((*SHELLS, "install")),
        metavar="{bash,zsh,fish,install}",
        help="print the script for this shell, or install the kubectl_complete-ace shim",
    )
    parser.add_argument(
        "--dir",
        help="install: the directory to write the shim to (default: the one holding the kubectl-ace that is on PATH)",
    )
    # Everything after the shell word: the words to complete (for __complete), or install's --dir.
    parser.add_argument("words", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    if args.shell is None:
        raise UsageError(NEEDS_SHELL)
    if args.shell == ENGINE:
        candidates, directive = complete(args.build_parser(), list(args.words))
        sys.stdout.write("".join(line + "\n" for line in candidates) + f":{directive}\n")
        return 0
    if args.shell == "install":
        path = install(install_dir(args))
        print(
            f"Wrote {path}: `kubectl ace <TAB>` now completes wherever kubectl's own shell completion "
            "is loaded (kubectl >= 1.26).",
            file=sys.stderr,
        )
        return 0
    if args.words:
        raise UsageError(f"completion {args.shell}: unexpected argument {args.words[0]!r}")
    sys.stdout.write(script(args.shell))
    return 0


def install_dir(args: argparse.Namespace) -> str | None:
    """The --dir given before or after `install` (argparse hands everything after it over as words)."""
    directory, words = args.dir, list(args.words)
    while words:
        word = words.pop(0)
        if word == "--dir" and words:
            directory = words.pop(0)
        elif word.startswith("--dir="):
            directory = word.split("=", 1)[1]
        else:
            raise UsageError(f"completion install: unexpected argument {word!r}; the only option is --dir DIR")
    return directory
