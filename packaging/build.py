"""Build the kubectl-ace onedir app for this machine with PyInstaller and pack it the way krew wants.

Usage: python packaging/build.py [--out DIR] [--smoke] [--bare]

Writes DIR/kubectl-ace/ (the onedir app), DIR/kubectl-ace_<version>_<os>_<arch>.tar.gz (.zip on
Windows) holding kubectl-ace/{kubectl-ace, _internal/, LICENSE}, and DIR/SHA256SUMS. The archive
is deterministic: sorted entries, every mtime SOURCE_DATE_EPOCH (or 0), owner 0:0, symlinks
replaced by what they point to (krew refuses symlinks in tar archives), gzip without name or time.
--smoke runs the built app (version, --help, the exec path) and fails on any surprise.
--bare builds only a hello-world app with the same options (DIR/hello/hello), the benchmark's baseline.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import platform
import stat
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "packaging" / "kubectl-ace.spec"
NAME = "kubectl-ace"
HASH_SEED = "20240601"  # any fixed value: it makes PyInstaller's output byte-for-byte repeatable
ZIP_EPOCH_FLOOR = 315532800  # 1980-01-01: zip cannot store anything older
GO_OS = {"linux": "linux", "darwin": "darwin", "windows": "windows"}
GO_ARCH = {"x86_64": "amd64", "amd64": "amd64", "x64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
EXEC_INFO = json.dumps({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                        "spec": {"interactive": False}})


class BuildError(Exception):
    """A build step failed; the message is one line for the user."""


def version() -> str:
    """The package version, read from the source tree being built."""
    sys.path.insert(0, str(ROOT))
    try:
        from kubectl_ace import __version__
    finally:
        sys.path.pop(0)
    return __version__


def target() -> tuple[str, str]:
    """This machine's os and arch, spelled as Go (and krew) spell them."""
    system, machine = platform.system().lower(), platform.machine().lower()
    if system not in GO_OS or machine not in GO_ARCH:
        raise BuildError(f"unsupported build machine {system}/{machine}: krew knows linux, darwin and windows "
                         "on amd64 and arm64")
    return GO_OS[system], GO_ARCH[machine]


def source_date_epoch() -> int:
    """SOURCE_DATE_EPOCH if set (reproducible-builds.org), else 0."""
    value = os.environ.get("SOURCE_DATE_EPOCH", "0").strip() or "0"
    if not value.isdigit():
        raise BuildError(f"SOURCE_DATE_EPOCH={value!r} is not a number of seconds")
    return int(value)


def archive_name(ver: str, os_name: str, arch: str) -> str:
    """kubectl-ace_<version>_<os>_<arch>.tar.gz, or .zip for Windows."""
    return f"{NAME}_{ver}_{os_name}_{arch}.{'zip' if os_name == 'windows' else 'tar.gz'}"


def executable_name(os_name: str, name: str = NAME) -> str:
    """The executable's file name on that os."""
    return name + ".exe" if os_name == "windows" else name


