"""Printing data the way kubectl users expect: `-o json`, `-o yaml`, or a table for people; times one way."""

from __future__ import annotations

import time


def emit(data, output: str, table) -> None:
    """Print `data` as JSON or YAML on stdout, or call `table()` to print it for people."""
    if output == "json":
        import json

        print(json.dumps(data, indent=2))
    elif output == "yaml":
        import yaml

        print(yaml.safe_dump(data, sort_keys=False), end="")
    else:
        table()


def local_time(epoch: float | None) -> str:
    """A time for people, in the local zone (`never` for None)."""
    if epoch is None:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(epoch))


def utc_stamp(epoch: float | None) -> str | None:
    """A time for machines (-o json|yaml): RFC 3339 UTC, or None."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch)) if epoch else None
