"""Check a krew plugin manifest against the rules krew and the krew-index CI enforce, and optionally its archives.

Usage: python krew/check.py MANIFEST [--archives DIR]

Structure (krew's ValidatePlugin and validate-krew-manifest): apiVersion and kind; the name (regex,
not a Windows device name, equal to the file name, which ends in .yaml); a one-line
shortDescription; a semver version with a leading v; at least one platform, each with uri, a
64-hex sha256, bin, complete `files` entries and a selector with only os/arch keys that matches
at least one os/arch krew knows, no two selectors matching the same one; `.exe` bins on Windows.
Warnings for what krew-index reviewers ask to change: a shortDescription over 50 characters,
lines over 80, a description that lists commands or shows usage.
With --archives DIR, each platform's archive (DIR/<file name of its uri>) is checked the way
`kubectl krew install` would handle it: the sha256, the type by content (gzip or zip only), no
symlink, hard link or other special entries, no `..` or absolute names; then `files` is applied
with krew's move rules and bin must exist (and be executable) and a licence file must be present.
Each problem is one line on stderr; the exit code is 1 when there is any.
"""

from __future__ import annotations

import argparse
import fnmatch
import gzip
import hashlib
import io
import posixpath
import re
import stat
import sys
import tarfile
import zipfile
from pathlib import Path
from urllib.parse import urlparse

API_VERSION = "krew.googlecontainertools.github.com/v1alpha2"
# krew's own list (cmd/validate-krew-manifest allPlatforms).
ALL_PLATFORMS = [("windows", "386"), ("windows", "amd64"), ("windows", "arm64"), ("linux", "386"),
                 ("linux", "amd64"), ("linux", "arm"), ("linux", "arm64"), ("linux", "ppc64le"),
                 ("darwin", "386"), ("darwin", "amd64"), ("darwin", "arm64")]
WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
LICENCE_NAMES = {"license", "license.txt", "license.md", "licenses", "licenses.txt", "licenses.md",
                 "copying", "copying.txt"}
NAME_RE = re.compile(r"^[\w-]+$", re.ASCII)
SHA256_RE = re.compile(r"^[a-f0-9]{64}$")
# k8s.io/apimachinery ParseSemantic (three numbers, no leading zeros) plus krew's leading v.
SEMVER_RE = re.compile(r"^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
                       r"(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$")
OPERATORS = {"In", "NotIn", "Exists", "DoesNotExist"}
# A description line that lists or shows usage: a bullet, a shell prompt, a kubectl command or an indented example.
LISTING_RE = re.compile(r"^(\s*([-*•]|\d+[.)])\s|\s*\$ |\s*kubectl\s|\s+\S)")


class Problems:
    """Collects one-line problems (fatal) and warnings (what krew-index reviewers ask for)."""

    def __init__(self) -> None:
        """Nothing found yet."""
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def add(self, message: str) -> None:
        """A problem krew or krew-index CI would refuse."""
        self.errors.append(message)

    def warn(self, message: str) -> None:
        """Something reviewers would ask to change."""
        self.warnings.append(message)


# --- structure -------------------------------------------------------------------------------------

def check_manifest(path: Path, archives: Path | None = None) -> Problems:
    """Every problem with the manifest at path (and its archives in the directory, if given)."""
    problems = Problems()
    try:
        import yaml
    except ImportError:
        problems.add("PyYAML is needed to read the manifest: pip install pyyaml")
        return problems
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        problems.add(f"cannot read it: {err.strerror or err}")
        return problems
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        problems.add(f"not valid YAML{where}: {getattr(err, 'problem', None) or err}")
        return problems
    if not isinstance(data, dict):
        problems.add("not a mapping: a krew manifest starts with apiVersion, kind, metadata and spec")
        return problems
    check_header(path, data, problems)
    spec = data.get("spec")
    if not isinstance(spec, dict):
        problems.add("spec is missing or not a mapping")
        return problems
    check_spec_fields(spec, problems)
    platforms = spec.get("platforms")
    if not isinstance(platforms, list) or not platforms:
        problems.add("spec.platforms must list at least one platform")
        return problems
    matched: list[list[tuple[str, str]]] = []
    for index, platform in enumerate(platforms):
        matched.append(check_platform(index, platform, problems))
    check_overlaps(matched, problems)
    if archives is not None:
        for index, platform in enumerate(platforms):
            if isinstance(platform, dict):
                check_archive(index, platform, matched[index], archives, problems)
    return problems


