"""Telling a kubectl process something once: kubectl runs the plugin again for each retry, and would repeat it."""

from __future__ import annotations

import time

from kubectl_ace import kubectl_process
from kubectl_ace.errors import StoreError
from kubectl_ace.files import write_atomic
from kubectl_ace.store import Store

REMEMBERED_FOR = 600.0  # seconds; a kubectl process that lives longer may be told again


def first_time(store: Store, topic: str) -> bool:
    """Whether the kubectl process running this plugin has not yet been told about `topic` (and note that it is)."""
    import json

    path = store.state_file("notices.json")
    me, now = f"{kubectl_process.identity()}|{topic}", time.time()
    try:
        with open(path, encoding="utf-8") as handle:
            seen = {k: v for k, v in json.load(handle).items() if now - v < REMEMBERED_FOR}
    except (OSError, ValueError, AttributeError):
        seen = {}
    if me in seen:
        return False
    seen[me] = now
    try:
        store.ensure("state")
        write_atomic(path, json.dumps(seen).encode(), durable=False)
    except StoreError:
        pass  # then it may be said twice
    return True
