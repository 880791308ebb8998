"""`kubectl ace version`."""

from __future__ import annotations

import platform
import sys

from kubectl_ace import __version__, output

EXAMPLES = """\
  kubectl ace version
  kubectl ace version -o json"""


def configure(parser) -> None:
    parser.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table")


def run(args) -> int:
    frozen = bool(getattr(sys, "frozen", False))
    info = {
        "version": __version__,
        "build": "pyinstaller" if frozen else "source",
        "python": platform.python_version(),
        "platform": f"{sys.platform}/{platform.machine()}",
    }
    output.emit(
        info,
        args.output,
        lambda: print(f"kubectl-ace {info['version']} ({info['build']}, Python {info['python']}, {info['platform']})"),
    )
    return 0