def check_header(path: Path, data: dict, problems: Problems) -> None:
    """apiVersion, kind and the name (also against the file name)."""
    if data.get("apiVersion") != API_VERSION:
        problems.add(f"apiVersion is {data.get('apiVersion')!r}; krew reads only {API_VERSION}")
    if data.get("kind") != "Plugin":
        problems.add(f"kind is {data.get('kind')!r}; it must be Plugin")
    if path.suffix != ".yaml":
        problems.add(f"the file name must end in .yaml, not {path.suffix or '(nothing)'!r}")
    metadata = data.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if not isinstance(name, str) or not name:
        problems.add("metadata.name is missing")
        return
    if not NAME_RE.match(name):
        problems.add(f"metadata.name {name!r} is not allowed: it must match ^[\\w-]+$")
    elif name.upper() in WINDOWS_RESERVED:
        problems.add(f"metadata.name {name!r} is a reserved file name on Windows")
    if path.suffix == ".yaml" and name != path.stem:
        problems.add(f"metadata.name {name!r} must equal the file name without .yaml ({path.stem!r})")


def check_spec_fields(spec: dict, problems: Problems) -> None:
    """shortDescription, version, description and caveats."""
    short = spec.get("shortDescription")
    if not isinstance(short, str) or not short.strip():
        problems.add("spec.shortDescription is missing or empty")
    elif "\n" in short or "\r" in short:
        problems.add("spec.shortDescription must be a single line")
    elif len(short) > 50:
        problems.warn(f"spec.shortDescription is {len(short)} characters; krew-index reviewers ask for at most ~50")
    version = spec.get("version")
    if not isinstance(version, str) or not version:
        problems.add("spec.version is missing (or not a string: quote it)")
    elif not SEMVER_RE.match(version):
        if SEMVER_RE.match("v" + version):
            problems.add(f"spec.version {version!r} must start with 'v' (v{version})")
        else:
            problems.add(f"spec.version {version!r} is not a semantic version like v1.2.3")
    for field, limit in (("description", 80), ("caveats", 80)):
        text = spec.get(field)
        if text is not None and not isinstance(text, str):
            problems.add(f"spec.{field} must be a string")
        elif text and any(len(line) > limit and " " in line.strip() for line in text.split("\n")):
            problems.warn(f"spec.{field} has lines longer than {limit} characters")
    if not spec.get("description"):
        problems.warn("spec.description is empty; krew-index expects one")
    elif isinstance(spec["description"], str):
        listed = [number for number, line in enumerate(spec["description"].split("\n"), 1) if LISTING_RE.match(line)]
        if listed:
            problems.warn(f"spec.description line {listed[0]} is a list item, command or usage example; "
                          "krew-index asks for a high-level description (usage belongs in --help)")


def platform_label(index: int, pairs: list[tuple[str, str]]) -> str:
    """`spec.platforms[N] (os/arch, …)` for messages."""
    shown = ", ".join(f"{o}/{a}" for o, a in pairs[:3]) + (", …" if len(pairs) > 3 else "")
    return f"spec.platforms[{index}]" + (f" ({shown})" if shown else "")


def check_platform(index: int, platform: object, problems: Problems) -> list[tuple[str, str]]:
    """Structural checks of one platform; returns the os/arch pairs its selector matches."""
    if not isinstance(platform, dict):
        problems.add(f"spec.platforms[{index}] is not a mapping")
        return []
    selector = platform.get("selector")
    selector_ok = check_selector(index, selector, problems)
    pairs = [pair for pair in ALL_PLATFORMS if selector_ok and selector_matches(selector, *pair)]
    label = platform_label(index, pairs)
    if selector_ok and not pairs:
        problems.add(f"{label}: the selector matches none of the platforms krew supports "
                     f"({', '.join(f'{o}/{a}' for o, a in ALL_PLATFORMS)})")
    for field in ("uri", "sha256", "bin"):
        value = platform.get(field)
        if value is None or value == "":
            problems.add(f"{label}: {field} is missing")
        elif not isinstance(value, str):
            problems.add(f"{label}: {field} must be a string")
    sha = platform.get("sha256")
    if isinstance(sha, str) and sha and not SHA256_RE.match(sha):
        problems.add(f"{label}: sha256 {sha!r} must be 64 lowercase hex characters")
    uri = platform.get("uri")
    if isinstance(uri, str) and uri and urlparse(uri).scheme not in ("http", "https", "file"):
        problems.add(f"{label}: uri {uri!r} is not a URL")
    bin_path = platform.get("bin")
    if isinstance(bin_path, str) and bin_path:
        clean = posixpath.normpath(bin_path.replace("\\", "/"))
        if clean.startswith("/") or clean == ".." or clean.startswith("../"):
            problems.add(f"{label}: bin {bin_path!r} must stay inside the install directory")
        if any(os_name == "windows" for os_name, _ in pairs) and not bin_path.lower().endswith(".exe"):
            problems.add(f"{label}: bin {bin_path!r} must end in .exe: krew runs only .exe files on Windows")
    check_files(label, platform.get("files", None), "files" in platform, problems)
    return pairs


