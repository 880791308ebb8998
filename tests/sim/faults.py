"""Bad answers on chosen Rancher endpoints: a body cut mid-way, garbage, empty, huge, wrong-type JSON, an HTML page;
and "hold": the answer waits (as from a Rancher slow on that path) until the fault is removed; with reach_rancher
Rancher has handled the request (a token is made) and the answer is sent then, without it the request is dropped
unhandled."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional

from .listener import Response
from .responses import PORTAL_PAGE

FAULT_KINDS = ("cut", "garbage", "empty", "huge", "wrong-type", "html", "hold")
GARBAGE = b"\x00\x89PNG\r\n\x1a\n{{{ not json at all"
HUGE_BYTES = 16 * 1024 * 1024


@dataclass
class Fault:
    """One fault: which requests it hits and what it answers; times=None hits every matching request."""

    kind: str
    path: str                    # a path prefix, e.g. "/v3/tokens" or "/v1-public/login"
    method: str = ""             # "" for every method
    times: Optional[int] = None  # how many more requests it hits
    reach_rancher: bool = True   # True: Rancher handles the request (tokens get minted), then the answer is spoiled
    body: Optional[bytes] = None  # wrong-type: the JSON to send instead (default a list)
    held: int = 0                # hold: how many requests it has held so far

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {FAULT_KINDS}")

    def matches(self, method: str, path: str) -> bool:
        """True when this fault applies to the request and has hits left."""
        return ((self.times is None or self.times > 0) and (not self.method or self.method == method)
                and path.startswith(self.path))

    def spoil(self, real: Optional[Response]) -> Response:
        """The answer sent instead of (or made from) Rancher's real one."""
        if self.times is not None:
            self.times -= 1
        if self.kind == "cut":
            body = real.body if real is not None and len(real.body) >= 2 else json.dumps({"pad": "x" * 196}).encode()
            status = real.status if real is not None else 200
            ctype = real.content_type if real is not None else "application/json"
            # Content-Length promises the whole body; half of it is sent and the connection closed.
            return Response(status, body[:len(body) // 2], ctype, list(real.headers) if real else [],
                            declared_length=len(body))
        if self.kind == "garbage":
            return Response(200, GARBAGE, "application/json")
        if self.kind == "empty":
            return Response(200, b"", "application/json")
        if self.kind == "huge":
            return Response(200, b'{"data":"' + b"x" * HUGE_BYTES + b'"}', "application/json")
        if self.kind == "wrong-type":
            return Response(200, self.body if self.body is not None else b'["not","an","object"]', "application/json")
        return Response(200, PORTAL_PAGE, "text/html; charset=utf-8")
