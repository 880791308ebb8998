"""What the exec path needs of a kubeconfig (no provideClusterInfo), kept per file while only current-context changed.

Per kubeconfig file, an index in the store's state folder holds each context's cluster name and each cluster's
exec cluster info (server, CA, kubectl-ace's extension: nothing secret; no user entries), from one YAML parse. It
stays valid while the file differs from what was parsed at most in the value of its current-context line (what
kubectx and `kubectl config use-context` change): the lengths and CRC-32s of the bytes before and after that value
prove it, without a parse. The exec path reads only the header and the lines `C<name>\\t<cluster>` and
`K<name>\\t<info>` (JSON-quoted names, found with bytes.find: no `re`, no json package). The file's own bytes are
never copied into the store: a kubeconfig may hold other credentials.
"""

from __future__ import annotations

import zlib

from kubectl_ace import jsonlite, kubeconfig_text
from kubectl_ace.store import Store

VERSION = 4


class FileIndex:
    """One file's index text and the current-context the file has now."""

    __slots__ = ("text", "body", "current")

    def __init__(self, text: bytes, body: int, current: str) -> None:
        self.text = text
        self.body = body  # where the C and K lines start
        self.current = current

    def lookup(self, kind: str, name: str) -> str | None:
        """The JSON text of a `C` (context -> cluster name) or `K` (cluster -> info) line, or None."""
        key = ("\n" + kind + jsonlite.quote(name) + "\t").encode()
        at = self.text.find(key, self.body)
        if at < 0:
            return None
        end = self.text.find(b"\n", at + len(key))
        return self.text[at + len(key) : end if end >= 0 else len(self.text)].decode()


def cluster_info(store: Store, paths: list[str], context: str) -> dict:
    """The exec cluster info of the context kubectl uses (`context`, else the merged current-context); {} if none."""
    return jsonlite.loads(cluster_info_json(store, paths, context))


def cluster_info_json(store: Store, paths: list[str], context: str) -> str:
    """cluster_info as JSON text (what the index holds), so that the caller can store it without the json package."""
    indexes = [index for index in (file_index(store, path) for path in paths) if index is not None]
    context = context or next((index.current for index in indexes if index.current), "")
    if not context:
        return "{}"
    found = next((c for c in (index.lookup("C", context) for index in indexes) if c is not None), None)
    cluster = jsonlite.loads(found) if found is not None else None
    if not isinstance(cluster, str):
        return "{}"
    return next((i for i in (index.lookup("K", cluster) for index in indexes) if i is not None), "{}")


def file_index(store: Store, path: str) -> FileIndex | None:
    """The file's index, rebuilt when the file changed beyond its current-context value; None for a missing or
    unreadable file (kubectl would skip or reject it; the guard then has nothing to go on)."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError:
        return None
    found = cached(store, path, raw, with_data=False)
    return found[0] if found else build(store, path, raw, strict=False)[0]


def parsed(store: Store, path: str, raw: bytes) -> dict | None:
    """The file's parse (InputError as kubeconfig_yaml.parse raises for a file that is not a kubeconfig); the index
    is brought up to date on the way, for the exec path."""
    return build(store, path, raw, strict=True)[1]


def index_path(store: Store, path: str) -> str:
    return store.state_file(f"kubeconfig-index/{zlib.crc32(path.encode()):08x}.idx")


def cached(store: Store, path: str, raw: bytes, with_data: bool = False):
    """(FileIndex, None) from the stored index when it holds for `raw`, else None."""
    span = kubeconfig_text.value_span_bytes(raw)
    if span is None:
        return None
    try:
        with open(index_path(store, path), "rb") as handle:
            header = jsonlite.loads(handle.readline().decode())
            if header["v"] != VERSION or header["path"] != path or header["start"] != span[0]:
                return None
            # The same bytes before and after the value: the parse behind this index holds but for the value.
            view = memoryview(raw)  # no copy of a megabyte
            if (
                header["tail"] != len(raw) - span[1]
                or header["head_crc"] != zlib.crc32(view[: span[0]])
                or header["tail_crc"] != zlib.crc32(view[span[1] :])
            ):
                return None
            value = kubeconfig_text.decode(raw[span[0] : span[1]].decode("utf-8"))
            if value is None:
                return None
            section = handle.read(header["lines"])
        return FileIndex(section, 0, value), None
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None


def build(store: Store, path: str, raw: bytes, strict: bool) -> tuple[FileIndex | None, dict | None]:
    """Parse the file once and write its index (kept only for a file whose current-context line is proven).
    With strict, a file that is not a kubeconfig raises InputError; else it gives (None, None)."""
    import json

    from kubectl_ace.errors import AceError, InputError
    from kubectl_ace.files import write_atomic
    from kubectl_ace.kubeconfig_yaml import parse

    try:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError(f"kubeconfig {path} is not UTF-8 text") from None
        data = parse(text, path)
    except AceError:
        if strict:
            raise
        return None, None
    lines = [""]
    seen: set[tuple[str, str]] = set()
    for key, kind, inner in (("contexts", "C", "context"), ("clusters", "K", "cluster")):
        for item in (data or {}).get(key) or []:
            if not isinstance(item, dict) or not isinstance(item.get("name"), str) or (kind, item["name"]) in seen:
                continue  # the first entry of a name wins, as in kubeconfig_files.load
            seen.add((kind, item["name"]))
            body = item.get(inner)
            body = body if isinstance(body, dict) else {}
            value = str(body.get("cluster") or "") if kind == "C" else exec_cluster(body)
            lines.append(kind + json.dumps(item["name"]) + "\t" + json.dumps(value))
    section = "\n".join(lines).encode()
    span = kubeconfig_text.proven_span(text, data)
    if span is not None:  # else the index serves this call only
        start, end = byte_span(text, span)
        view = memoryview(raw)
        header = json.dumps(
            {
                "v": VERSION,
                "path": path,
                "start": start,
                "tail": len(raw) - end,
                "head_crc": zlib.crc32(view[:start]),
                "tail_crc": zlib.crc32(view[end:]),
                "lines": len(section),
            }
        ).encode()
        try:
            store.ensure("state", "kubeconfig-index")
            write_atomic(index_path(store, path), header + b"\n" + section, durable=False)
        except (OSError, AceError):
            pass  # a cache: the next call parses again
    current = (data or {}).get("current-context")
    return FileIndex(section, 0, str(current or "")), data


def byte_span(text: str, span: tuple[int, int]) -> tuple[int, int]:
    """A str span as byte offsets in the file's UTF-8."""
    if text.isascii():
        return span
    start = len(text[: span[0]].encode())
    return start, start + len(text[span[0] : span[1]].encode())


def exec_cluster(body: dict) -> dict:
    """A kubeconfig cluster entry as the exec cluster info kubectl would send with provideClusterInfo."""
    from kubectl_ace.credential import EXTENSION_NAME
    from kubectl_ace.kubeconfig_yaml import ca_pem

    cluster: dict = {
        "server": body.get("server", ""),
        "insecure-skip-tls-verify": bool(body.get("insecure-skip-tls-verify")),
    }
    pem = ca_pem(body)
    if pem:
        import base64

        cluster["certificate-authority-data"] = base64.b64encode(pem.encode()).decode()
    for item in body.get("extensions") or []:  # as endpoints.extension_of (which imports kubeconfig_files)
        if isinstance(item, dict) and item.get("name") == EXTENSION_NAME and isinstance(item.get("extension"), dict):
            ext = item["extension"].get("kubectl-ace")
            if isinstance(ext, dict):
                cluster["config"] = {"kubectl-ace": ext}
                break
    return cluster
