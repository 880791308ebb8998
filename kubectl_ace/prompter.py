"""Talking to the person at the terminal during a login: prompts, a progress line, their browser.

Everything goes to the terminal or stderr, never to stdout: in the exec path stdout belongs to kubectl.
"""

from __future__ import annotations

import os
import sys
import time

from kubectl_ace.errors import UsageError
from kubectl_ace.rancher import auth


class TerminalPrompter:
    """Prompts on the terminal (or stderr), never on stdout: stdout belongs to kubectl in the exec path."""

    def __init__(self) -> None:
        self._tty = None
        self._progress_shown = False
        try:
            self._tty = open("/dev/tty", "r+", encoding="utf-8") if os.name != "nt" else None
        except OSError:
            self._tty = None

    def _ask(self, text: str) -> str:
        if self._tty:
            self._tty.write(text)
            self._tty.flush()
            line = self._tty.readline()
        elif sys.stdin and sys.stdin.isatty():
            sys.stderr.write(text)
            sys.stderr.flush()
            line = sys.stdin.readline()
        else:
            raise UsageError("a login needs a terminal to prompt on; use --password-stdin or --token-stdin")
        if not line:
            raise UsageError("no answer to the login prompt (end of input)")
        return line.rstrip("\r\n")

    def say(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def progress(self, text: str) -> None:
        """Rewrite one status line, on a terminal only (logs and pipes get no carriage returns)."""
        if sys.stderr and sys.stderr.isatty():
            sys.stderr.write("\r\x1b[K" + text)
            sys.stderr.flush()
            self._progress_shown = True

    def progress_done(self) -> None:
        if self._progress_shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
            self._progress_shown = False

    def choose_provider(self, providers: list[dict]) -> dict:
        if not self._tty and not (sys.stdin and sys.stdin.isatty()):
            names = ", ".join(auth.provider_id(item) for item in providers)
            raise UsageError(f"several auth providers are enabled ({names}); pass --auth-provider")
        self.say("Auth providers:")
        for index, item in enumerate(providers):
            self.say(f"{index} - {auth.provider_id(item)} ({item['type']})")
        for _ in range(3):
            answer = self._ask("Select auth provider: ").strip()
            if answer.isdigit() and int(answer) < len(providers):
                return providers[int(answer)]
            matches = [
                item for item in providers if answer.lower() in (item["type"].lower(), auth.provider_id(item).lower())
            ]
            if answer and matches:
                return matches[0]
            self.say("Pick a valid auth provider")
        raise UsageError("no valid auth provider chosen; pass --auth-provider")

    def username(self, default: str | None) -> str:
        answer = self._ask(f"Username [{default}]: " if default else "Username: ").strip()
        answer = answer or (default or "")
        if not answer:
            raise UsageError("a username is needed; pass --user")
        return answer

    def password(self, user: str) -> str:
        import getpass

        if self._tty or (sys.stdin and sys.stdin.isatty()):
            return getpass.getpass(f"Password for {user}: ", stream=sys.stderr)
        raise UsageError("a password prompt needs a terminal; use --password-stdin")


class Waiting:
    """A once-a-second progress line while a browser login runs: elapsed time, the limit, how to cancel."""

    def __init__(self, prompter, what: str, timeout: float) -> None:
        self.prompter = prompter
        self.what = what
        self.timeout = timeout
        self.started = time.monotonic()
        self.shown = -1

    def tick(self) -> None:
        elapsed = int(time.monotonic() - self.started)
        if elapsed == self.shown or not hasattr(self.prompter, "progress"):
            return
        self.shown = elapsed
        self.prompter.progress(
            f"{self.what}... {elapsed // 60}:{elapsed % 60:02d} "
            f"(gives up after {duration(self.timeout)}; Ctrl-C to cancel)"
        )

    def done(self) -> None:
        if hasattr(self.prompter, "progress_done"):
            self.prompter.progress_done()


def open_browser(url: str) -> bool:
    """Start the user's browser on url ($BROWSER first), detached, with a clean environment; False if none.

    Never a text-mode browser: it would take over the terminal kubectl runs in.
    """
    import shlex
    import subprocess
    import threading

    from kubectl_ace.procenv import child_env

    env = child_env()
    commands: list[list[str]] = []
    for entry in os.environ.get("BROWSER", "").split(os.pathsep):
        if entry.strip():
            argv = shlex.split(entry, posix=os.name != "nt")
            commands.append([arg.replace("%s", url) for arg in argv] if "%s" in entry else argv + [url])
    if not commands:
        if sys.platform == "darwin":
            commands.append(["open", url])
        elif sys.platform == "win32":
            try:
                os.startfile(url)  # noqa: S606 - the shell's URL handler; nothing of ours is inherited
                return True
            except OSError:
                return False
        elif os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
            commands.append(["xdg-open", url])
        else:
            commands.append(["wslview", url])  # WSL: the Windows browser; absent elsewhere
    for argv in commands:
        try:
            child = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=env,
                start_new_session=os.name != "nt",
            )
        except (OSError, ValueError):
            continue
        threading.Thread(target=child.wait, daemon=True).start()  # reap it whenever it ends
        return True
    return False


def duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds % 3600 == 0 and seconds >= 3600:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0 and seconds >= 60:
        return f"{seconds // 60} min"
    return f"{seconds} s"
