"""Packaging: the frozen build and its archive, the krew manifest and its checker, a krew-style install run
through the real kubectl, shell completion, and the environment for child programs."""

from __future__ import annotations

import copy
import hashlib
import http.server
import importlib.util
import io
import json
import os
import py_compile
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests import krewtools
from tests.conftest import KUBECTLS, NEWEST, Run, run

ROOT = Path(__file__).resolve().parent.parent
BIN_DIR = Path(sys.executable).parent
VERSION = "0.1.0"
BASE_URL = "https://github.com/OWNER/kubectl-ace/releases/download/v{version}"
HOMEPAGE = "https://github.com/OWNER/kubectl-ace"


def load(name: str, path: Path):
    """Import a script that is not part of a package (krew/, packaging/)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BUILD = load("packaging_build", ROOT / "packaging" / "build.py")
CHECK = load("krew_check", ROOT / "krew" / "check.py")
GENERATE = load("krew_generate", ROOT / "krew" / "generate.py")


@dataclass
class Built:
    out: Path
    archive: Path
    version: str
    os: str
    arch: str


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> Built:
    """The real build for this machine, made once with packaging/build.py (which also smoke-tests it)."""
    out = tmp_path_factory.mktemp("dist")
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    result = subprocess.run([sys.executable, str(ROOT / "packaging" / "build.py"), "--out", str(out), "--smoke"],
                            capture_output=True, text=True, env=env, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    version = GENERATE.default_version()
    os_name, arch = BUILD.target()
    archive = out / BUILD.archive_name(version, os_name, arch)
    assert archive.is_file(), sorted(p.name for p in out.iterdir())
    return Built(out, archive, version, os_name, arch)


@pytest.fixture(scope="session")
def manifest(built, tmp_path_factory) -> Path:
    """The krew manifest generated for the built archive (this platform only)."""
    path = tmp_path_factory.mktemp("manifest") / "ace.yaml"
    path.write_text(GENERATE.generate(built.out, BASE_URL, built.version, None, partial=True))
    return path


# --- the build and its archive ---------------------------------------------------------------------

def test_archive_is_krew_shaped_and_deterministic(built):
    with tarfile.open(built.archive) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names[0] == "kubectl-ace"
    assert all(n == "kubectl-ace" or n.startswith("kubectl-ace/") for n in names)
    assert {"kubectl-ace/kubectl-ace", "kubectl-ace/_internal", "kubectl-ace/LICENSE"} <= set(names)
    assert all(m.isreg() or m.isdir() for m in members), [m.name for m in members if not (m.isreg() or m.isdir())]
    assert all((m.uid, m.gid, m.uname, m.gname, m.mtime) == (0, 0, "", "", 0) for m in members)
    assert names == sorted(names, key=lambda n: n.split("/"))
    binary = next(m for m in members if m.name == "kubectl-ace/kubectl-ace")
    assert binary.mode == 0o755
    header = built.archive.read_bytes()[:10]
    assert header[3] & 0x08 == 0, "the gzip header must not carry a file name"
    assert header[4:8] == b"\0\0\0\0", "the gzip header must not carry a time"
    digest = hashlib.sha256(built.archive.read_bytes()).hexdigest()
    assert (built.out / "SHA256SUMS").read_text() == f"{digest}  {built.archive.name}\n"
    # The licence inside is the repository's.
    with tarfile.open(built.archive) as tar:
        assert tar.extractfile("kubectl-ace/LICENSE").read() == (ROOT / "LICENSE").read_bytes()


def test_checker_passes_the_manifest_generated_for_the_build(built, manifest):
    text = manifest.read_text()
    assert f"version: v{built.version}" in text and "{{" not in text
    result = subprocess.run([sys.executable, str(ROOT / "krew" / "check.py"), str(manifest), "--archives",
                             str(built.out)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout
    platforms = yaml.safe_load(text)["spec"]["platforms"]
    assert [p["selector"]["matchLabels"] for p in platforms] == [{"os": built.os, "arch": built.arch}]
    assert platforms[0]["uri"].endswith(f"/v{built.version}/{built.archive.name}")


def test_frozen_app_is_the_pyinstaller_build(built):
    executable = built.out / "kubectl-ace" / BUILD.executable_name(built.os)
    result = subprocess.run([str(executable), "version", "-o", "json"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert '"build": "pyinstaller"' in result.stdout


def test_frozen_app_starts_children_with_the_users_environment(built, tmp_path):
    """kubectl run by `kubectl ace kubectl` and by completion gets the user's environment, not the bundle's.

    The PyInstaller bootloader puts its _internal directory first in LD_LIBRARY_PATH (saving the user's
    value as LD_LIBRARY_PATH_ORIG) and sets _PYI_* variables: a child must see none of that.
    """
    dump = tmp_path / "kubectl"
    dump.write_text(f"#!{sys.executable}\nimport json, os\n"
                    "with open(os.environ['DUMP_TO'], 'w') as out:\n    json.dump(dict(os.environ), out)\n"
                    "print(':4')\n")
    dump.chmod(0o755)
    kubeconfig = tmp_path / "config"  # a context that is not Rancher's: `kubectl ace kubectl` runs plain kubectl
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "plain",
        "clusters": [{"name": "plain", "cluster": {"server": "https://127.0.0.1:9"}}],
        "users": [{"name": "plain", "user": {"token": "not-a-secret"}}],
        "contexts": [{"name": "plain", "context": {"cluster": "plain", "user": "plain"}}]}))
    executable = built.out / "kubectl-ace" / BUILD.executable_name(built.os)
    seen_file = tmp_path / "env.json"
    for own in ("/opt/mine/lib", None):
        user = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "LANG": "C.UTF-8", "KUBECONFIG": str(kubeconfig),
                "KUBECTL_ACE_STORE": str(tmp_path / "store"), "KUBECTL": str(dump), "DUMP_TO": str(seen_file),
                **({"LD_LIBRARY_PATH": own} if own else {})}
        for args in (["kubectl", "get", "pods"], ["completion", "__complete", "kubectl", "get", ""]):
            seen_file.unlink(missing_ok=True)
            result = subprocess.run([str(executable), *args], capture_output=True, text=True, env=user, timeout=60,
                                    stdin=subprocess.DEVNULL)
            assert result.returncode == 0, result.stderr
            # The one addition asks a child that is itself a PyInstaller app to start as a fresh program.
            assert json.loads(seen_file.read_text()) == {**user, "PYINSTALLER_RESET_ENVIRONMENT": "1"}, (own, args)


def make_tree(root: Path) -> Path:
    """A small onedir-like tree with symlinks, as PyInstaller makes on Linux and macOS."""
    app = root / "kubectl-ace"
    (app / "_internal" / "pkg").mkdir(parents=True)
    (app / "kubectl-ace").write_text("#!/bin/sh\necho hi\n")
    (app / "kubectl-ace").chmod(0o755)
    (app / "_internal" / "lib.so.1").write_bytes(b"\x7fELF library")
    (app / "_internal" / "pkg" / "data.txt").write_text("data")
    os.symlink("lib.so.1", app / "_internal" / "lib.so")
    os.symlink("pkg", app / "_internal" / "pkg-link")
    return app


def test_packing_is_reproducible_and_dereferences_symlinks(tmp_path):
    app = make_tree(tmp_path / "a")
    licence = tmp_path / "LICENSE"
    licence.write_text("licence")
    entries = BUILD.tree_entries(app, "kubectl-ace", {"LICENSE": licence})
    BUILD.pack_tar_gz(entries, tmp_path / "one.tar.gz", 0)
    BUILD.pack_zip(entries, tmp_path / "one.zip", 0)
    for path in app.rglob("*"):  # different times and modes must not change a byte
        if not path.is_symlink():
            os.utime(path, (1_700_000_000, 1_700_000_000))
    (app / "_internal" / "pkg" / "data.txt").chmod(0o600)
    entries = BUILD.tree_entries(app, "kubectl-ace", {"LICENSE": licence})
    BUILD.pack_tar_gz(entries, tmp_path / "two.tar.gz", 0)
    BUILD.pack_zip(entries, tmp_path / "two.zip", 0)
    assert (tmp_path / "one.tar.gz").read_bytes() == (tmp_path / "two.tar.gz").read_bytes()
    assert (tmp_path / "one.zip").read_bytes() == (tmp_path / "two.zip").read_bytes()
    with tarfile.open(tmp_path / "one.tar.gz") as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert all(m.isreg() or m.isdir() for m in members.values())
        assert tar.extractfile("kubectl-ace/_internal/lib.so").read() == b"\x7fELF library"
        assert tar.extractfile("kubectl-ace/_internal/pkg-link/data.txt").read() == b"data"
    assert members["kubectl-ace/kubectl-ace"].mode == 0o755
    assert members["kubectl-ace/_internal/pkg/data.txt"].mode == 0o644
    with zipfile.ZipFile(tmp_path / "one.zip") as archive:
        assert not any(stat.S_ISLNK(i.external_attr >> 16) for i in archive.infolist())
        assert archive.read("kubectl-ace/_internal/lib.so") == b"\x7fELF library"
        assert archive.getinfo("kubectl-ace/").is_dir()


# --- the checker against planted faults ------------------------------------------------------------

def small_archive(directory: Path, *, licence: bool = True, extra: list[tarfile.TarInfo] = (),
                  os_name: str = "linux", arch: str = "amd64") -> Path:
    """A tiny archive shaped like the real one, with optional extra (bad) entries."""
    path = directory / BUILD.archive_name(VERSION, os_name, arch)
    exe = BUILD.executable_name(os_name)
    files = {f"kubectl-ace/{exe}": (b"#!/bin/sh\n", 0o755), "kubectl-ace/_internal/lib.so": (b"lib", 0o644)}
    if licence:
        files["kubectl-ace/LICENSE"] = (b"Apache-2.0", 0o644)
    if os_name == "windows":
        with zipfile.ZipFile(path, "w") as archive:
            for name, (data, _) in files.items():
                archive.writestr(name, data)
        return path
    with tarfile.open(path, "w:gz") as tar:
        for name in ("kubectl-ace", "kubectl-ace/_internal"):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for name, (data, mode) in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
        for info in extra:
            tar.addfile(info)
    return path


def small_manifest(directory: Path) -> dict:
    return yaml.safe_load(GENERATE.generate(directory, BASE_URL, VERSION, None, partial=True))


def write_manifest(directory: Path, data: dict, name: str = "ace.yaml") -> Path:
    path = directory / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def symlink_entry() -> list[tarfile.TarInfo]:
    info = tarfile.TarInfo("kubectl-ace/_internal/libpython.so")
    info.type, info.linkname = tarfile.SYMTYPE, "libpython.so.1.0"
    return [info]


def dotdot_entry() -> list[tarfile.TarInfo]:
    info = tarfile.TarInfo("kubectl-ace/../../evil")
    info.type = tarfile.DIRTYPE
    return [info]


def set_path(data: dict, path: str, value) -> None:
    keys = path.split(".")
    target = data
    for key in keys[:-1]:
        target = target[int(key)] if isinstance(target, list) else target[key]
    target[keys[-1]] = value


def add_overlap(data: dict) -> None:
    extra = copy.deepcopy(data["spec"]["platforms"][0])
    extra["selector"] = {"matchExpressions": [{"key": "os", "operator": "In", "values": ["linux", "darwin"]}]}
    data["spec"]["platforms"].append(extra)


def windows_without_exe(data: dict) -> None:
    extra = copy.deepcopy(data["spec"]["platforms"][0])
    extra["selector"] = {"matchLabels": {"os": "windows", "arch": "amd64"}}
    extra["bin"] = "kubectl-ace/kubectl-ace"
    data["spec"]["platforms"].append(extra)


FAULTS = {
    # name: (archive options, manifest change, expected words in one of the problems)
    "symlink in archive": ({"extra": symlink_entry()}, None, "symlink"),
    "wrong sha256": ({}, lambda d: set_path(d, "spec.platforms.0.sha256", "0" * 64), "does not match"),
    "missing licence": ({"licence": False}, None, "no licence file"),
    "overlapping selectors": ({}, add_overlap, "overlapping selectors"),
    "bin missing": ({}, lambda d: set_path(d, "spec.platforms.0.bin", "kubectl-ace/kubectl-ace-missing"),
                    "not in the installed files"),
    "version without v": ({}, lambda d: set_path(d, "spec.version", VERSION), "must start with 'v'"),
    "windows bin without .exe": ({}, windows_without_exe, "must end in .exe"),
    "dot-dot entry": ({"extra": dotdot_entry()}, None, "'..'"),
    "bad sha256 format": ({}, lambda d: set_path(d, "spec.platforms.0.sha256", "ABC"), "64 lowercase hex"),
    "selector key": ({}, lambda d: set_path(d, "spec.platforms.0.selector", {"matchLabels": {"distro": "x"}}),
                     "only os and arch"),
    "unknown platform": ({}, lambda d: set_path(d, "spec.platforms.0.selector.matchLabels.os", "plan9"),
                         "matches none"),
    "multi-line short description": ({}, lambda d: set_path(d, "spec.shortDescription", "a\nb"), "single line"),
    "files glob matches nothing": ({}, lambda d: set_path(d, "spec.platforms.0.files",
                                                          [{"from": "nothing/*", "to": "."}]), "matches nothing"),
    "files entry without to": ({}, lambda d: set_path(d, "spec.platforms.0.files", [{"from": "*"}]),
                               "files[0].to is missing"),
    "reserved name": ({}, lambda d: set_path(d, "metadata.name", "CON"), "reserved"),
}


def test_checker_accepts_the_small_good_archive(tmp_path):
    small_archive(tmp_path)
    problems = CHECK.check_manifest(write_manifest(tmp_path, small_manifest(tmp_path)), tmp_path)
    assert problems.errors == []


@pytest.mark.parametrize("fault", list(FAULTS))
def test_checker_rejects_planted_fault(tmp_path, fault):
    archive_options, change, expected = FAULTS[fault]
    small_archive(tmp_path)
    data = small_manifest(tmp_path)  # sha256 of the good archive...
    small_archive(tmp_path, **archive_options)  # ...then the faulty one in its place
    if archive_options:
        set_path(data, "spec.platforms.0.sha256", hashlib.sha256(
            (tmp_path / BUILD.archive_name(VERSION, "linux", "amd64")).read_bytes()).hexdigest())
    if change:
        change(data)
    name = "CON.yaml" if fault == "reserved name" else "ace.yaml"
    problems = CHECK.check_manifest(write_manifest(tmp_path, data, name), tmp_path)
    assert any(expected in error for error in problems.errors), problems.errors


def test_checker_cli_prints_one_line_per_problem(tmp_path):
    small_archive(tmp_path)
    data = small_manifest(tmp_path)
    data["spec"]["version"] = VERSION
    data["spec"]["platforms"][0]["sha256"] = "f" * 64
    result = subprocess.run([sys.executable, str(ROOT / "krew" / "check.py"), str(write_manifest(tmp_path, data)),
                             "--archives", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith(str(tmp_path / "ace.yaml") + ": ") for line in lines), lines
    assert "Traceback" not in result.stderr


def test_checker_knows_krew_file_moves(tmp_path):
    """`files` as krew applies it: a direct move renames, a glob moves into the target directory."""
    small_archive(tmp_path)
    data = small_manifest(tmp_path)
    data["spec"]["platforms"][0]["files"] = [{"from": "kubectl-ace/kubectl-ace", "to": "bin/kubectl-ace"},
                                             {"from": "kubectl-ace/LICEN?E", "to": "."}]
    data["spec"]["platforms"][0]["bin"] = "bin/kubectl-ace"
    assert CHECK.check_manifest(write_manifest(tmp_path, data), tmp_path).errors == []
    data["spec"]["platforms"][0]["files"] = [{"from": "kubectl-ace/kubectl-ace", "to": "."}]
    data["spec"]["platforms"][0]["bin"] = "kubectl-ace/kubectl-ace"  # the move put it at ./kubectl-ace
    errors = CHECK.check_manifest(write_manifest(tmp_path, data), tmp_path).errors
    assert any("not in the installed files" in e for e in errors) and any("licence" in e for e in errors), errors


def test_manifest_follows_krew_index_review_practice(manifest):
    """shortDescription ≤ 50, a description without commands, caveats only for the completion setup step."""
    spec = yaml.safe_load(manifest.read_text())["spec"]
    assert len(spec["shortDescription"]) <= 50 and "kubectl" not in spec["shortDescription"].lower()
    assert not any(CHECK.LISTING_RE.match(line) for line in spec["description"].splitlines())
    commands = [line.strip() for line in spec["caveats"].splitlines() if line.startswith("  ")]
    assert commands == ["kubectl ace completion install"], spec["caveats"]
    assert "installed" not in spec["caveats"].lower()  # krew itself says so; caveats are for what is left to do
    assert CHECK.check_manifest(manifest).warnings == []


def test_checker_warns_where_krew_index_reviewers_would_ask(tmp_path):
    small_archive(tmp_path)
    data = small_manifest(tmp_path)
    data["spec"]["shortDescription"] = "A kubectl plugin that gives you Rancher credentials, with failover"
    data["spec"]["description"] = "Rancher credentials.\n\nCommands:\n- kubectl ace login\n  kubectl ace token\n"
    warnings = CHECK.check_manifest(write_manifest(tmp_path, data), tmp_path).warnings
    assert any("shortDescription is 66 characters" in w for w in warnings), warnings
    assert any("description line 4 is a list item" in w for w in warnings), warnings
    data["spec"]["description"] = "Rancher credentials for every cluster,\nwith failover - as needed.\n"
    assert CHECK.check_manifest(write_manifest(tmp_path, data), tmp_path).warnings == [warnings[0]]


def test_checker_accepts_a_windows_zip(tmp_path):
    small_archive(tmp_path, os_name="windows")
    text = GENERATE.generate(tmp_path, BASE_URL, VERSION, None, partial=True)
    assert "kubectl-ace/kubectl-ace.exe" in text
    assert CHECK.check_manifest(write_manifest(tmp_path, yaml.safe_load(text)), tmp_path).errors == []


def test_release_bot_template_is_in_sync_and_renders_a_valid_manifest(tmp_path):
    committed = (ROOT / ".krew.yaml").read_text()
    repo = next(line.split("https://github.com/")[1].strip() for line in committed.splitlines()
                if line.strip().startswith("homepage:"))
    assert committed == GENERATE.release_bot_template(repo), \
        f"run: python krew/generate.py --release-bot --repo {repo} -o .krew.yaml"
    # Render it the way krew-release-bot does: {{ .TagName }}, and addURIAndSha with {{ .Version }} inside.
    import re
    tag = f"v{VERSION}"
    urls = []

    def add_uri_and_sha(match) -> str:
        url = match.group(1).replace("{{ .TagName }}", tag).replace("{{ .Version }}", VERSION)
        urls.append(url)
        return f"uri: {url}\n    sha256: {'a' * 64}"

    rendered = re.sub(r'\{\{ addURIAndSha "([^"]+)" \.TagName \}\}', add_uri_and_sha, committed)
    rendered = rendered.replace("{{ .TagName }}", tag)
    assert "{{" not in rendered
    problems = CHECK.check_manifest(write_manifest(tmp_path, yaml.safe_load(rendered)))
    assert problems.errors == []
    expected = {BUILD.archive_name(VERSION, o, a) for o in ("linux", "darwin", "windows") for a in ("amd64", "arm64")}
    assert {url.rsplit("/", 1)[1] for url in urls} == expected


def test_workflows_build_check_and_release(tmp_path):
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text())
    text = (ROOT / ".github" / "workflows" / "release.yml").read_text()
    assert {"linux", "macos", "windows", "release"} <= set(workflow["jobs"])
    for needed in ("packaging/build.py", "krew/check.py", "manylinux", "SHA256SUMS", "krew-release-bot"):
        assert needed in text


# --- the real krew: validate, install, run through kubectl, upgrade, uninstall ----------------------

class ArchiveServer:
    """Plain HTTP on 127.0.0.1 serving published files, as a release page would, for krew to download."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[str] = []
        requests = self.requests

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs) -> None:
                super().__init__(*args, directory=str(root), **kwargs)

            def do_GET(self) -> None:
                requests.append(self.path)
                super().do_GET()

            def log_message(self, *args) -> None:
                pass  # quiet: pytest shows what the tests assert

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def publish(self, archive: Path, release: str) -> str:
        """Put the archive under /release/ and return that directory's URL."""
        directory = self.root / release
        directory.mkdir(exist_ok=True)
        target = directory / archive.name
        if not (target.exists() and os.path.samefile(archive, target)):  # a test run again publishes it again
            target.unlink(missing_ok=True)
            try:
                os.link(archive, target)
            except OSError:
                shutil.copyfile(archive, target)
        return f"http://127.0.0.1:{self.server.server_address[1]}/{release}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def krew_tools() -> krewtools.KrewTools:
    """The real krew and validate-krew-manifest, built with Go on first use; an error (never a skip) without Go."""
    try:
        return krewtools.ensure()
    except krewtools.KrewToolsError as err:
        pytest.fail(f"cannot get the krew tools: {err}", pytrace=False)


