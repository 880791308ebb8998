"""Which cluster kubectl uses, for exec calls without provideClusterInfo, without parsing YAML on every edit.

Per kubeconfig file, an index in the store's state folder holds each context's cluster name and each cluster's
exec cluster info, built by one parse. It stays valid while the file differs from the parsed text at most in
the value of its current-context line (what kubectx and `kubectl config use-context` change), which a CRC of
the text around that value shows without a parse. Index lines: a JSON header, then `C<name>\\t<cluster>` and
`K<name>\\t<info>` with JSON-quoted names, found with str.find (no `re`, no json package on this path).
"""

from __future__ import annotations

import zlib

from kubectl_ace import jsonlite, kubeconfig_text
from kubectl_ace.store import Store

VERSION = 1


class FileIndex:
    """One file's index text and the current-context the file has now."""

    __slots__ = ("text", "current")

    def __init__(self, text: str, current: str) -> None:
        self.text = text
        self.current = current

    def lookup(self, kind: str, name: str):
        """The JSON value of a `C` (context -> cluster name) or `K` (cluster -> info) line, or None."""
        key = "\n" + kind + jsonlite.quote(name) + "\t"
        at = self.text.find(key)
        if at < 0:
            return None
        end = self.text.find("\n", at + len(key))
        return jsonlite.loads(self.text[at + len(key) : end if end >= 0 else len(self.text)])


def cluster_info(store: Store, paths: list[str], context: str) -> dict:
    """The exec cluster info of the context kubectl uses (`context`, else the merged current-context); {} if none."""
    indexes = [index for index in (file_index(store, path) for path in paths) if index is not None]
    context = context or next((index.current for index in indexes if index.current), "")
    if not context:
        return {}
    cluster = next((c for c in (index.lookup("C", context) for index in indexes) if c is not None), None)
    if not isinstance(cluster, str):
        return {}
    info = next((i for i in (index.lookup("K", cluster) for index in indexes) if i is not None), None)
    return info if isinstance(info, dict) else {}


def digest(raw: bytes, start: int, end: int) -> str:
    """A fingerprint of the file's bytes around the current-context value at [start, end)."""
    view = memoryview(raw)
    crc = zlib.crc32(view[end:], zlib.crc32(view[:start]))
    adler = zlib.adler32(view[end:], zlib.adler32(view[:start]))
    return f"{len(raw) - (end - start)}:{start}:{crc:08x}{adler:08x}"


def file_index(store: Store, path: str) -> FileIndex | None:
    """The file's index, rebuilt when the file changed beyond its current-context value; None for a missing or
    unreadable file (kubectl would skip or reject it; the guard then has nothing to go on)."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    span = kubeconfig_text.value_span(text)
    index_path = store.state_file(f"kubeconfig-index/{zlib.crc32(path.encode()):08x}.idx")
    if span is not None:
        value = kubeconfig_text.decode(text[span[0] : span[1]])
        start, end = byte_span(text, span)
        try:
            with open(index_path, encoding="utf-8") as handle:
                index = handle.read()
            header = jsonlite.loads(index[: index.index("\n")])
            if value is not None and header == {"v": VERSION, "path": path, "digest": digest(raw, start, end)}:
                return FileIndex(index, value)
        except (OSError, ValueError):
            pass
    return build(store, path, text, raw, index_path)


def byte_span(text: str, span: tuple[int, int]) -> tuple[int, int]:
    """A str span as byte offsets in the file's UTF-8."""
    if text.isascii():
        return span
    start = len(text[: span[0]].encode())
    return start, start + len(text[span[0] : span[1]].encode())


def build(store: Store, path: str, text: str, raw: bytes, index_path: str) -> FileIndex | None:
    """Parse the file once and write its index (only a file whose current-context line is proven gets a digest)."""
    import json

    from kubectl_ace import kubeconfig_files
    from kubectl_ace.errors import AceError
    from kubectl_ace.files import write_atomic

    try:
        data = kubeconfig_files.parse(text, path) or {}
    except AceError:
        return None
    span = kubeconfig_text.proven_span(text, data)
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
    if span is not None:
        header = json.dumps({"v": VERSION, "path": path, "digest": digest(raw, *byte_span(text, span))})
        index = header + "\n".join(lines) + "\n"
        store.ensure("state", "kubeconfig-index")
        write_atomic(index_path, index.encode())
    else:  # no provable line: this index serves this call only
        index = "{}" + "\n".join(lines) + "\n"
    return FileIndex(index, str(data.get("current-context") or ""))


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
