"""`kubectl ace logout`."""

from __future__ import annotations

import sys

from kubectl_ace import logins
from kubectl_ace.errors import UsageError
from kubectl_ace.store import Store
from kubectl_ace.urls import checked_server

EXAMPLES = """\
  kubectl ace logout                                       the one server logged in to
  kubectl ace logout --all                                 every server (undoes every login)
  kubectl ace logout --server https://rancher.example.com --cluster c-m-abcd1234   one cluster's token only"""


def configure(parser) -> None:
    parser.add_argument("--server", help="the Rancher server (needed when logged in to several)")
    parser.add_argument("--all", action="store_true", help="log out of every server")
    parser.add_argument("--cluster", help="only drop (and revoke) this cluster's token; keep the login")


def run(args) -> int:
    server = checked_server(args.server) if args.server is not None else None
    store = Store(getattr(args, "store", None))
    known = store.servers()
    if args.all:
        targets = known
    elif server:
        targets = [server]
    elif len(known) == 1:
        targets = known
    elif not known:
        print("Not logged in anywhere.", file=sys.stderr)
        return 0
    else:
        raise UsageError("logged in to several servers (" + ", ".join(known) + "); pass --server URL or --all")
    if args.cluster and len(targets) != 1:
        raise UsageError("--cluster needs exactly one server; pass --server URL")
    for server in targets:
        result = logins.log_out(server, store, cluster=args.cluster)
        missed = (
            f"; Rancher did not revoke {', '.join(result.unrevoked)}, which expire(s) on their own"
            if result.unrevoked
            else ""
        )
        if args.cluster:
            what = f"the token for cluster {args.cluster} on {server}"
            note = (
                f"; Rancher could not be told ({result.unreachable})"
                if result.unreachable
                else f"; {result.revoked} token(s) revoked at Rancher"
            )
            print(f"Dropped {what}{note}{missed}.", file=sys.stderr)
            continue
        note = (
            f"; Rancher could not be told ({result.unreachable}), the tokens expire on their own"
            if result.unreachable
            else f"; {result.revoked} token(s) revoked at Rancher"
        )
        print(f"Logged out of {server}{note}{missed}.", file=sys.stderr)
    return 0