def check_files(label: str, files: object, present: bool, problems: Problems) -> None:
    """krew's validateFiles, plus the clean `to` path that install needs."""
    if not present:
        return
    if not isinstance(files, list) or not files:
        problems.add(f"{label}: files must be left out or list at least one {{from, to}} entry")
        return
    for number, entry in enumerate(files):
        if not isinstance(entry, dict):
            problems.add(f"{label}: files[{number}] must be a mapping with from and to")
            continue
        for field in ("from", "to"):
            value = entry.get(field)
            if not isinstance(value, str) or not value:
                problems.add(f"{label}: files[{number}].{field} is missing")
        to = entry.get("to")
        if isinstance(to, str) and to and go_clean(to) != to:
            problems.add(f"{label}: files[{number}].to {to!r} is not a clean path; write {go_clean(to)!r}")
        elif isinstance(to, str) and (to.startswith("/") or to == ".." or to.startswith("../")):
            problems.add(f"{label}: files[{number}].to {to!r} must stay inside the install directory")


def check_selector(index: int, selector: object, problems: Problems) -> bool:
    """krew's validateSelector plus what LabelSelectorAsSelector refuses; True when it is usable."""
    where = f"spec.platforms[{index}].selector"
    if not isinstance(selector, dict) or not selector:
        problems.add(f"{where} is missing or empty")
        return False
    ok = True
    unknown = set(selector) - {"matchLabels", "matchExpressions"}
    if unknown:
        problems.add(f"{where} has unknown fields {sorted(unknown)}; use matchLabels or matchExpressions")
        ok = False
    labels, expressions = selector.get("matchLabels"), selector.get("matchExpressions")
    if labels is None and not expressions:
        problems.add(f"{where} is empty")
        return False
    if labels is not None:
        if not isinstance(labels, dict) or not labels:
            problems.add(f"{where}.matchLabels is specified but empty")
            ok = False
        else:
            for key, value in labels.items():
                if key not in ("os", "arch"):
                    problems.add(f"{where}: key {key!r} is not supported; only os and arch are")
                    ok = False
                if not isinstance(value, str):
                    problems.add(f"{where}.matchLabels.{key} must be a string (quote {value!r})")
                    ok = False
    if expressions is not None:
        if not isinstance(expressions, list) or not expressions:
            problems.add(f"{where}.matchExpressions is specified but empty")
            return False
        for number, expression in enumerate(expressions):
            here = f"{where}.matchExpressions[{number}]"
            if not isinstance(expression, dict):
                problems.add(f"{here} must be a mapping with key, operator and values")
                ok = False
                continue
            key, operator, values = expression.get("key"), expression.get("operator"), expression.get("values")
            if key not in ("os", "arch"):
                problems.add(f"{here}: key {key!r} is not supported; only os and arch are")
                ok = False
            if operator not in OPERATORS:
                problems.add(f"{here}: operator {operator!r} must be one of {', '.join(sorted(OPERATORS))}")
                ok = False
            elif operator in ("In", "NotIn") and (not isinstance(values, list) or not values):
                problems.add(f"{here}: operator {operator} needs a non-empty values list")
                ok = False
            elif operator in ("Exists", "DoesNotExist") and values:
                problems.add(f"{here}: operator {operator} takes no values")
                ok = False
            if isinstance(values, list) and any(not isinstance(v, str) for v in values):
                problems.add(f"{here}: every value must be a string (quote numbers such as \"386\")")
                ok = False
    return ok


def selector_matches(selector: dict, os_name: str, arch: str) -> bool:
    """Kubernetes LabelSelector semantics over the labels {os, arch}."""
    labels = {"os": os_name, "arch": arch}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def check_overlaps(matched: list[list[tuple[str, str]]], problems: Problems) -> None:
    """No os/arch pair may be matched by two platforms."""
    for pair in ALL_PLATFORMS:
        owners = [index for index, pairs in enumerate(matched) if pair in pairs]
        if len(owners) > 1:
            problems.add(f"overlapping selectors: spec.platforms {owners} all match {pair[0]}/{pair[1]}")