@pytest.fixture(scope="session")
def archive_server(tmp_path_factory):
    server = ArchiveServer(tmp_path_factory.mktemp("served"))
    yield server
    server.close()


@pytest.fixture(scope="session")
def newer(built, tmp_path_factory) -> Built:
    """The same build as the next patch version: kubectl_ace/__init__ recompiled with that version, then repacked."""
    major, minor, patch = re.match(r"(\d+)\.(\d+)\.(\d+)", built.version).groups()
    version = f"{major}.{minor}.{int(patch) + 1}"
    out = tmp_path_factory.mktemp("dist-newer")
    source = (ROOT / "kubectl_ace" / "__init__.py").read_text()
    patched, count = re.subn(r"""(?m)^__version__ = ["'][^"']+["']""", f'__version__ = "{version}"', source)
    assert count == 1, "kubectl_ace/__init__.py should set __version__ once"
    (out / "__init__.py").write_text(patched)
    compiled = out / "__init__.pyc"
    # The build's interpreter is this one, so the bytecode matches; an unchecked hash needs no source beside it.
    py_compile.compile(str(out / "__init__.py"), cfile=str(compiled), dfile="kubectl_ace/__init__.py", doraise=True,
                       optimize=1, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    entries = BUILD.tree_entries(built.out / "kubectl-ace", "kubectl-ace", {"LICENSE": ROOT / "LICENSE"})
    member = "kubectl-ace/_internal/kubectl_ace/__init__.pyc"
    assert member in dict(entries), "the onedir build should keep kubectl_ace/__init__ as a .pyc file (noarchive)"
    entries = [(name, compiled if name == member else path) for name, path in entries]
    archive = out / BUILD.archive_name(version, built.os, built.arch)
    BUILD.pack_tar_gz(entries, archive, 0, level=1)  # a test archive: speed over size
    return Built(out, archive, version, built.os, built.arch)


def path_without_other_plugins(*first: Path) -> str:
    """PATH with the given directories first and no other directory that holds a kubectl-ace."""
    others = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d and not (Path(d) / "kubectl-ace").exists()]
    return os.pathsep.join([*map(str, first), *others])


