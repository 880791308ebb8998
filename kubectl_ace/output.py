"""Printing data the way kubectl users expect: `-o json`, `-o yaml`, or a table for people."""

from __future__ import annotations


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
