"""Which cluster kubectl uses, for exec calls without provideClusterInfo, without parsing YAML on every edit.

Per kubeconfig file, an index in the store's state folder holds each context's cluster name and each cluster's
exec cluster info, built by one parse. It stays valid while the file differs from the parsed text at most in
the value of its current-context line (what kubectx and `kubectl config use-context` change): the index keeps
the parsed text, and comparing the bytes around that value (memcmp) proves it without a parse or a hash.
Layout: a JSON header line, the parsed file's bytes, then lines `C<name>\\t<cluster>` and `K<name>\\t<info>` with
JSON-quoted names, found with bytes.find: no `re`, no json package, no decoding of the whole file on this path.
"""

from __future__ import annotations

import zlib

from kubectl_ace import jsonlite, kubeconfig_text
from kubectl_ace.store import Store

VERSION = 2


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
    span = kubeconfig_text.value_span_bytes(raw)
    index_path = store.state_file(f"kubeconfig-index/{zlib.crc32(path.encode()):08x}.idx")
    if span is not None:
        try:
            with open(index_path, "rb") as handle:
                index = handle.read()
            newline = index.index(b"\n")
            header = jsonlite.loads(index[:newline].decode())
            if header["v"] == VERSION and header["path"] == path and header["start"] == span[0]:
                source, end = newline + 1, newline + 1 + header["size"]
                # The same bytes before and after the value: the parse behind this index holds but for the value.
                if index.startswith(raw[: span[0]], source) and index.endswith(raw[span[1] :], 0, end):
                    value = kubeconfig_text.decode(raw[span[0] : span[1]].decode("utf-8"))
                    if value is not None and end - source - (header["end"] - header["start"]) == len(raw) - (
                        span[1] - span[0]
                    ):
                        return FileIndex(index, end, value)
        except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError):
            pass
    return build(store, path, raw, index_path)


def build(store: Store, path: str, raw: bytes, index_path: str) -> FileIndex | None:
    """Parse the file once and write its index (kept only for a file whose current-context line is proven)."""
    import json

    from kubectl_ace import kubeconfig_files
    from kubectl_ace.errors import AceError
    from kubectl_ace.files import write_atomic

    try:
        text = raw.decode("utf-8")
        data = kubeconfig_files.parse(text, path) or {}
    except (AceError, UnicodeDecodeError):
        return None
    lines = [""]
    seen: set[tuple[str, str]] = set()
    for key, kind, inner in (("contexts", "C", "context"), ("clusters", "K", "cluster")):
        for item in data.get(key) or []:
            if not isinstance(item, dict) or not isinstance(item.get("name"), str) or (kind, item["name"]) in seen:
                continue  # the first entry of a name wins, as in kubeconfig_files.load
            seen.add((kind, item["name"]))
            body = item.get(inner)
            body = body if isinstance(body, dict) else {}
            value = str(body.get("cluster") or "") if kind == "C" else exec_cluster(body)
            lines.append(kind + json.dumps(item["name"]) + "\t" + json.dumps(value))
    span = kubeconfig_text.proven_span(text, data)
    start, end = byte_span(text, span) if span else (-1, -1)
    header = json.dumps({"v": VERSION, "path": path, "start": start, "end": end, "size": len(raw)}).encode()
    index = header + b"\n" + raw + "\n".join(lines).encode() + b"\n"
    if span is not None:  # else this index serves this call only
        store.ensure("state", "kubeconfig-index")
        write_atomic(index_path, index)
    return FileIndex(index, len(header) + 1 + len(raw), str(data.get("current-context") or ""))


def byte_span(text: str, span: tuple[int, int]) -> tuple[int, int]:
    """A str span as byte offsets in the file's UTF-8."""
    if text.isascii():
        return span
    start = len(text[: span[0]].encode())
    return start, start + len(text[span[0] : span[1]].encode())


def exec_cluster(body: dict) -> dict:
    """A kubeconfig cluster entry as the exec cluster info kubectl would send with provideClusterInfo."""
    from kubectl_ace import kubeconfig_files
    from kubectl_ace.endpoints import extension_of

    cluster: dict = {
        "server": body.get("server", ""),
        "insecure-skip-tls-verify": bool(body.get("insecure-skip-tls-verify")),
    }
    pem = kubeconfig_files.ca_pem(body)
    if pem:
        import base64

        cluster["certificate-authority-data"] = base64.b64encode(pem.encode()).decode()
    ext = extension_of(body)
    if ext:
        cluster["config"] = {"kubectl-ace": ext}
    return cluster
