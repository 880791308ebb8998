"""Run a simulated Rancher with a few downstream clusters until Ctrl-C: python -m tests.sim"""

from __future__ import annotations

import argparse
import signal
import threading

from .admin import USAGE, AdminServer
from .cluster import ClusterSpec
from .world import World


def main(argv: list[str] | None = None) -> int:
    """Start the world and the admin channel, print where everything is, wait for Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m tests.sim", description=__doc__)
    parser.add_argument("--rancher-version", default="v2.13.0")
    parser.add_argument("--user", default="admin")
    parser.add_argument("--password", default="password")
    parser.add_argument("--admin-port", type=int, default=0, help="port of the control channel on 127.0.0.1")
    parser.add_argument("--no-v3-tokens", action="store_true", help="a Rancher without /v3/tokens (announced)")
    parser.add_argument("--ext-login", action="store_true", help="/v1-public/login answers ext Token objects")
    parser.add_argument("--no-generate-kubeconfig", action="store_true", help="no Norman generateKubeconfig")
    parser.add_argument("--sync-delay", type=float, default=0.0, help="seconds before token changes reach clusters")
    args = parser.parse_args(argv)

    world = World(
        clusters=[ClusterSpec(name="prod", id="c-m-prod0001", ace="fqdn"),
                  ClusterSpec(name="edge", id="c-m-edge0001", ace="nodes", nodes=("cp1", "cp2"), workers=("w1",)),
                  ClusterSpec(name="plain", id="c-plain1", ace=None)],
        users={args.user: args.password},
        rancher_version=args.rancher_version, v3_tokens=not args.no_v3_tokens, ext_login=args.ext_login,
        norman_kubeconfig=not args.no_generate_kubeconfig,
    )
    world.sync_delay = args.sync_delay
    # Server threads inherit this mask, so Ctrl-C is delivered to the main thread, which is the
    # only one that can act on it (a signal landing on another thread would not wake it).
    signals = {signal.SIGINT, signal.SIGTERM}
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    admin = AdminServer(world, args.admin_port)
    try:
        world.start()
        admin.start()
    except BaseException:
        admin.stop()
        world.stop()
        raise
    finally:
        if hasattr(signal, "pthread_sigmask"):
            signal.pthread_sigmask(signal.SIG_UNBLOCK, signals)
    try:
        print(f"Rancher      {world.rancher_url}  ({world.rancher_version})")
        print(f"Rancher CA   {world.rancher_ca_file}")
        print(f"User         {args.user} / {args.password}  (id {world.user_id(args.user)})")
        for c in world.clusters.values():
            print(f"Cluster      {c.id}  name={c.name}  ace={c.spec.ace}  CA {c.ca_file}")
            print(f"  proxy      {c.proxy_url}")
            for name, ep in c.endpoints.items():
                print(f"  {name:<10} {ep.url}")
        print(f"Admin        {admin.url}")
        print("  " + USAGE.replace("\n", "\n  ").rstrip())
        print("Ctrl-C to stop.", flush=True)
        done = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: done.set())
        try:
            while not done.wait(1.0):  # short slices: signal handlers run between them
                pass
        except KeyboardInterrupt:
            pass
    finally:
        admin.stop()
        world.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