class Krew:
    """The real krew, run as `kubectl krew` by the real kubectl, with its own KREW_ROOT."""

    def __init__(self, tools: krewtools.KrewTools, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.link = root / "bin" / "kubectl-ace"
        temporary = root.parent / "krew-tmp"
        temporary.mkdir(exist_ok=True)
        self.env = {k: v for k, v in env.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
        self.env.update(KREW_ROOT=str(root), KREW_NO_UPGRADE_CHECK="1", TMPDIR=str(temporary),
                        PATH=path_without_other_plugins(root / "bin", tools.bin_dir))

    def __call__(self, *args: str) -> Run:
        """`kubectl krew ARGS`; the result carries stdout and stderr together in .output."""
        result = run([KUBECTLS[NEWEST], "krew", *args], env=self.env, timeout=180, stdin=subprocess.DEVNULL)
        result.output = result.stdout + result.stderr
        return result

    def kubectl(self, *args: str) -> Run:
        """The real kubectl with krew's bin first on PATH: `kubectl ace` is the krew-installed plugin."""
        return run([KUBECTLS[NEWEST], *args], env=self.env, timeout=120, stdin=subprocess.DEVNULL)

    def left(self) -> list[str]:
        """Everything under KREW_ROOT except the plugin indexes, relative."""
        return sorted(str(p.relative_to(self.root)) for p in self.root.rglob("*")
                      if p.relative_to(self.root).parts[0] != "index")


def validate(tools: krewtools.KrewTools, manifest_path: Path, tmp_path: Path) -> Run:
    """krew-index CI's validate-krew-manifest: structure, then `kubectl krew install` of every platform."""
    temporary = tmp_path / "validate-tmp"
    temporary.mkdir(exist_ok=True)
    env = {"PATH": path_without_other_plugins(tools.bin_dir), "TMPDIR": str(temporary), "HOME": str(tmp_path)}
    return run([str(tools.validate), "-manifest", str(manifest_path)], env=env, timeout=180,
               stdin=subprocess.DEVNULL)


def served_manifest(build: Built, server: ArchiveServer, directory: Path, release: str) -> Path:
    """The manifest for build's archive as published on the server."""
    path = directory / "ace.yaml"
    base = server.publish(build.archive, release)
    path.write_text(GENERATE.generate(build.out, base, build.version, HOMEPAGE, partial=True))
    return path


def test_validate_krew_manifest_passes_the_generated_manifest(built, krew_tools, archive_server, tmp_path):
    path = served_manifest(built, archive_server, tmp_path, "validate")
    result = validate(krew_tools, path, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "all 1 spec.platforms installed fine" in result.stderr
    assert f"/validate/{built.archive.name}" in archive_server.requests  # it downloaded the archive from its uri
    problems = CHECK.check_manifest(path, built.out)  # and our checker agrees, without a review warning
    assert (problems.errors, problems.warnings) == ([], [])


def test_krew_installs_the_built_archive_and_kubectl_runs_it(built, manifest, krew_tools, logged_in, world,
                                                             tmp_path):
    krew = Krew(krew_tools, tmp_path / "krew", logged_in.env)
    # A user's krew has krew-index (uninstall insists on an index): an empty stand-in.
    result = krew("index", "add", "default", plugin_index(tmp_path / "index").as_uri())
    assert result.returncode == 0, result.output
    result = krew("install", f"--manifest={manifest}", f"--archive={built.archive}")
    assert result.returncode == 0, result.output
    assert "Installed plugin: ace" in result.output
    assert "kubectl ace completion install" in result.output  # the caveat, shown once after install
    installed = krew.root / "store" / "ace" / f"v{built.version}" / "kubectl-ace"
    assert krew.link.is_symlink() and Path(os.readlink(krew.link)) == installed / "kubectl-ace"
    assert (installed / "LICENSE").read_bytes() == (ROOT / "LICENSE").read_bytes()

    # kubectl finds krew's symlink, and the frozen app behind it runs.
    result = krew.kubectl("ace", "version")
    assert result.returncode == 0, result.stderr
    assert "pyinstaller" in result.stdout and built.version in result.stdout
    logged_in.exec_kubeconfig("c-m-prod0001")
    for context in ("prod", "prod-fqdn"):  # the Rancher proxy, then the ACE endpoint
        result = krew.kubectl("get", "namespaces", "--context", context)
        assert result.returncode == 0, f"{context}: {result.stderr}"
        assert "kube-system" in result.stdout
    assert world.counters.mints("c-m-prod0001") == 1  # minted by the frozen plugin: no other is on PATH

    # The caveat's step: the helper lands beside the kubectl-ace that kubectl finds, i.e. in krew's bin.
    result = krew.kubectl("ace", "completion", "install")
    assert result.returncode == 0, result.stderr
    assert (krew.root / "bin" / "kubectl_complete-ace").is_file()
    if NEWEST >= (1, 26):
        result = krew.kubectl("__complete", "ace", "ver")
        assert result.stdout.splitlines()[0].split("\t")[0] == "version", result.stdout

    result = krew("uninstall", "ace")
    assert result.returncode == 0, result.output
    # krew removes all it installed; the helper is the user's own file (the README says to delete it).
    assert krew.left() == ["bin", "bin/kubectl_complete-ace", "receipts", "store"]


def test_krew_upgrade_moves_to_the_newer_version_and_uninstall_removes_everything(
        built, newer, krew_tools, archive_server, logged_in, world, tmp_path):
    """`kubectl krew install ace` from a plugin index (a git repository, as krew-index is), then a newer
    manifest lands in the index: `kubectl krew upgrade` moves to it, `kubectl krew uninstall ace` removes it."""
    index = plugin_index(tmp_path / "index")
    served_manifest(built, archive_server, index / "plugins", "upgrade-old")
    git("add", "-A", cwd=index)
    git("commit", "-qm", f"ace v{built.version}", cwd=index)
    krew = Krew(krew_tools, tmp_path / "krew", logged_in.env)
    # Named default, as krew-index is on a user's machine: the commands are the ones users type.
    result = krew("index", "add", "default", index.as_uri())
    assert result.returncode == 0, result.output
    result = krew("install", "ace")
    assert result.returncode == 0, result.output
    assert f"/upgrade-old/{built.archive.name}" in archive_server.requests  # downloaded from its uri
    assert json.loads(krew.kubectl("ace", "version", "-o", "json").stdout)["version"] == built.version
    logged_in.exec_kubeconfig("c-m-prod0001")
    result = krew.kubectl("get", "namespaces", "--context", "prod")
    assert result.returncode == 0, result.stderr

    served_manifest(newer, archive_server, index / "plugins", "upgrade-new")
    git("commit", "-qam", f"ace v{newer.version}", cwd=index)
    result = krew("upgrade")  # updates the index first, as users run it
    assert result.returncode == 0, result.output
    assert "Upgraded plugin: ace" in result.output, result.output
    assert sorted(p.name for p in (krew.root / "store" / "ace").iterdir()) == [f"v{newer.version}"]
    result = krew.kubectl("ace", "version", "-o", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["version"] == newer.version
    # The login and the cached token live outside krew's store: the new version uses them as they are.
    result = krew.kubectl("get", "namespaces", "--context", "prod-fqdn")
    assert result.returncode == 0, result.stderr
    assert world.counters.mints("c-m-prod0001") == 1

    result = krew("uninstall", "ace")
    assert result.returncode == 0, result.output
    assert krew.left() == ["bin", "receipts", "store"]
    assert krew.kubectl("ace", "version").returncode != 0


def plugin_index(directory: Path) -> Path:
    """A git repository laid out like krew-index (plugins/*.yaml), with no plugin yet."""
    (directory / "plugins").mkdir(parents=True)
    (directory / "README").write_text("A plugin index for the tests: plugins/<name>.yaml\n")
    git("init", "-q", cwd=directory)
    git("add", "-A", cwd=directory)
    git("commit", "-qm", "empty index", cwd=directory)
    return directory


def git(*args: str, cwd: Path) -> None:
    """git with a fixed identity and no user or system configuration."""
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "test",
           "GIT_AUTHOR_EMAIL": "test@example.invalid", "GIT_COMMITTER_NAME": "test",
           "GIT_COMMITTER_EMAIL": "test@example.invalid"}
    result = run(["git", *args], cwd=cwd, env=env, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr


KREW_FAULTS = {
    # name: (archive options, manifest change, what validate-krew-manifest says, what krew/check.py says)
    "symlink in archive": ({"extra": symlink_entry()}, None, "unable to handle file type", "symlink"),
    "wrong sha256": ({}, lambda d: set_path(d, "spec.platforms.0.sha256", "0" * 64), "checksum does not match",
                     "does not match"),
    "missing licence": ({"licence": False}, None, "could not find license file", "no licence file"),
    "bad bin": ({}, lambda d: set_path(d, "spec.platforms.0.bin", "kubectl-ace/kubectl-ace-missing"),
                "cannot be found in extracted archive", "not in the installed files"),
}


def planted(tmp_path: Path, server: ArchiveServer, archive_options: dict, change) -> Path:
    """A small linux/amd64 archive with the fault, published, and its manifest (sha256 of what is served)."""
    release = tmp_path.name
    archive = small_archive(tmp_path, **archive_options)
    base = server.publish(archive, release)
    data = yaml.safe_load(GENERATE.generate(tmp_path, base, VERSION, HOMEPAGE, partial=True))
    if change:
        change(data)
    return write_manifest(tmp_path, data)


def test_krew_and_checker_accept_the_small_good_archives(krew_tools, archive_server, tmp_path):
    """The control for the planted faults: the same small archives, with nothing wrong, pass both."""
    small_archive(tmp_path, os_name="windows")  # krew installs every platform: a zip with an .exe too
    manifest_path = planted(tmp_path, archive_server, {}, None)
    archive_server.publish(tmp_path / BUILD.archive_name(VERSION, "windows", "amd64"), tmp_path.name)
    assert len(yaml.safe_load(manifest_path.read_text())["spec"]["platforms"]) == 2
    result = validate(krew_tools, manifest_path, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "all 2 spec.platforms installed fine" in result.stderr
    assert CHECK.check_manifest(manifest_path, tmp_path).errors == []


@pytest.mark.parametrize("fault", list(KREW_FAULTS))
def test_krew_and_checker_reject_planted_fault(krew_tools, archive_server, tmp_path, fault):
    archive_options, change, krew_says, checker_says = KREW_FAULTS[fault]
    manifest_path = planted(tmp_path, archive_server, archive_options, change)
    result = validate(krew_tools, manifest_path, tmp_path)
    assert result.returncode != 0 and krew_says in result.stderr, result.stderr[-3000:]
    errors = CHECK.check_manifest(manifest_path, tmp_path).errors
    assert any(checker_says in error for error in errors), errors
    if fault != "missing licence":  # `kubectl krew install` itself does not look for a licence
        krew = Krew(krew_tools, tmp_path / "krew", dict(os.environ))
        archive = tmp_path / BUILD.archive_name(VERSION, "linux", "amd64")
        result = krew("install", f"--manifest={manifest_path}", f"--archive={archive}")
        assert result.returncode != 0 and krew_says in result.output, result.output
        assert not krew.link.exists() and not (krew.root / "receipts" / "ace.yaml").exists()


# --- shell completion (source install) --------------------------------------------------------------

def ace(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN_DIR / "kubectl-ace"), *args], capture_output=True, text=True,
                          env={**os.environ, "PATH": f"{BIN_DIR}{os.pathsep}{os.environ.get('PATH', '')}",
                               **(env or {})}, stdin=subprocess.DEVNULL)


def engine(*words: str, env: dict | None = None) -> tuple[list[str], str]:
    result = ace("completion", "__complete", *words, env=env)
    assert result.returncode == 0, result.stderr
    *candidates, directive = result.stdout.splitlines()
    return [c.split("\t")[0] for c in candidates], directive


def test_engine_completes_subcommands_flags_and_values(tmp_path):
    words, directive = engine("")
    assert {"login", "logout", "token", "version", "completion"} <= set(words) and directive == ":4"
    assert engine("lo")[0] == ["login", "logout"]
    assert engine("login", "--s")[0] == ["--server", "--store"]
    assert engine("version", "-o", "")[0] == ["table", "json", "yaml"]
    assert engine("version", "--output=j")[0] == ["--output=json"]
    assert engine("completion", "")[0] == ["bash", "zsh", "fish", "install"]
    assert engine("--kubeconfig", "") == ([], ":0")  # file names: the shell's own completion
    config = tmp_path / "config"
    config.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "current-context": "prod",
                                      "contexts": [{"name": n, "context": {"cluster": n, "user": "u"}}
                                                   for n in ("prod", "prod-fqdn", "edge")]}))
    assert engine("switch", "pr", env={"KUBECONFIG": str(config)})[0] == ["prod", "prod-fqdn"]
    assert engine("status", "--kubeconfig", str(config), "--context", "e")[0] == ["edge"]