def run_pyinstaller(out: Path, spec_args: list[str], epoch: int) -> None:
    """Run PyInstaller on the spec with a fixed hash seed; its work files go to a temporary directory."""
    env = dict(os.environ, PYTHONHASHSEED=HASH_SEED, SOURCE_DATE_EPOCH=str(epoch))
    with tempfile.TemporaryDirectory(prefix="kubectl-ace-build-") as work:
        command = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level=WARN",
                   "--distpath", str(out), "--workpath", work, str(SPEC), "--", *spec_args]
        try:
            result = subprocess.run(command, env=env, cwd=str(ROOT), stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
        except FileNotFoundError as err:
            raise BuildError(f"cannot run {sys.executable}: {err}") from None
    if result.returncode != 0:
        if "No module named PyInstaller" in result.stdout:
            raise BuildError("PyInstaller is not installed; run: pip install -e '.[build]'")
        sys.stderr.write(result.stdout)
        raise BuildError(f"PyInstaller failed (exit {result.returncode}); its output is above")


def tree_entries(top: Path, arcname: str, extra: dict[str, Path]) -> list[tuple[str, Path | None]]:
    """(archive name, file or None for a directory) for top and everything in it, sorted, symlinks followed."""
    entries: list[tuple[str, Path | None]] = [(arcname, None)]

    def walk(directory: Path, prefix: str, ancestors: frozenset[str], added: dict[str, Path]) -> None:
        """Add directory's children (and the extra files) in name order, depth first."""
        children = {name: directory / name for name in os.listdir(directory)}
        children.update(added)
        for name in sorted(children):
            path, member = children[name], f"{prefix}/{name}"
            if path.is_dir():  # is_dir/is_file follow symlinks: the archive gets the target's content
                real = os.path.realpath(path)
                if real in ancestors:
                    raise BuildError(f"symlink loop at {path}")
                entries.append((member, None))
                walk(path, member, ancestors | {real}, {})
            elif path.is_file():
                entries.append((member, path))
            else:
                raise BuildError(f"{path} is neither a file nor a directory (a dangling symlink?)")

    walk(top, arcname, frozenset({os.path.realpath(top)}), extra)
    return entries


def file_mode(path: Path | None) -> int:
    """0755 for directories and executables, 0644 for the rest: the same whatever the build machine's umask."""
    if path is None or os.stat(path).st_mode & stat.S_IXUSR:
        return 0o755
    return 0o644


def pack_tar_gz(entries: list[tuple[str, Path | None]], destination: Path, epoch: int, level: int = 9) -> None:
    """A deterministic .tar.gz with only directory and regular-file entries (gzip level 9 unless told)."""
    with open(destination, "wb") as raw, \
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=level) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, path in entries:
            info = tarfile.TarInfo(name)
            info.mtime, info.uid, info.gid, info.uname, info.gname = epoch, 0, 0, "", ""
            info.mode = file_mode(path)
            if path is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.type = tarfile.REGTYPE
                info.size = os.stat(path).st_size
                with open(path, "rb") as handle:
                    tar.addfile(info, handle)


def pack_zip(entries: list[tuple[str, Path | None]], destination: Path, epoch: int) -> None:
    """A deterministic .zip: fixed times and attributes, directories as entries ending in '/'."""
    date_time = time.gmtime(max(epoch, ZIP_EPOCH_FLOOR))[:6]
    with zipfile.ZipFile(destination, "w") as archive:
        for name, path in entries:
            info = zipfile.ZipInfo(name + "/" if path is None else name, date_time=date_time)
            info.create_system = 3  # Unix attributes, whatever machine built it
            mode = file_mode(path)
            if path is None:
                info.external_attr = ((stat.S_IFDIR | mode) << 16) | 0x10  # 0x10: the MS-DOS directory bit
                archive.writestr(info, b"")
            else:
                info.external_attr = (stat.S_IFREG | mode) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, path.read_bytes(), compresslevel=9)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_sums(out: Path) -> Path:
    """SHA256SUMS for every kubectl-ace archive in out, in `sha256sum -c` format."""
    archives = sorted(p for p in out.iterdir() if p.name.startswith(NAME + "_")
                      and p.name.endswith((".tar.gz", ".zip")))
    sums = out / "SHA256SUMS"
    sums.write_text("".join(f"{sha256_file(p)}  {p.name}\n" for p in archives), encoding="utf-8")
    return sums