def go_clean(path: str) -> str:
    """Go's filepath.Clean for slash-separated paths."""
    if not path:
        return "."
    return posixpath.normpath(path).replace("//", "/")


# --- archives --------------------------------------------------------------------------------------

def check_archive(index: int, platform: dict, pairs: list[tuple[str, str]], directory: Path,
                  problems: Problems) -> None:
    """What `kubectl krew install` would do with this platform's archive, without installing it."""
    label = platform_label(index, pairs)
    uri, sha = platform.get("uri"), platform.get("sha256")
    if not isinstance(uri, str) or not uri:
        return
    name = posixpath.basename(urlparse(uri).path)
    path = directory / name
    if not name or not path.is_file():
        problems.add(f"{label}: archive {path} is missing (krew-index CI installs every platform)")
        return
    data = path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if isinstance(sha, str) and actual != sha:
        problems.add(f"{label}: sha256 {sha} does not match {name} (its sha256 is {actual})")
    try:
        entries = read_entries(data, label, name, problems)
    except (OSError, EOFError, tarfile.TarError, zipfile.BadZipFile, ValueError) as err:
        problems.add(f"{label}: {name} cannot be read: {err}")
        return
    if entries is None:
        return
    tree = build_tree(entries)
    files = platform.get("files") or [{"from": "*", "to": "."}]  # krew's default copies everything
    installed = apply_files(tree, files, label, problems)
    if installed is None:
        return
    bin_path = platform.get("bin")
    if isinstance(bin_path, str) and bin_path:
        target = go_clean(bin_path.replace("\\", "/"))
        kind = installed.get(target)
        if kind is None or kind[0] != "file":
            problems.add(f"{label}: bin {bin_path!r} is not in the installed files "
                         f"(krew: source binary cannot be found in extracted archive)")
        elif not any(o == "windows" for o, _ in pairs) and kind[1] is not None and not kind[1] & 0o111:
            problems.add(f"{label}: bin {bin_path!r} is not executable (mode {kind[1]:04o})")
    if not any(kind[0] == "file" and posixpath.basename(p).lower() in LICENCE_NAMES for p, kind in installed.items()):
        problems.add(f"{label}: no licence file in the installed files (krew-index wants one of "
                     f"{', '.join(sorted(LICENCE_NAMES))}, any case)")


def read_entries(data: bytes, label: str, name: str, problems: Problems) -> list[tuple[str, str, int | None]] | None:
    """(name, 'file' or 'dir', mode) of every entry; None (with problems added) when krew would refuse it."""
    entries: list[tuple[str, str, int | None]] = []
    refused = False
    if data[:3] == b"\x1f\x8b\x08":  # what Go's http.DetectContentType calls application/x-gzip
        with tarfile.open(fileobj=gzip.GzipFile(fileobj=io.BytesIO(data)), mode="r:") as tar:
            for member in tar:
                if member.name == "pax_global_header":
                    continue
                if member.type in (tarfile.REGTYPE, tarfile.AREGTYPE):  # not CONTTYPE or sparse, as Go sees them
                    kind = "file"
                elif member.isdir():
                    kind = "dir"
                else:
                    what = ("a symlink" if member.issym() else "a hard link" if member.islnk()
                            else f"an entry of type {member.type!r}")
                    problems.add(f"{label}: {name} holds {what} ({member.name}); krew extracts only "
                                 "directories and regular files from tar archives")
                    refused = True
                    continue
                refused |= suspicious(member.name, label, name, problems)
                entries.append((member.name, kind, member.mode))
    elif data[:4] == b"PK\x03\x04":  # application/zip
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                mode = info.external_attr >> 16
                if stat.S_ISLNK(mode):
                    problems.add(f"{label}: {name} holds a symlink ({info.filename}); krew would write it "
                                 "out as a small file holding the link text")
                    refused = True
                    continue
                refused |= suspicious(info.filename, label, name, problems)
                entries.append((info.filename, "dir" if info.is_dir() else "file", stat.S_IMODE(mode) or None))
    else:
        problems.add(f"{label}: {name} is neither gzip nor zip by content; krew accepts only .tar.gz and .zip")
        return None
    return None if refused else entries


