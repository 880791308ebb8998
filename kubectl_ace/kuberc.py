"""Whether the kuberc in force lets kubectl run kubectl-ace, and the fix that works for that kubectl version.

kubectl 1.35 added `credentialPluginPolicy` / `credentialPluginAllowlist` to kuberc (`name:` entries); 1.36 renamed
the entry key to `command:` (`name:` deprecated) and added `kubectl kuberc set --section credentialplugin`. The rules
below were checked against real kubectl 1.36.4 and 1.37.1; those for 1.35 follow its schema (no `command` field).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from dataclasses import dataclass

PLUGIN = "kubectl-ace"
API_VERSION = "kubectl.config.k8s.io/v1beta1"
ALPHA = "kubectl.config.k8s.io/v1alpha1"  # still read, but it has no credential plugin fields
POLICY_FROM = (1, 35)  # credentialPluginPolicy
COMMAND_FROM = (1, 36)  # `command:` entries and `kubectl kuberc set --section credentialplugin`
KUBERC_FROM = (1, 34)  # kuberc on by default (beta); an explicit file that is missing is then an error
NEWEST_RULES = (1, 37)


@dataclass
class Location:
    """The kuberc kubectl reads: its path, and whether it was named (`--kuberc`, KUBERC) or is the default."""

    path: str
    explicit: bool


@dataclass
class Verdict:
    """What kubectl would do with the plugin: run it, refuse it (`blocked`), or refuse to start (`broken`)."""

    allowed: bool
    detail: str
    fix: str = ""
    broken: bool = False
    certain: bool = True  # False: the file could not be read here, so kubectl may see it otherwise


class Unreadable(ValueError):
    """YAML outside the subset this module reads."""


def locate(environ, flag: str | None = None) -> Location | None:
    """The kuberc in force, or None when kuberc is off (KUBECTL_KUBERC=false, KUBERC=off)."""
    if environ.get("KUBECTL_KUBERC", "").lower() == "false":
        return None
    if flag:
        return Location(flag, True)  # `--kuberc off` is a file named off, as kubectl reads it
    named = environ.get("KUBERC", "")
    if named == "off":
        return None
    if named:
        return Location(named, True)
    home = environ.get("HOME") or os.path.expanduser("~")
    return Location(os.path.join(home, ".kube", "kuberc"), False)


# --- reading the file ---


def preference(text: str) -> dict | None:
    """The first document kubectl accepts as a Preference, or None (kubectl then ignores the file)."""
    for document in parse_documents(text):
        if not (isinstance(document, dict) and document.get("kind") == "Preference"):
            continue
        if document.get("apiVersion") == ALPHA:
            return {k: v for k, v in document.items() if not k.startswith("credentialPlugin")}
        if document.get("apiVersion") == API_VERSION and _well_typed(document):
            return document
    return None


def _well_typed(document: dict) -> bool:
    """kubectl drops a document whose fields have the wrong types (e.g. a policy that is a number)."""
    policy = document.get("credentialPluginPolicy")
    entries = document.get("credentialPluginAllowlist")
    if policy is not None and not isinstance(policy, str):
        return False
    if entries is None:
        return True
    if not isinstance(entries, list):
        return False
    return all(
        entry is None
        or (
            isinstance(entry, dict)
            and all(
                value is None or isinstance(value, str) for key, value in entry.items() if key in ("name", "command")
            )
        )
        for entry in entries
    )


def parse_documents(text: str) -> list:
    """Every YAML document in text (as kubectl's YAML 1.1 reader sees them); Unreadable when it is not YAML."""
    import yaml

    try:
        return [document for document in yaml.safe_load_all(text) if document is not None]
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        raise Unreadable(f"not valid YAML{f' (line {mark.line + 1})' if mark else ''}") from None


# --- the decision ---


def decide(
    document: dict | None,
    version: tuple[int, int],
    command: str = PLUGIN,
    path_env: str = "",
    where: str = "the kuberc",
) -> Verdict:
    """Whether kubectl `version` runs `command` (as the kubeconfig writes it) under the Preference `document`."""
    shown = f"kubectl {version[0]}.{version[1]}"
    if version < POLICY_FROM:
        return Verdict(True, f"{where}: {shown} has no credential plugin policy")
    if document is None:
        return Verdict(True, f"{where}: kubectl ignores it (no valid Preference document)")
    entries = document.get("credentialPluginAllowlist")
    names = []
    for entry in entries or []:
        entry = entry or {}
        name, given = entry.get("name") or "", entry.get("command") or ""
        if version >= COMMAND_FROM:
            if name and given and name != given:
                return Verdict(
                    True,
                    f"{where}: kubectl ignores it (an allowlist entry has name {name!r} and command "
                    f"{given!r}); no credential plugin policy applies",
                )
            names.append(given or name)
        else:
            names.append(name)  # 1.35 knows no `command:` and drops it
    policy = document.get("credentialPluginPolicy") or ""
    problem = _misconfigured(policy, entries, names)
    if problem:
        return Verdict(
            False,
            f"{where}: {shown} rejects it and runs no command: {problem}",
            _hand_fix(where, version, names),
            broken=True,
        )
    if policy in ("", "AllowAll"):
        return Verdict(True, f"{where} allows credential plugins")
    if policy == "DenyAll":
        return Verdict(
            False,
            f"{where} denies every credential plugin (credentialPluginPolicy: DenyAll), so {shown} "
            f"will not run {command}",
            fix(where, version, []),
        )
    for name in names:
        if allowlisted(name, command, path_env):
            return Verdict(True, f"{where} allows {command} (allowlist entry {name!r})")
    return Verdict(
        False,
        f"{where} allows only the listed credential plugins ({', '.join(names)}), and {shown} will not run {command}",
        fix(where, version, names),
    )


def _misconfigured(policy: str, entries, names: list[str]) -> str:
    """kubectl's configuration errors, which stop every command (its wording)."""
    if policy not in ("", "AllowAll", "DenyAll", "Allowlist"):
        return f"unknown plugin policy {policy!r}"
    if policy != "Allowlist":
        return f"plugin policy is {policy!r} but allowlist is non-nil" if entries is not None else ""
    if entries is None:
        return 'credential plugin policy set to "Allowlist", but allowlist is unspecified'
    if not entries:
        return 'credential plugin policy set to "Allowlist", but allowlist is empty'
    for number, name in enumerate(names, 1):
        if not name:
            return f"empty allowlist entry #{number}"
        if os.path.normpath(name) != name or name.startswith("//"):
            return f"non-normalized file path: {name!r}"
    return ""


def allowlisted(entry: str, command: str, path_env: str) -> bool:
    """client-go's match: the command as written, or the same LookPath result; symlinks are not resolved."""
    resolved = lookpath(command, path_env)
    if entry == command or (resolved and entry == resolved):
        return True
    other = lookpath(entry, path_env)
    return bool(other and resolved and other == resolved)


def lookpath(name: str, path_env: str) -> str:
    """Go's exec.LookPath on Unix: a name with a slash as is, else the first executable on PATH ('' if none)."""
    if "/" in name:
        return name if _executable(name) else ""
    for folder in path_env.split(os.pathsep):
        candidate = os.path.join(folder or ".", name)
        if _executable(candidate):
            return candidate if os.path.isabs(candidate) else ""  # Go refuses a relative result (ErrDot)
    return ""


def _executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def fix(where: str, version: tuple[int, int], others: list[str]) -> str:
    """The change that lets kubectl run kubectl-ace, keeping the plugins already listed."""
    keep = [name for name in others if name and name != PLUGIN]
    if version >= COMMAND_FROM:
        entries = " ".join(f"--allowlist-entry {shlex.quote('command=' + name)}" for name in [*keep, PLUGIN])
        return f"kubectl kuberc set --section credentialplugin --policy Allowlist {entries}"
    return _hand_fix(where, version, keep)


def _hand_fix(where: str, version: tuple[int, int], others: list[str]) -> str:
    key = "command" if version >= COMMAND_FROM else "name"
    keep = [name for name in others if name and name != PLUGIN and os.path.normpath(name) == name]
    listed = ", ".join(f"{{{key}: {name}}}" for name in [*keep, PLUGIN])
    return f"edit {where} by hand: `credentialPluginPolicy: Allowlist` and `credentialPluginAllowlist: [{listed}]`" + (
        ""
        if version >= COMMAND_FROM
        else f" (kubectl {version[0]}.{version[1]} has no `kubectl kuberc set` for credential plugins)"
    )


# --- the kuberc in force, for the kubectl in force ---


def check(environ, version: tuple[int, int] | None = None, flag: str | None = None, command: str = PLUGIN) -> Verdict:
    """The verdict for the kuberc kubectl would read in `environ`; version None asks the kubectl on PATH."""
    location = locate(environ, flag)
    if location is None:
        return Verdict(True, "kuberc is off (KUBERC=off or KUBECTL_KUBERC=false)")
    try:
        with open(location.path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        version = version or kubectl_version(environ) or NEWEST_RULES
        if location.explicit and version >= KUBERC_FROM:
            return Verdict(
                False,
                f"{location.path} does not exist, and kubectl {version[0]}.{version[1]} refuses to "
                "start without the kuberc it was told to read",
                f"create {location.path}, or unset KUBERC",
                broken=True,
            )
        return Verdict(True, f"no kuberc at {location.path}")
    except (OSError, UnicodeDecodeError) as err:
        return Verdict(
            True,
            f"cannot read {location.path} ({getattr(err, 'strerror', None) or err}); kubectl may not either",
            f"check {location.path} and its permissions",
            certain=False,
        )
    try:
        document = preference(text)
    except (Unreadable, IndexError, ValueError) as err:
        return Verdict(
            True,
            f"{location.path} uses YAML kubectl-ace does not read ({err})",
            "see what kubectl reads with `kubectl kuberc view`",
            certain=False,
        )
    if document is None or ("credentialPluginPolicy" not in document and "credentialPluginAllowlist" not in document):
        return decide(document, version or NEWEST_RULES, command, environ.get("PATH", ""), location.path)
    version = version or kubectl_version(environ) or NEWEST_RULES
    return decide(document, version, command, environ.get("PATH", ""), location.path)


def kubectl_client(environ) -> tuple[str, str]:
    """(path, gitVersion) of the kubectl on PATH; ("", "") when it is missing, (path, "") when it says nothing."""
    from shutil import which

    from kubectl_ace.procenv import child_env

    found = which("kubectl", path=environ.get("PATH"))
    if not found:
        return "", ""
    try:
        out = subprocess.run(
            [found, "version", "--client", "-o", "json"],
            capture_output=True,
            text=True,
            timeout=15,
            env=child_env(environ),
            stdin=subprocess.DEVNULL,
        )
        return found, str(json.loads(out.stdout)["clientVersion"]["gitVersion"])
    except (OSError, subprocess.SubprocessError, ValueError, KeyError, TypeError):
        return found, ""


def minor_version(git_version: str) -> tuple[int, int] | None:
    """`v1.37.1` → (1, 37); None when it is not a version."""
    try:
        major, minor = git_version.lstrip("v").split(".")[:2]
        return int(major), int("".join(ch for ch in minor if ch.isdigit()))
    except ValueError:
        return None


def kubectl_version(environ) -> tuple[int, int] | None:
    """(major, minor) of the kubectl on PATH, or None when it is missing or says nothing readable."""
    found = kubectl_client(environ)
    return minor_version(found[1]) if found[1] else None


def warning(environ) -> str:
    """One line for stderr when the kuberc in force would stop kubectl from running kubectl-ace; '' otherwise."""
    verdict = check(environ)
    if verdict.allowed:
        return ""
    return f"kubectl-ace: warning: {verdict.detail}; fix: {verdict.fix}"
