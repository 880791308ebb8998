"""Waiting between polls of a login that completes elsewhere (a browser, a phone)."""

from __future__ import annotations

import time
from collections.abc import Callable


def sleep_until(when: float, tick: Callable[[], None]) -> None:
    """Sleep in short slices (Ctrl-C is handled between them) and tick about once a second."""
    while True:
        tick()
        left = when - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, 1.0))