def suspicious(entry: str, label: str, name: str, problems: Problems) -> bool:
    """krew's suspiciousPath: `..` anywhere, or an absolute name."""
    if ".." in entry:
        problems.add(f"{label}: {name} has an entry with '..' in its name ({entry}); krew refuses the archive")
        return True
    if entry.startswith(("/", "\\")):
        problems.add(f"{label}: {name} has an absolute entry ({entry}); krew refuses the archive")
        return True
    return False


def build_tree(entries: list[tuple[str, str, int | None]]) -> dict[str, tuple[str, int | None]]:
    """path → (kind, mode) of the extracted archive, with the directories the entries imply."""
    tree: dict[str, tuple[str, int | None]] = {}
    for entry, kind, mode in entries:
        path = go_clean(entry.replace("\\", "/")).lstrip("/")
        if path in (".", ""):
            continue
        parts = path.split("/")
        for depth in range(1, len(parts)):
            tree.setdefault("/".join(parts[:depth]), ("dir", None))
        tree[path] = (kind, mode)
    return tree


def apply_files(tree: dict, operations: list, label: str, problems: Problems) -> dict | None:
    """The install directory after krew's moveToInstallDir (internal/installation/move.go)."""
    extracted, installed = dict(tree), {}
    for number, operation in enumerate(operations):
        if not isinstance(operation, dict):
            return None
        source, to = operation.get("from"), operation.get("to")
        if not isinstance(source, str) or not isinstance(to, str) or not source or not to:
            return None  # reported by the structure checks
        direct = go_clean(source.replace("\\", "/"))
        if direct in extracted:
            # A path that exists is moved by name; `to: .` keeps its base name, anything else renames it.
            destination = posixpath.basename(direct) if go_clean(to) == "." else go_clean(to)
            moves = [(direct, destination)]
        else:
            matches = glob(extracted, direct)
            if not matches:
                problems.add(f"{label}: files[{number}].from {source!r} matches nothing in the archive")
                return None
            moves = [(match, go_clean(posixpath.join(to, posixpath.basename(match)))) for match in matches]
        for origin, destination in moves:
            if destination == ".." or destination.startswith(("../", "/")):
                problems.add(f"{label}: files[{number}] would move {origin} outside the install directory")
                return None
            move(extracted, installed, origin, destination)
    return installed


def glob(tree: dict, pattern: str) -> list[str]:
    """Go's filepath.Glob over the tree: each path segment matched on its own ('*' stops at '/')."""
    segments = pattern.split("/")
    found = []
    for path in tree:
        parts = path.split("/")
        if len(parts) == len(segments) and all(fnmatch.fnmatchcase(part, go_class(segment))
                                               for part, segment in zip(parts, segments)):
            found.append(path)
    return sorted(found)


def go_class(segment: str) -> str:
    """Go spells a negated class [^…], fnmatch [!…]."""
    return segment.replace("[^", "[!")


def move(extracted: dict, installed: dict, origin: str, destination: str) -> None:
    """renameOrCopy: an existing directory at the destination is removed first; the subtree moves."""
    if installed.get(destination, ("",))[0] == "dir":
        for path in [p for p in installed if p == destination or p.startswith(destination + "/")]:
            del installed[path]
    for path in [p for p in extracted if p == origin or p.startswith(origin + "/")]:
        installed[destination + path[len(origin):]] = extracted.pop(path)
    parts = destination.split("/")
    for depth in range(1, len(parts)):
        installed.setdefault("/".join(parts[:depth]), ("dir", None))


# --- command line ----------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    """Command line: problems on stderr, one per line; exit 1 when there is any."""
    parser = argparse.ArgumentParser(prog="check.py", description=__doc__.splitlines()[0])
    parser.add_argument("manifest", type=Path, help="the plugin manifest, e.g. ace.yaml")
    parser.add_argument("--archives", type=Path, help="directory holding the platforms' archives")
    args = parser.parse_args(argv)
    if args.archives is not None and not args.archives.is_dir():
        print(f"check.py: error: --archives {args.archives}: no such directory", file=sys.stderr)
        return 2
    problems = check_manifest(args.manifest, args.archives)
    for warning in problems.warnings:
        print(f"{args.manifest}: warning: {warning}", file=sys.stderr)
    for error in problems.errors:
        print(f"{args.manifest}: {error}", file=sys.stderr)
    if problems.errors:
        return 1
    checked = "" if args.archives is None else ", archives checked"
    print(f"{args.manifest}: OK{checked}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
