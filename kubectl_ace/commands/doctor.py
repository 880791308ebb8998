"""`kubectl ace doctor`: check everything a user could have wrong, each with the fix."""

from __future__ import annotations

from kubectl_ace import output
from kubectl_ace.store import Store

EXAMPLES = """\
  kubectl ace doctor                 every check, with the fix for each problem (exit 1 when one fails)
  kubectl ace doctor -o json         the same for scripts"""


def configure(parser) -> None:
    parser.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table")


def run(args) -> int:
    from kubectl_ace import diagnosis

    checks = diagnosis.run_all(getattr(args, "kubeconfig", None), Store(getattr(args, "store", None)))
    data = {"ok": not diagnosis.failed(checks), "checks": [c.as_dict() for c in checks]}
    output.emit(data, args.output, lambda: print_table(checks))
    return 1 if diagnosis.failed(checks) else 0


def print_table(checks) -> None:
    width = max(len(c.check) for c in checks)
    for c in checks:
        print(f"{c.status.upper():<4}  {c.check:<{width}}  {c.detail}")
        if c.fix and c.status != "ok":
            print(f"{'':<4}  {'':<{width}}  fix: {c.fix}")
    fails = sum(c.status == "fail" for c in checks)
    warns = sum(c.status == "warn" for c in checks)
    print(f"\n{fails} problem(s), {warns} warning(s)." if fails or warns else "\nEverything looks right.")
