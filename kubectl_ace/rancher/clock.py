"""Rancher's times on our clock: token expiry from a TTL or an RFC 3339 time, corrected by the Date header."""

from __future__ import annotations

from kubectl_ace.errors import RancherError
from kubectl_ace.rancher.client import Response


def local_expiry(body: dict, answer: Response) -> float | None:
    """When a token Rancher just made expires, on our clock: from its ttl (ms) when given, else from expiresAt."""
    ttl = body.get("ttl")
    if isinstance(ttl, (int, float)) and ttl > 0:
        return answer.sent_at + ttl / 1000.0
    return server_time_to_local(body.get("expiresAt") or "", answer)


def server_time_to_local(expires_at: str, answer: Response) -> float | None:
    """An RFC 3339 time on Rancher's clock as a local epoch (corrected by the Date header); None if empty."""
    if not expires_at:
        return None
    from datetime import datetime

    try:
        value = datetime.fromisoformat(expires_at.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise RancherError(f"Rancher sent an expiry time that is not RFC 3339: {expires_at[:40]!r}") from None
    return value - answer.server_time_offset() - 1.0  # Date has second resolution: err early
