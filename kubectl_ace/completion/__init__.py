"""Shell completion for kubectl-ace: an engine that answers in cobra's `__complete` protocol (as kubectl expects of
plugins, through the kubectl_complete-ace shim), the shim's installer, and the bash, zsh and fish scripts beside it.

The engine walks the argparse parser it is given (commands never import the CLI that builds it).
"""

from __future__ import annotations

import argparse
import sys

from kubectl_ace.errors import AceError, UsageError

SHELLS = ("bash", "zsh", "fish")
SCRIPTS = {"bash": "bash.sh", "zsh": "zsh.zsh", "fish": "fish.fish"}
ENGINE = "__complete"  # hidden: answers in cobra's __complete protocol, as kubectl expects of plugins
SHIM = "kubectl_complete-ace"

# Cobra's ShellCompDirective bits: the last line of every answer is `:<directive>`.
DEFAULT, NO_SPACE, NO_FILES, FILTER_DIRS = 0, 2, 4, 16


# --- the completion engine ---------------------------------------------------------------------------


def complete(parser: argparse.ArgumentParser, words: list[str]) -> tuple[list[str], int]:
    """Candidates ("word" or "word<TAB>description") for the last of words, and a cobra directive."""
    *before, current = words or [""]
    active, command, pending, positionals, seen = parser, None, None, 0, {}
    only_positionals = False
    for index, word in enumerate(before):
        if pending is not None:
            seen[pending.dest], pending = word, None
        elif word == "--" and not only_positionals:
            only_positionals = True
        elif word.startswith("-") and word != "-" and not only_positionals:
            name, value = split_flag(word)
            action = flags(active).get(name)
            if action is not None and takes_value(action):
                if value is None:
                    pending = action
                else:
                    seen[action.dest] = value
        elif command is None and word in subcommands(parser):
            command, active = word, subcommands(parser)[word][0]
            if command == "kubectl":  # the rest belongs to kubectl: let it answer, it speaks the same protocol
                return kubectl_complete(before[index + 1 :] + [current])
        else:
            positionals += 1
    if pending is not None:
        return values(pending, current, seen)
    if current.startswith("-") and not only_positionals:
        name, value = split_flag(current)
        if value is not None:
            action = flags(active).get(name)
            if action is None or not takes_value(action):
                return [], NO_FILES
            found, directive = values(action, value, seen)
            return [f"{current[: len(current) - len(value)]}{c}" for c in found], directive
        return [
            with_description(option, action.help)
            for option, action in sorted(flags(active).items())
            if option.startswith(current) and action.help != argparse.SUPPRESS
        ], NO_FILES
    if command is None:
        return [
            with_description(name, text)
            for name, (_, text) in subcommands(parser).items()
            if name.startswith(current) and not name.startswith("_")
        ], NO_FILES
    wanted = positional_actions(active)
    if positionals < len(wanted):
        return values(wanted[positionals], current, seen)
    if wanted and wanted[-1].nargs in ("*", "+"):
        return values(wanted[-1], current, seen)
    return [], NO_FILES


def split_flag(word: str) -> tuple[str, str | None]:
    """`--opt=value` → (--opt, value); `-ojson` → (-o, json); `--opt` → (--opt, None)."""
    if word.startswith("--"):
        name, eq, value = word.partition("=")
        return name, value if eq else None
    if len(word) > 2:
        return word[:2], word[2:].removeprefix("=")
    return word, None