def smoke(executable: Path) -> None:
    """Run the built app the way users and kubectl do; any surprise is a build failure."""
    with tempfile.TemporaryDirectory(prefix="kubectl-ace-smoke-") as home:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBE", "KUBECTL_ACE"))}
        env.update(HOME=home, USERPROFILE=home, KUBECTL_ACE_STORE=os.path.join(home, "store"))

        def run(*args: str, extra: dict | None = None) -> subprocess.CompletedProcess:
            """Run the built app with a fresh home and an empty store."""
            return subprocess.run([str(executable), *args], capture_output=True, text=True, timeout=60,
                                  env={**env, **(extra or {})}, stdin=subprocess.DEVNULL)

        result = run("version")
        if result.returncode != 0 or "pyinstaller" not in result.stdout:
            raise BuildError(f"smoke: `kubectl-ace version` gave exit {result.returncode}: "
                             f"{(result.stdout + result.stderr).strip()[:300]}")
        for args in (["--help"], ["version", "-o", "yaml"]):
            result = run(*args)
            if result.returncode != 0 or "Traceback" in result.stderr:
                raise BuildError(f"smoke: `kubectl-ace {' '.join(args)}` gave exit {result.returncode}: "
                                 f"{result.stderr.strip()[:300]}")
        result = run("token", "--server=https://example.invalid", extra={"KUBERNETES_EXEC_INFO": EXEC_INFO})
        lines = result.stderr.strip().splitlines()
        if (result.returncode == 0 or result.stdout or len(lines) != 1 or "not logged in" not in lines[0].lower()
                or "Traceback" in result.stderr):
            raise BuildError(f"smoke: the exec path without a login should fail with one 'not logged in' line, "
                             f"got exit {result.returncode}, stdout {result.stdout[:100]!r}, "
                             f"stderr {result.stderr.strip()[:300]!r}")


def build(out: Path, run_smoke: bool) -> Path:
    """Build and pack kubectl-ace for this machine; returns the archive."""
    ver, (os_name, arch) = version(), target()
    epoch = source_date_epoch()
    print(f"build.py: building {NAME} {ver} for {os_name}/{arch}", file=sys.stderr)
    out.mkdir(parents=True, exist_ok=True)
    run_pyinstaller(out, [], epoch)
    app = out / NAME
    executable = app / executable_name(os_name)
    if not executable.is_file():
        raise BuildError(f"PyInstaller did not produce {executable}")
    if run_smoke:
        smoke(executable)
    licence = ROOT / "LICENSE"
    if not licence.is_file():
        raise BuildError(f"{licence} is missing; the archive must carry the licence")
    entries = tree_entries(app, NAME, {"LICENSE": licence})
    archive = out / archive_name(ver, os_name, arch)
    (pack_zip if os_name == "windows" else pack_tar_gz)(entries, archive, epoch)
    write_sums(out)
    print(f"build.py: wrote {archive} ({archive.stat().st_size / 1e6:.1f} MB, {len(entries)} entries) "
          f"and {out / 'SHA256SUMS'}", file=sys.stderr)
    return archive


def build_bare(out: Path) -> Path:
    """A print('{}') program frozen with exactly the same options: the startup-time baseline."""
    os_name, _ = target()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kubectl-ace-hello-") as scratch:
        entry = Path(scratch) / "hello.py"
        entry.write_text("print('{}')\n", encoding="utf-8")
        run_pyinstaller(out, ["--entry", str(entry), "--name", "hello", "--bare"], source_date_epoch())
    executable = out / "hello" / executable_name(os_name, "hello")
    if not executable.is_file():
        raise BuildError(f"PyInstaller did not produce {executable}")
    print(f"build.py: wrote {executable}", file=sys.stderr)
    return executable


def main(argv: list[str] | None = None) -> int:
    """Command line: build (and pack) or build the baseline; one-line errors."""
    parser = argparse.ArgumentParser(prog="build.py", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="output directory (default: dist/)")
    parser.add_argument("--smoke", action="store_true", help="run the built app before packing it")
    parser.add_argument("--bare", action="store_true", help="build the hello-world baseline instead")
    args = parser.parse_args(argv)
    try:
        if args.bare:
            build_bare(args.out.resolve())
        else:
            build(args.out.resolve(), args.smoke)
    except BuildError as err:
        print(f"build.py: error: {err}", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"build.py: error: {err.strerror or err}: {err.filename or ''}".rstrip(": "), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
