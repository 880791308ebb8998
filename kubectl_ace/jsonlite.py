"""JSON for the hot path without importing `re`, which the json package pulls in (about 5 ms a start)."""

_WHITESPACE = " \t\n\r"


class _Context:
    """The attributes the C scanner reads from json.JSONDecoder."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    memo: dict = {}

    @staticmethod
    def parse_constant(name: str):
        raise ValueError(f"{name} is not valid JSON")


def loads(text: str):
    """Parse a JSON document; ValueError (json.JSONDecodeError) on bad input, like json.loads."""
    try:
        from _json import make_scanner
    except ImportError:  # not CPython: the pure-Python json is fine there
        import json

        return json.loads(text)
    try:
        value, end = make_scanner(_Context())(text, _skip(text, 0))  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - the C scanner's errors need json.decoder loaded: let json report them
        return _slow_loads(text)
    if _skip(text, end) != len(text):
        return _slow_loads(text)
    return value


def quote(value: str) -> str:
    """A JSON string literal (ASCII-safe)."""
    try:
        from _json import encode_basestring_ascii
    except ImportError:
        import json

        return json.dumps(value)
    return encode_basestring_ascii(value)


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WHITESPACE:
        pos += 1
    return pos


def _slow_loads(text: str):
    import json  # only on the error path

    return json.loads(text, parse_constant=_Context.parse_constant)
