"""The current-context line of a kubeconfig's text: found, read and rewritten without parsing the whole file.

Stdlib only and free of `re`: the exec path's kubeconfig index (kubeconfig_index.py) reads it on every edit.
A line edit is proven safe, without a parse after it, when the text was parsed once and found to have exactly
one `current-context` (the top-level key's line), holding a value whose YAML meaning is certain.
"""

from __future__ import annotations

KEY = "current-context"
# Plain scalars YAML 1.1 (PyYAML, and kubectl's yaml.v2) reads as booleans or null, not as strings.
KEYWORDS = frozenset(("true", "false", "yes", "no", "on", "off", "y", "n", "null", "~"))
PLAIN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.@/-")


def value_span(text: str) -> tuple[int, int] | None:
    """Where the value of the one `current-context:` line is, or None unless the key occurs exactly once, at a line
    start (so no other line can be it); the span is stripped of blanks and of a trailing comment."""
    if text.count(KEY) != 1:
        return None
    at = 0 if text.startswith(KEY + ":") else text.find("\n" + KEY + ":") + 1
    if at == 0 and not text.startswith(KEY + ":"):
        return None
    end = text.find("\n", at)
    return _in_line(text[at : len(text) if end < 0 else end], at)


def value_span_at(raw: bytes, start: int) -> tuple[int, int] | None:
    """value_span of a file's bytes (byte offsets) for a value known to start at `start`, reading only its line: None
    unless a `current-context:` line's value starts there. That no other line is the key is the caller's to prove
    (the index does with CRCs of the bytes around the value): no scan of a file that may be 5 MB."""
    at = raw.rfind(b"\n", 0, start) + 1
    if raw[at : at + len(KEY) + 1] != KEY.encode() + b":":
        return None
    end = raw.find(b"\n", start)
    span = _in_line(raw[at : len(raw) if end < 0 else end].decode("latin-1"), at)  # latin-1: offsets stay bytes
    return span if span is not None and span[0] == start else None


def _in_line(line: str, at: int) -> tuple[int, int] | None:
    """The value span of a `current-context:` line that starts at offset `at`."""
    start, end = len(KEY) + 1, len(line)
    while start < end and line[start] in " \t\r":
        start += 1
    while end > start and line[end - 1] in " \t\r":
        end -= 1
    if line[start : start + 1] == "#":  # a comment: the key has no value on this line
        return None
    # A trailing comment stays: the value ends before it (a parse, in proven_span, checks what the value is).
    raw = line[start:end]
    after_quote = raw.rfind(raw[0]) + 1 if raw[:1] in ("'", '"') else 0
    cuts = [cut for cut in (raw.find(" #", after_quote), raw.find("\t#", after_quote)) if cut >= 0]
    if cuts:
        end = start + min(cuts)
        while end > start and line[end - 1] in " \t":
            end -= 1
    return at + start, at + end


def is_plain(value: str) -> bool:
    """Whether YAML reads `value` written unquoted as this very string (a letter first: no number, no date)."""
    return (
        bool(value)
        and value[0].isascii()
        and value[0].isalpha()
        and all(c in PLAIN_CHARS for c in value)
        and value.lower() not in KEYWORDS
    )


def decode(raw: str) -> str | None:
    """The string a raw current-context value means ("" for none), or None when that is not certain without a
    parse (escapes, anchors, tags, comments, numbers, keywords)."""
    if not raw:
        return ""
    if raw[0] == "'":
        inner = raw[1:-1]
        if len(raw) >= 2 and raw[-1] == "'" and "'" not in inner.replace("''", ""):
            return inner.replace("''", "'")
        return None
    if raw[0] == '"':
        inner = raw[1:-1]
        if len(raw) >= 2 and raw[-1] == '"' and '"' not in inner and "\\" not in inner:
            return inner
        return None
    return raw if is_plain(raw) else None


def quote(value: str, old: str) -> str:
    """`value` as a YAML scalar quoted the way the old value was, or plainly when YAML allows it."""
    printable = value.isprintable()
    if old.startswith("'") and printable:
        return "'" + value.replace("'", "''") + "'"
    if not old.startswith('"') and is_plain(value):
        return value
    if printable and '"' not in value and "\\" not in value:
        return '"' + value + '"'
    from kubectl_ace import jsonlite

    return jsonlite.quote(value)  # escapes: valid YAML, but only a parse can prove what it reads as


def parsed_value(data: dict | None) -> str | None:
    """The current-context a parsed file has, as decode() would return it; None when the key is absent or odd."""
    if not isinstance(data, dict) or KEY not in data:
        return None
    value = data[KEY]
    if value is None:
        return ""
    return value if isinstance(value, str) else None


def proven_span(text: str, data: dict | None) -> tuple[int, int] | None:
    """The value span of `text`'s current-context line when the parse `data` of this very text proves that the line
    is the top-level key and holds what YAML read there; else None."""
    span = value_span(text)
    if span is None:
        return None
    expected = parsed_value(data)
    return span if expected is not None and decode(text[span[0] : span[1]]) == expected else None


def replace_value(text: str, span: tuple[int, int], name: str) -> str | None:
    """The text with the value at `span` set to `name`, or None when the new scalar's meaning is not certain."""
    start, end = span
    raw = quote(name, text[start:end])
    if decode(raw) != name:
        return None
    gap = " " if start == end and text[start - 1 : start] == ":" else ""
    return text[:start] + gap + raw + text[end:]
