"""`kubectl-ace token`: the exec credential command kubectl runs on every call."""

from __future__ import annotations

import sys

from kubectl_ace import credential, tokens
from kubectl_ace.errors import UsageError

HELP = "Print an ExecCredential for kubectl (used from a kubeconfig's exec section)"


def configure(parser) -> None:
    """Shown in `kubectl ace --help` only: the command itself parses its flags by hand (see parse)."""
    parser.add_argument("--server", required=True)


# The flags of `rancher token` plus ours; parsed by hand on the hot path (argparse costs ~7 ms a call).
VALUE_FLAGS = {"--server": "server", "--cluster": "cluster", "--user": "user", "--auth-provider": "provider",
               "--cacerts": "cacerts", "--store": "store", "--auth-flow": "auth_flow",
               "--kubeconfig": "kubeconfig", "--context": "context"}
BOOL_FLAGS = {"--skip-verify": "skip_verify", "--force-refresh": "force_refresh", "-v": "verbose",
              "--verbose": "verbose"}


def parse(argv: list[str]) -> dict:
    """Parse the token flags; unknown ones get argparse-style errors."""
    options: dict = {"server": None, "cluster": None, "user": None, "provider": None, "cacerts": None,
                     "store": None, "auth_flow": None, "kubeconfig": None, "context": None, "skip_verify": False, "force_refresh": False,
                     "verbose": False}
    args = iter(argv)
    for arg in args:
        name, has_value, value = arg.partition("=")
        if name in VALUE_FLAGS:
            if not has_value:
                value = next(args, None)
                if value is None:
                    raise UsageError(f"token: {name} needs a value")
            options[VALUE_FLAGS[name]] = value
        elif name in BOOL_FLAGS and not has_value:
            options[BOOL_FLAGS[name]] = True
        elif name in ("-h", "--help"):
            print(HELP)
            raise SystemExit(0)
        else:
            raise UsageError(f"token: unknown flag {arg.split('=')[0]!r}; see `kubectl-ace token --help`")
    if not options["server"]:
        raise UsageError("token: --server is required (the Rancher URL or host)")
    return options


def run(argv: list[str]) -> int:
    options = parse(argv)
    info = credential.read_exec_info()
    request = tokens.Request(options["server"], options["cluster"], user=options["user"],
                             provider=options["provider"], cacerts=options["cacerts"],
                             skip_verify=options["skip_verify"], force_refresh=options["force_refresh"],
                             interactive=info.interactive, directory=options["store"])
    cred = tokens.get_token(request)
    import time
    sys.stdout.write(credential.render(info.api_version, cred.token, cred.reported_expiry(time.time())) + "\n")
    return 0


HELP = """usage: kubectl-ace token --server URL [--cluster ID] [--user NAME] [--auth-provider TYPE]
                         [--cacerts FILE] [--skip-verify] [--force-refresh] [--store DIR]

Print an ExecCredential for kubectl with a cluster-scoped Rancher token, minting one from your
login when needed. kubectl runs this from the exec section of a kubeconfig user; it accepts the
flags of `rancher token`, so Rancher's kubeconfigs work by changing `command:` to kubectl-ace."""
