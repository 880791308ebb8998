"""Whether the kuberc in force lets kubectl run kubectl-ace, and the fix that works for that kubectl version.

kubectl 1.35 added `credentialPluginPolicy` / `credentialPluginAllowlist` to kuberc (`name:` entries); 1.36 renamed
the entry key to `command:` (`name:` deprecated) and added `kubectl kuberc set --section credentialplugin`. The rules
below were checked against real kubectl 1.36.4 and 1.37.1; those for 1.35 follow its schema (no `command` field).
Stdlib only: the YAML subset a kuberc needs is read here, and anything beyond it is reported as unreadable.
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
POLICY_FROM = (1, 35)       # credentialPluginPolicy
COMMAND_FROM = (1, 36)      # `command:` entries and `kubectl kuberc set --section credentialplugin`
KUBERC_FROM = (1, 34)       # kuberc on by default (beta); an explicit file that is missing is then an error
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
    certain: bool = True    # False: the file could not be read here, so kubectl may see it otherwise


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
    return all(entry is None or (isinstance(entry, dict) and all(
        value is None or isinstance(value, str) for key, value in entry.items() if key in ("name", "command")))
        for entry in entries)


def parse_documents(text: str) -> list:
    """Every YAML document in text (block and flow mappings and sequences, plain and quoted scalars)."""
    documents, current = [], []
    for raw in text.splitlines():
        if raw.rstrip() in ("---", "...") or raw.startswith("--- "):
            documents.append(current)
            current = []
            continue
        line = _strip_comment(raw).rstrip()
        if line.strip():
            if "\t" in line[:len(line) - len(line.lstrip())]:
                raise Unreadable("a tab in the indentation")
            current.append((len(line) - len(line.lstrip()), line.strip()))
    documents.append(current)
    parsed = []
    for lines in documents:
        if not lines:
            continue
        value, end = _block(lines, 0, lines[0][0])
        if end != len(lines):
            raise Unreadable(f"unexpected indentation at {lines[end][1]!r}")
        parsed.append(value)
    return parsed


def _strip_comment(line: str) -> str:
    quote = ""
    for index, char in enumerate(line):
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1] in " \t"):
            return line[:index]
    return line


def _block(lines: list, index: int, indent: int):
    if lines[index][1] == "-" or lines[index][1].startswith("- "):
        return _sequence(lines, index, indent)
    return _mapping(lines, index, indent)


def _sequence(lines: list, index: int, indent: int):
    items = []
    while index < len(lines) and lines[index][0] == indent and (lines[index][1] == "-"
                                                                or lines[index][1].startswith("- ")):
        rest = lines[index][1][1:].lstrip()
        if not rest:
            if index + 1 < len(lines) and lines[index + 1][0] > indent:
                value, index = _block(lines, index + 1, lines[index + 1][0])
            else:
                value, index = None, index + 1
        elif _key_split(rest) is not None:  # `- key: value` opens a mapping indented at `key`
            inner = indent + len(lines[index][1]) - len(rest)
            value, index = _mapping([*lines[:index], (inner, rest), *lines[index + 1:]], index, inner)
        else:
            value, index = _value(rest, lines, index)
        items.append(value)
    return items, index


def _mapping(lines: list, index: int, indent: int):
    result: dict = {}
    while index < len(lines) and lines[index][0] == indent:
        text = lines[index][1]
        split = _key_split(text)
        if split is None:
            raise Unreadable(f"expected `key: value`, got {text!r}")
        key, rest = split
        if rest:
            result[key], index = _value(rest, lines, index)
        elif index + 1 < len(lines) and (lines[index + 1][0] > indent or (
                lines[index + 1][0] == indent and (lines[index + 1][1] == "-"
                                                   or lines[index + 1][1].startswith("- ")))):
            result[key], index = _block(lines, index + 1, lines[index + 1][0])
        else:
            result[key], index = None, index + 1
    return result, index


def _key_split(text: str) -> tuple[str, str] | None:
    """`key: rest` → (key, rest); None when text is not a mapping entry."""
    if text[0] in "[{":
        return None
    if text[0] in "'\"":
        end = text.find(text[0], 1)
        if end < 0 or not text[end + 1:].startswith(":"):
            return None
        after = text[end + 2:]
        return (text[1:end], after.strip()) if not after or after[0] == " " else None
    at = text.find(": ")
    if at < 0:
        return (text[:-1].strip(), "") if text.endswith(":") else None
    return text[:at].strip(), text[at + 2:].strip()


def _value(text: str, lines: list, index: int):
    """An inline value; a flow collection may go on over the next lines."""
    if text[0] in "&*!|>":
        raise Unreadable(f"anchors, tags and block scalars are not read here ({text[:20]!r})")
    if text[0] in "[{":
        while True:
            try:
                value, end = _flow(text, 0)
            except IndexError:
                index += 1
                if index >= len(lines):
                    raise Unreadable("an unclosed flow collection") from None
                text += " " + lines[index][1]
                continue
            if text[end:].strip():
                raise Unreadable(f"text after a flow collection: {text[end:]!r}")
            return value, index + 1
    return _scalar(text), index + 1


def _flow(text: str, at: int):
    """A flow collection or scalar starting at text[at]; IndexError when it runs past the end."""
    while text[at] == " ":
        at += 1
    opener = text[at]
    if opener in "[{":
        closer, items, mapping = ("]" if opener == "[" else "}"), [], {}
        at += 1
        while True:
            while text[at] in " ,":
                at += 1
            if text[at] == closer:
                return (items if opener == "[" else mapping), at + 1
            if opener == "[":
                value, at = _flow(text, at)
                items.append(value)
            else:
                key, at = _flow(text, at)
                while text[at] == " ":
                    at += 1
                if text[at] != ":":
                    raise Unreadable(f"expected ':' in a flow mapping at {text[at:at + 20]!r}")
                value, at = _flow(text, at + 1)
                mapping[key] = value
    if opener in "'\"":
        end = text.index(opener, at + 1)
        return _unquote(text[at:end + 1]), end + 1
    end = at
    while end < len(text) and text[end] not in ",]}" and not (text[end] == ":" and text[end + 1:end + 2] in (" ", "")):
        end += 1
    if end >= len(text):
        raise IndexError(at)
    return _scalar(text[at:end].strip()), end


def _scalar(text: str):
    if text[0] in "'\"":
        if len(text) < 2 or text[-1] != text[0]:
            raise Unreadable(f"an unclosed quote: {text!r}")
        return _unquote(text)
    if text in ("~", "null", "Null", "NULL"):
        return None
    lowered = text.lower()
    if lowered in ("true", "yes", "on"):
        return True
    if lowered in ("false", "no", "off"):
        return False
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _unquote(text: str) -> str:
    if text[0] == "'":
        return text[1:-1].replace("''", "'")
    try:
        return json.loads(text)
    except ValueError:
        raise Unreadable(f"a double-quoted string JSON cannot read: {text!r}") from None


# --- the decision ---

def decide(document: dict | None, version: tuple[int, int], command: str = PLUGIN, path_env: str = "",
           where: str = "the kuberc") -> Verdict:
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
                return Verdict(True, f"{where}: kubectl ignores it (an allowlist entry has name {name!r} and command "
                                     f"{given!r}); no credential plugin policy applies")
            names.append(given or name)
        else:
            names.append(name)  # 1.35 knows no `command:` and drops it
    policy = document.get("credentialPluginPolicy") or ""
    problem = _misconfigured(policy, entries, names)
    if problem:
        return Verdict(False, f"{where}: {shown} rejects it and runs no command: {problem}",
                       _hand_fix(where, version, names), broken=True)
    if policy in ("", "AllowAll"):
        return Verdict(True, f"{where} allows credential plugins")
    if policy == "DenyAll":
        return Verdict(False, f"{where} denies every credential plugin (credentialPluginPolicy: DenyAll), so {shown} "
                              f"will not run {command}", fix(where, version, []))
    for name in names:
        if allowlisted(name, command, path_env):
            return Verdict(True, f"{where} allows {command} (allowlist entry {name!r})")
    return Verdict(False, f"{where} allows only the listed credential plugins ({', '.join(names)}), and {shown} "
                          f"will not run {command}", fix(where, version, names))


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
    return (f"edit {where} by hand: `credentialPluginPolicy: Allowlist` and `credentialPluginAllowlist: [{listed}]`"
            + ("" if version >= COMMAND_FROM else f" (kubectl {version[0]}.{version[1]} has no "
                                                  "`kubectl kuberc set` for credential plugins)"))


# --- the kuberc in force, for the kubectl in force ---

def check(environ, version: tuple[int, int] | None = None, flag: str | None = None,
          command: str = PLUGIN) -> Verdict:
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
            return Verdict(False, f"{location.path} does not exist, and kubectl {version[0]}.{version[1]} refuses to "
                                  "start without the kuberc it was told to read",
                           f"create {location.path}, or unset KUBERC", broken=True)
        return Verdict(True, f"no kuberc at {location.path}")
    except (OSError, UnicodeDecodeError) as err:
        return Verdict(True, f"cannot read {location.path} ({getattr(err, 'strerror', None) or err}); "
                             "kubectl may not either", f"check {location.path} and its permissions", certain=False)
    try:
        document = preference(text)
    except (Unreadable, IndexError, ValueError) as err:
        return Verdict(True, f"{location.path} uses YAML kubectl-ace does not read ({err})",
                       "see what kubectl reads with `kubectl kuberc view`", certain=False)
    if document is None or ("credentialPluginPolicy" not in document
                            and "credentialPluginAllowlist" not in document):
        return decide(document, version or NEWEST_RULES, command, environ.get("PATH", ""), location.path)
    version = version or kubectl_version(environ) or NEWEST_RULES
    return decide(document, version, command, environ.get("PATH", ""), location.path)


def kubectl_version(environ) -> tuple[int, int] | None:
    """(major, minor) of the kubectl on PATH, or None when it is missing or says nothing readable."""
    from shutil import which
    found = which("kubectl", path=environ.get("PATH"))
    if not found:
        return None
    try:
        out = subprocess.run([found, "version", "--client", "-o", "json"], capture_output=True, text=True,
                             timeout=15, env=dict(environ), stdin=subprocess.DEVNULL)
        text = json.loads(out.stdout)["clientVersion"]["gitVersion"]
        major, minor = text.lstrip("v").split(".")[:2]
        return int(major), int("".join(ch for ch in minor if ch.isdigit()))
    except (OSError, subprocess.SubprocessError, ValueError, KeyError, TypeError):
        return None


def warning(environ) -> str:
    """One line for stderr when the kuberc in force would stop kubectl from running kubectl-ace; '' otherwise."""
    verdict = check(environ)
    if verdict.allowed:
        return ""
    return f"kubectl-ace: warning: {verdict.detail}; fix: {verdict.fix}"
