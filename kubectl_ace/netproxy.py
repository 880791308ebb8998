"""HTTPS_PROXY and NO_PROXY for the probes, read as kubectl (Go) and requests read them (stdlib only)."""

from __future__ import annotations

import os


def proxy_for(scheme: str, host: str) -> tuple[str, int] | None:
    """The HTTP(S)_PROXY to tunnel through for this host, honouring NO_PROXY."""
    from urllib.parse import urlsplit

    env = os.environ
    proxy = env.get(f"{scheme}_proxy") or env.get(f"{scheme.upper()}_PROXY")
    if not proxy or bypassed(host, env.get("no_proxy") or env.get("NO_PROXY") or ""):
        return None
    parts = urlsplit(proxy if "://" in proxy else "http://" + proxy)
    return parts.hostname or "", parts.port or 3128


def bypassed(host: str, no_proxy: str) -> bool:
    """NO_PROXY as kubectl (Go) and requests read it: `*`, host names, domain suffixes, IPs and CIDRs."""
    host = host.lower().strip("[]")
    for entry in (e.strip().lower() for e in no_proxy.replace(" ", ",").split(",")):
        if not entry:
            continue
        if entry == "*":
            return True
        if "/" in entry:
            import ipaddress

            try:
                if ipaddress.ip_address(host) in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                pass
            continue
        if entry.count(":") == 1:
            entry = entry.partition(":")[0]  # host:port entries match the host on any port here
        entry = entry.strip("[]").lstrip(".")
        if host == entry or host.endswith("." + entry):
            return True
    return False


def connect_tunnel(sock, host: str, port: int) -> None:
    sock.sendall(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    reply = b""
    while b"\r\n\r\n" not in reply:
        chunk = sock.recv(4096)
        if not chunk:
            raise OSError(0, "proxy closed the tunnel")
        reply += chunk
    if not reply.split(b" ", 2)[1].startswith(b"2"):
        raise OSError(0, "proxy refused the tunnel")