def flags(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Option string → its action, for every option of the parser."""
    return {option: action for action in parser._actions for option in action.option_strings}


def takes_value(action: argparse.Action) -> bool:
    """False for switches (store_true, count, help …)."""
    return action.nargs != 0


def subcommands(parser: argparse.ArgumentParser) -> dict[str, tuple[argparse.ArgumentParser, str | None]]:
    """name → (subparser, help) for the parser's subcommands, in help order."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            return {name: (sub, helps.get(name)) for name, sub in action.choices.items()}
    return {}


def positional_actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The visible positional arguments, in order."""
    return [
        a
        for a in parser._actions
        if not a.option_strings and a.help != argparse.SUPPRESS and not isinstance(a, argparse._SubParsersAction)
    ]


def values(action: argparse.Action, current: str, seen: dict) -> tuple[list[str], int]:
    """Candidates for the value of a flag or positional."""
    if action.choices:
        return [str(c) for c in action.choices if str(c).startswith(current) and not str(c).startswith("_")], NO_FILES
    hint = f"{action.dest} {action.metavar or ''}".lower()
    if "context" in hint:
        return [c for c in context_names(seen.get("kubeconfig")) if c.startswith(current)], NO_FILES
    if any(word in hint for word in ("kubeconfig", "cacert", "file", "path")):
        return [], DEFAULT  # the shell completes file names
    if any(word in hint for word in ("dir", "store")):
        return [], FILTER_DIRS
    return [], NO_FILES


def context_names(kubeconfig_file: str | None) -> list[str]:
    """The contexts of the kubeconfig kubectl would use; none when it cannot be read (never an error here)."""
    try:
        from kubectl_ace import kubeconfig_view

        return sorted(kubeconfig_view.load(kubeconfig_file).contexts)
    except Exception:  # completion must answer something, whatever state the files are in
        return []


def kubectl_complete(words: list[str]) -> tuple[list[str], int]:
    """Ask kubectl to complete its own arguments (for `kubectl ace kubectl ARGS…`)."""
    import os
    import shutil
    import subprocess

    from kubectl_ace.procenv import child_env

    binary = os.environ.get("KUBECTL") or shutil.which("kubectl")
    if not binary:
        return [], DEFAULT
    try:
        result = subprocess.run(
            [binary, "__complete", *words],
            capture_output=True,
            text=True,
            timeout=10,
            env=child_env(),
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return [], DEFAULT
    lines = result.stdout.splitlines()
    if result.returncode != 0 or not lines or not lines[-1].startswith(":") or not lines[-1][1:].isdigit():
        return [], DEFAULT
    return lines[:-1], int(lines[-1][1:])


def with_description(word: str, text: str | None) -> str:
    """`word<TAB>short description` (zsh and fish show it; bash drops it)."""
    summary = describe(text)
    return f"{word}\t{summary}" if summary else word


def describe(text: str | None) -> str:
    """The first sentence of a help text, skipping a leading usage block and %(...)s placeholders."""
    if not text or text == argparse.SUPPRESS:
        return ""
    paragraphs = [" ".join(p.split()) for p in text.replace("%%", "%").split("\n\n")]
    prose = next((p for p in paragraphs if p and not p.lower().startswith("usage:")), "")
    import re

    prose = re.sub(r"%\([a-z_]+\)[sd]", "", prose).strip()
    sentence = re.split(r"(?<=[a-z0-9)])\.\s+(?=[A-Z])", prose)[0].rstrip(".")  # not at "e.g. https"
    return sentence if len(sentence) <= 80 else sentence[:77].rstrip() + "..."


# --- install ---------------------------------------------------------------------------------------


def install(directory: str | None) -> str:
    """Write the kubectl_complete-ace shim into directory (default: beside the kubectl-ace on PATH)."""
    import os
    import shutil
    import tempfile

    found = shutil.which("kubectl-ace")
    if directory is None:
        if not found:
            raise AceError(
                "kubectl-ace is not on PATH, so kubectl cannot run it either; put it on PATH, "
                "or pass --dir DIR with a directory on PATH"
            )
        directory = os.path.dirname(os.path.abspath(found))
    directory = os.path.abspath(os.path.expanduser(directory))
    if not os.path.isdir(directory):
        raise UsageError(f"--dir {directory}: no such directory")
    windows = os.name == "nt"
    path = os.path.join(directory, SHIM + (".cmd" if windows else ""))
    text = shim_text(program_command(found), windows)
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{SHIM}.", dir=directory)
        try:
            with os.fdopen(handle, "w", encoding="utf-8", newline="\r\n" if windows else "\n") as out:
                out.write(text)
            os.chmod(temporary, 0o755)
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise
    except OSError as err:
        raise AceError(
            f"cannot write {path}: {err.strerror or err}; pass --dir DIR with a directory on PATH that you can write to"
        ) from None
    on_path = [os.path.normcase(os.path.abspath(p)) for p in os.environ.get("PATH", "").split(os.pathsep) if p]
    if os.path.normcase(directory) not in on_path:
        print(f"kubectl-ace: note: {directory} is not on PATH; kubectl looks for {SHIM} on PATH", file=sys.stderr)
    return path


def program_command(found: str | None) -> list[str]:
    """How the shim starts kubectl-ace: the one on PATH (a krew link survives upgrades), else this one."""
    import os

    if found:
        return [os.path.abspath(found)]
    if getattr(sys, "frozen", False):
        return [sys.executable]
    return [sys.executable, "-m", "kubectl_ace"]


def shim_text(command: list[str], windows: bool) -> str:
    """A small script that hands kubectl's words to `kubectl-ace completion __complete`."""
    if windows:
        quoted = " ".join(f'"{part}"' for part in command)
        return (
            f"@echo off\r\nrem kubectl runs this to complete `kubectl ace ...`; written by "
            f"`kubectl ace completion install`.\r\n{quoted} completion {ENGINE} %*\r\n"
        )
    import shlex

    return (
        "#!/bin/sh\n"
        "# kubectl (>= 1.26) runs this to complete `kubectl ace ...`. Written by `kubectl ace completion\n"
        "# install`; run that again if kubectl-ace moves.\n"
        f'exec {" ".join(shlex.quote(part) for part in command)} completion {ENGINE} "$@"\n'
    )


# --- shell scripts ---------------------------------------------------------------------------------


def script(shell: str) -> str:
    """The completion script for the shell (a file of this package)."""
    import os

    with open(os.path.join(os.path.dirname(__file__), SCRIPTS[shell]), encoding="utf-8") as handle:
        return handle.read()