def test_completion_scripts_are_valid_shell(tmp_path):
    for shell, check in (("bash", ["bash", "-n"]), ("zsh", ["zsh", "-n"]), ("fish", ["fish", "-n"])):
        result = ace("completion", shell)
        assert result.returncode == 0 and "kubectl-ace" in result.stdout, result.stderr
        if shutil.which(check[0]):
            script = tmp_path / f"completion.{shell}"
            script.write_text(result.stdout)
            checked = subprocess.run([*check, str(script)], capture_output=True, text=True)
            assert checked.returncode == 0, f"{shell}: {checked.stderr}"


def test_bash_completion_function_answers(tmp_path):
    script = tmp_path / "completion.bash"
    script.write_text(ace("completion", "bash").stdout)
    probe = f"""
source {script}
ask() {{ COMP_LINE="$1"; COMP_POINT=${{#COMP_LINE}}; COMP_WORDS=($2); COMP_CWORD=$3; _kubectl_ace;
        echo "${{COMPREPLY[*]}}"; }}
ask "kubectl-ace lo" "kubectl-ace lo" 1
ask "kubectl-ace version --output=j" "kubectl-ace version --output = j" 4
"""
    result = subprocess.run(["bash", "-c", probe], capture_output=True, text=True,
                            env={**os.environ, "PATH": f"{BIN_DIR}{os.pathsep}{os.environ.get('PATH', '')}"})
    assert result.stdout.splitlines() == ["login logout", "json"], result.stdout + result.stderr


