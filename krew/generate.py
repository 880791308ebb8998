"""Fill the krew manifest template (krew/ace.yaml) from built archives, or render krew-release-bot's .krew.yaml.

Usage:
  python krew/generate.py --archives DIR --base-url URL [--version V] [--homepage URL] [--partial] [-o FILE]
  python krew/generate.py --release-bot --repo OWNER/NAME [-o FILE]

--base-url is where the archives are published, e.g.
https://github.com/OWNER/kubectl-ace/releases/download/v{version} ({version} is filled in).
Each platform's archive is DIR/kubectl-ace_<version>_<os>_<arch>.tar.gz (.zip for windows); its
sha256 is computed from the file. --partial drops the platforms whose archive is not in DIR
(to check a single build); without it a missing archive is an error.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TEMPLATE = HERE / "ace.yaml"
sys.path.insert(0, str(ROOT / "packaging"))
# The archive names, the version and the checksums are the build script's: one definition of each.
from build import archive_name, sha256_file  # noqa: E402
from build import version as default_version  # noqa: E402
NAME = "kubectl-ace"
PLACEHOLDER = re.compile(r"\{\{(tag|homepage|uri|sha256)(?::([a-z0-9]+)/([a-z0-9]+))?\}\}")
GITHUB_RELEASE = re.compile(r"^(https://github\.com/[^/]+/[^/]+)/releases/download/")
REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


class GenerateError(Exception):
    """A one-line problem for the user."""


def split_template(text: str) -> tuple[str, list[str]]:
    """(everything before the platform list, one text block per platform); the header comment is dropped."""
    lines = text.splitlines(keepends=True)
    while lines and (lines[0].startswith("#") or not lines[0].strip()):
        lines.pop(0)
    body = "".join(lines)
    head, marker, rest = body.partition("\n  platforms:\n")
    if not marker:
        raise GenerateError(f"{TEMPLATE}: no `  platforms:` list at the end of spec")
    blocks = re.split(r"(?m)^(?=  - )", rest)
    if blocks and not blocks[0].strip():
        blocks.pop(0)
    return head + marker, blocks


def block_platform(block: str) -> tuple[str, str]:
    """The os/arch named by a platform block's {{uri:OS/ARCH}} placeholder."""
    match = PLACEHOLDER.search(block.split("uri:", 1)[-1])
    if not match or not match.group(2):
        raise GenerateError(f"{TEMPLATE}: a platform has no {{{{uri:OS/ARCH}}}} placeholder")
    return match.group(2), match.group(3)


def generate(archives: Path, base_url: str, version: str, homepage: str | None, partial: bool) -> str:
    """The manifest with every placeholder filled from the archives in the directory."""
    if not archives.is_dir():
        raise GenerateError(f"--archives {archives}: no such directory")
    base = base_url.replace("{version}", version).rstrip("/")
    if homepage is None:
        match = GITHUB_RELEASE.match(base + "/")
        if not match:
            raise GenerateError("--homepage is needed when --base-url is not a GitHub release URL")
        homepage = match.group(1)
    head, blocks = split_template(TEMPLATE.read_text(encoding="utf-8"))
    kept = []
    for block in blocks:
        os_name, arch = block_platform(block)
        name = archive_name(version, os_name, arch)
        path = archives / name
        if not path.is_file():
            if partial:
                continue
            raise GenerateError(f"no archive for {os_name}/{arch}: {path} is missing (build it, or pass --partial)")
        values = {"uri": f"{base}/{name}", "sha256": sha256_file(path)}
        kept.append(PLACEHOLDER.sub(lambda m: values[m.group(1)] if m.group(2) == os_name
                                    and m.group(3) == arch else m.group(0), block))
    if not kept:
        raise GenerateError(f"no kubectl-ace {version} archive in {archives}")
    head = head.replace("{{tag}}", f"v{version}").replace("{{homepage}}", homepage)
    text = head + "".join(kept)
    left = PLACEHOLDER.search(text)
    if left:
        raise GenerateError(f"{TEMPLATE}: placeholder {left.group(0)} was left unfilled")
    return text


def release_bot_template(repo: str) -> str:
    """.krew.yaml for krew-release-bot: the same manifest as a Go template over the release tag."""
    if not REPO.match(repo):
        raise GenerateError(f"--repo {repo!r} should look like OWNER/NAME")
    head, blocks = split_template(TEMPLATE.read_text(encoding="utf-8"))
    header = ("# krew-release-bot's template (rajatjindal/krew-release-bot), generated from krew/ace.yaml by\n"
              f"#   python krew/generate.py --release-bot --repo {repo} -o .krew.yaml\n"
              "# Edit krew/ace.yaml, not this file. The release workflow renders it again for the\n"
              "# repository it runs in before krew-release-bot reads it.\n")
    out = []
    for block in blocks:
        os_name, arch = block_platform(block)
        # addURIAndSha renders its URL as a template too ({{ .TagName }}, {{ .Version }} = the tag
        # without its v) and writes `uri:` plus a `sha256:` line indented by four spaces.
        url = (f"https://github.com/{repo}/releases/download/{{{{ .TagName }}}}/"
               f"{NAME}_{{{{ .Version }}}}_{os_name}_{arch}.{'zip' if os_name == 'windows' else 'tar.gz'}")
        block, count = re.subn(r"(?m)^    uri: \{\{uri:[a-z0-9/]+\}\}\n    sha256: \{\{sha256:[a-z0-9/]+\}\}$",
                               f'    {{{{ addURIAndSha "{url}" .TagName }}}}', block)
        if count != 1:
            raise GenerateError(f"{TEMPLATE}: the {os_name}/{arch} platform needs `uri:` then `sha256:` lines")
        out.append(block)
    head = head.replace("{{tag}}", "{{ .TagName }}").replace("{{homepage}}", f"https://github.com/{repo}")
    return header + head + "".join(out)


def main(argv: list[str] | None = None) -> int:
    """Command line: write the manifest (or .krew.yaml); one-line errors."""
    parser = argparse.ArgumentParser(prog="generate.py", description=__doc__.splitlines()[0])
    parser.add_argument("--archives", type=Path, help="directory holding the built archives")
    parser.add_argument("--base-url", help="where the archives are published; {version} is filled in")
    parser.add_argument("--version", help="the version (default: kubectl_ace.__version__)")
    parser.add_argument("--homepage", help="default: the GitHub repository of --base-url")
    parser.add_argument("--partial", action="store_true", help="leave out platforms with no archive")
    parser.add_argument("--release-bot", action="store_true", help="write the .krew.yaml template instead")
    parser.add_argument("--repo", help="with --release-bot: the GitHub repository, OWNER/NAME")
    parser.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    args = parser.parse_args(argv)
    try:
        if args.release_bot:
            if not args.repo:
                raise GenerateError("--release-bot needs --repo OWNER/NAME")
            text = release_bot_template(args.repo)
        else:
            if not args.archives or not args.base_url:
                raise GenerateError("--archives DIR and --base-url URL are needed (or --release-bot)")
            version = (args.version or default_version()).removeprefix("v")
            text = generate(args.archives, args.base_url, version, args.homepage, args.partial)
        if args.output:
            args.output.write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
    except GenerateError as err:
        print(f"generate.py: error: {err}", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"generate.py: error: {err.strerror or err}: {err.filename or ''}".rstrip(": "), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
