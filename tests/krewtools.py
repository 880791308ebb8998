"""The real krew tools for the packaging tests: krew and validate-krew-manifest, built with Go once per machine.

They go to ${XDG_CACHE_HOME:-~/.cache}/kubectl-ace-test/krew-<version>/bin and are reused by every later
run and every worktree. The build uses its own module and build caches (removed once it is done), so a
user's Go settings cannot change what is built.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

KREW_VERSION = "v0.4.3"
MODULE = "sigs.k8s.io/krew"
TOOLS = ("krew", "validate-krew-manifest")
MIN_GO = (1, 17)  # the go directive of krew v0.4.3's go.mod
BUILD_TIMEOUT = 900
KEPT_GO_SETTINGS = ("GOPROXY", "GONOPROXY", "GOPRIVATE", "GOINSECURE", "GOSUMDB", "GONOSUMDB", "GOROOT")


class KrewToolsError(Exception):
    """The tools cannot be had; the message says what to do."""


@dataclass(frozen=True)
class KrewTools:
    """Where the built tools are: bin_dir holds krew, its kubectl-krew link and validate-krew-manifest."""

    bin_dir: Path

    @property
    def krew(self) -> Path:
        return self.bin_dir / "kubectl-krew"

    @property
    def validate(self) -> Path:
        return self.bin_dir / "validate-krew-manifest"


def cache_dir() -> Path:
    """The per-machine cache for this krew version, outside any worktree."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "kubectl-ace-test" / f"krew-{KREW_VERSION}"


def ensure() -> KrewTools:
    """The tools, built first if this machine does not have them yet."""
    directory = cache_dir()
    tools = KrewTools(directory / "bin")
    if complete(tools):
        return tools
    go = shutil.which("go")
    if not go:
        raise KrewToolsError(f"the packaging tests need Go {'.'.join(map(str, MIN_GO))}+ to build krew "
                             f"{KREW_VERSION}, and `go` is not on PATH; run ./dev test (it installs Debian's "
                             "golang-go) or install Go")
    check_go_version(go)
    directory.mkdir(parents=True, exist_ok=True)
    with locked(directory / ".lock"):  # another worktree's test run may be building it right now
        if not complete(tools):
            build(go, directory, tools)
    return tools


def complete(tools: KrewTools) -> bool:
    """Both tools and the kubectl-krew link are there (the link is made last)."""
    return all(os.access(path, os.X_OK) for path in (tools.bin_dir / "krew", tools.validate, tools.krew))


def check_go_version(go: str) -> None:
    """Go new enough for krew's go.mod; an error naming the version otherwise."""
    try:
        out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as err:
        raise KrewToolsError(f"cannot run {go}: {err}") from None
    match = re.match(r"go(\d+)\.(\d+)", out.strip())
    if not match or (int(match[1]), int(match[2])) < MIN_GO:
        raise KrewToolsError(f"{go} is {out.strip() or 'of an unknown version'}; building krew {KREW_VERSION} "
                             f"needs Go {'.'.join(map(str, MIN_GO))} or newer")


def build(go: str, directory: Path, tools: KrewTools) -> None:
    """go install both tools into a staging directory, then move it into place."""
    scratch = directory / "build"
    staging = directory / "bin.new"
    for path in (scratch, staging):
        shutil.rmtree(path, ignore_errors=True)
    # The machine's way to reach modules stays; every other Go setting is this build's own.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GO") or k in KEPT_GO_SETTINGS}
    env.update(GOBIN=str(staging), GOPATH=str(scratch / "gopath"), GOMODCACHE=str(scratch / "gopath" / "mod"),
               GOCACHE=str(scratch / "gocache"), GOFLAGS="-modcacherw -buildvcs=false", GOWORK="off",
               GOTOOLCHAIN="local",  # never download another Go toolchain
               CGO_ENABLED="0")  # no C compiler needed, and static binaries
    command = [go, "install", *(f"{MODULE}/cmd/{tool}@{KREW_VERSION}" for tool in TOOLS)]
    try:
        result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=directory,
                                timeout=BUILD_TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise KrewToolsError(f"`go install {MODULE}/cmd/...@{KREW_VERSION}` took more than {BUILD_TIMEOUT} s") \
            from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)  # ~300 MB of module and build cache, not needed after
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip().splitlines()
        raise KrewToolsError(f"`go install {MODULE}/cmd/...@{KREW_VERSION}` failed (exit {result.returncode}): "
                             + " | ".join(output[-6:]))
    missing = [tool for tool in TOOLS if not os.access(staging / tool, os.X_OK)]
    if missing:
        raise KrewToolsError(f"go install did not produce {', '.join(missing)} in {staging}")
    # kubectl finds plugins by name on PATH: `kubectl krew` runs kubectl-krew.
    os.symlink("krew", staging / "kubectl-krew")
    shutil.rmtree(tools.bin_dir, ignore_errors=True)
    os.replace(staging, tools.bin_dir)


@contextmanager
def locked(path: Path):
    """An exclusive lock on path for the block (POSIX; elsewhere no lock)."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


if __name__ == "__main__":
    print(ensure().bin_dir)