def test_completion_install_writes_a_working_shim(tmp_path):
    result = ace("completion", "install", "--dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    shim = tmp_path / "kubectl_complete-ace"
    assert shim.stat().st_mode & 0o111
    answer = subprocess.run([str(shim), ""], capture_output=True, text=True)
    assert answer.returncode == 0, answer.stderr
    assert "login" in [line.split("\t")[0] for line in answer.stdout.splitlines()]
    assert answer.stdout.splitlines()[-1] == ":4"
    if KUBECTLS and NEWEST >= (1, 26):  # kubectl finds the shim on PATH and relays its answer
        path = os.pathsep.join([str(tmp_path), str(BIN_DIR), os.environ.get("PATH", "")])
        relayed = subprocess.run([KUBECTLS[NEWEST], "__complete", "ace", "comp"], capture_output=True, text=True,
                                 env={**os.environ, "PATH": path})
        assert relayed.stdout.splitlines()[0].split("\t")[0] == "completion", relayed.stdout + relayed.stderr


def test_completion_usage_errors_are_one_line(tmp_path):
    for args in (["completion", "install", "--dir", str(tmp_path / "missing")], ["completion", "bash", "extra"]):
        result = ace(*args)
        assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "Traceback" not in result.stderr


# --- the environment for child programs -------------------------------------------------------------

def test_child_env_leaves_a_source_run_alone(monkeypatch):
    from kubectl_ace.procenv import child_env
    monkeypatch.delattr(sys, "frozen", raising=False)
    env = {"LD_LIBRARY_PATH": "/mine", "PATH": "/bin"}
    result = child_env(env)
    assert result == env and result is not env
    monkeypatch.setenv("KUBECTL_ACE_PROBE", "1")
    assert child_env()["KUBECTL_ACE_PROBE"] == "1"


def test_child_env_restores_the_library_path_when_frozen(monkeypatch):
    from kubectl_ace.procenv import child_env
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", "/opt/kubectl-ace/_internal", raising=False)
    bundle = {"LD_LIBRARY_PATH": "/opt/kubectl-ace/_internal:/mine", "LD_LIBRARY_PATH_ORIG": "/mine",
              "_PYI_ARCHIVE_FILE": "/opt/kubectl-ace/kubectl-ace", "_PYI_PARENT_PROCESS_LEVEL": "1", "HOME": "/h"}
    result = child_env(bundle)
    assert result == {"LD_LIBRARY_PATH": "/mine", "HOME": "/h", "PYINSTALLER_RESET_ENVIRONMENT": "1"}
    assert "LD_LIBRARY_PATH_ORIG" in bundle  # the input is not changed
    result = child_env({"LD_LIBRARY_PATH": "/opt/kubectl-ace/_internal", "HOME": "/h"})
    assert "LD_LIBRARY_PATH" not in result  # the user had none
    result = child_env({"LD_LIBRARY_PATH": "/mine", "HOME": "/h"})
    assert result["LD_LIBRARY_PATH"] == "/mine"  # macOS: the bootloader never touched it


def test_bundle_directories_are_dropped_from_path():
    from kubectl_ace.procenv import drop_bundle_dirs
    sep = os.pathsep
    path = sep.join(["/opt/app/_internal", "/usr/bin", "/opt/app/_internal/sub", "/opt/app/_internal2", ""])
    assert drop_bundle_dirs(path, "/opt/app/_internal") == sep.join(["/usr/bin", "/opt/app/_internal2", ""])


def test_frozen_binary_runs_the_saml_browser_login(built, manifest, krew_tools, sandbox, world, tmp_path):
    """The SAML flow needs cryptography, imported only in that flow: it must be in the bundle krew installs."""
    from tests.test_login_flows import Browser, saml_user
    krew = Krew(krew_tools, tmp_path / "krew", sandbox.env)
    result = krew("install", f"--manifest={manifest}", f"--archive={built.archive}")
    assert result.returncode == 0, result.output
    browser = Browser(tmp_path, world, sandbox)
    try:
        saml_user(world, "okta")
        result = subprocess.run([str(krew.link), "login", "--server", world.rancher_url, "--cacert",
                                 str(world.rancher_ca_file), "--auth-provider", "okta"],
                                capture_output=True, text=True, env=sandbox.env, timeout=120,
                                stdin=subprocess.DEVNULL)
    finally:
        browser.stop()
    assert result.returncode == 0, result.stderr + browser.errors()
    assert "as alice" in result.stderr and world.counters.logins() == 1
