"""What the exec path needs of a kubeconfig (no provideClusterInfo), kept per file while only current-context changed.

Per kubeconfig file, an index in the store's state folder holds each context's cluster and user names and each
cluster's exec cluster info (server, CA, kubectl-ace's extension: nothing secret; no user entries), from one YAML
parse. It stays valid while the file differs from what was parsed at most in the value of its current-context line
(what kubectx and `kubectl config use-context` change): the lengths and CRC-32s of the bytes before and after that
value prove it, without a parse. The index is a header line, a names section of lines `C<name>\\t<cluster>` and
`K<name>\\t<offset> <length>` (JSON-quoted names, found with bytes.find: no `re`, no json package), a users section
of lines `U<context>\\t<user>`, then the clusters' info as JSON texts, where the K lines point. The exec path reads
the header, the names (~1/20 of the index: the CAs are most of it) and one cluster's info; the commands that load
a view (kubeconfig_view.py) read it all instead of parsing the file. The file's own bytes are never copied into the
store: a kubeconfig may hold other credentials.
"""

import os
import zlib

from kubectl_ace import jsonlite, kubeconfig_text
from kubectl_ace.store import Store

VERSION = 7


class FileIndex:
    """One file's index: its names section, then its users section and clusters' info (in memory, or where to read
    them), and its current-context."""

    __slots__ = ("names", "tail", "users_len", "path", "tail_at", "stamp", "current", "span")

    def __init__(
        self,
        names: bytes,
        current: str,
        tail: bytes | None = None,
        users_len: int = 0,
        path: str = "",
        tail_at: int = 0,
        stamp: tuple = (),
        span: tuple[int, int] | None = None,
    ):
        self.names = names
        self.current = current
        self.tail = tail  # the users section and the clusters' info texts, or None: read them from `path` at `tail_at`
        self.users_len = users_len
        self.path = path
        self.tail_at = tail_at
        self.stamp = stamp  # the index file the names came from: a rebuild since (a new file) has other offsets
        self.span = span  # where in the file (bytes) the current-context value is, as the stored index proved it

    def line(self, kind: str, name: str) -> str | None:
        """The rest of a names line: a `C` line's JSON cluster name, a `K` line's `<offset> <length>`; or None."""
        key = ("\n" + kind + jsonlite.quote(name) + "\t").encode()
        at = self.names.find(key)
        if at < 0:
            return None
        end = self.names.find(b"\n", at + len(key))
        return self.names[at + len(key) : end if end >= 0 else len(self.names)].decode()

    def cluster_of(self, context: str) -> str | None:
        """The cluster name of a context (JSON text), or None when this file does not have the context."""
        return self.line("C", context)

    def info(self, cluster: str) -> str | None:
        """The exec cluster info of a cluster (JSON text), or None when this file does not have the cluster."""
        where = self.line("K", cluster)
        if where is None:
            return None
        offset, length = (int(part) for part in where.split(" "))
        found = self._read(self.users_len + offset, length)
        return found.decode() if found is not None and len(found) == length else None

    def entries(self) -> tuple[dict[str, tuple[str, str]], dict[str, dict]] | None:
        """({context: (cluster, user)}, {cluster: exec cluster info}): all a read-only command needs of the file; None
        when the index file was replaced since these names were read (their offsets are another file's)."""
        import json

        tail = self._read(0, -1)
        if tail is None:
            return None
        infos = memoryview(tail)[self.users_len :]
        contexts: dict[str, list[str]] = {}
        clusters: dict[str, dict] = {}
        for line in (self.names + tail[: self.users_len]).decode().split("\n"):
            if not line:
                continue
            name, rest = line[1:].split("\t", 1)
            if line[0] == "K":
                offset, length = (int(part) for part in rest.split(" "))
                clusters[json.loads(name)] = json.loads(bytes(infos[offset : offset + length]))
            else:
                pair = contexts.setdefault(json.loads(name), ["", ""])
                pair[line[0] == "U"] = json.loads(rest)
        return {name: (pair[0], pair[1]) for name, pair in contexts.items()}, clusters

    def _read(self, offset: int, length: int) -> bytes | None:
        """`length` bytes (-1: all) of the tail from `offset`; None when the index file was replaced or is gone."""
        if self.tail is not None:
            return self.tail[offset : None if length < 0 else offset + length]
        try:
            with open(self.path, "rb") as handle:
                if _stamp(handle) != self.stamp:
                    return None
                handle.seek(self.tail_at + offset)
                return handle.read(length)
        except OSError:
            return None


def cluster_info(store: Store, paths: list[str], context: str) -> dict:
    """The exec cluster info of the context kubectl uses (`context`, else the merged current-context); {} if none."""
    return jsonlite.loads(cluster_info_json(store, paths, context))


def cluster_info_json(store: Store, paths: list[str], context: str) -> str:
    """cluster_info as JSON text (what the index holds), so that the caller can store it without the json package."""
    indexes = [index for index in (file_index(store, path) for path in paths) if index is not None]
    context = context or next((index.current for index in indexes if index.current), "")
    if not context:
        return "{}"
    found = next((c for c in (index.cluster_of(context) for index in indexes) if c is not None), None)
    cluster = jsonlite.loads(found) if found is not None else None
    if not isinstance(cluster, str):
        return "{}"
    return next((i for i in (index.info(cluster) for index in indexes) if i is not None), "{}")


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
    is brought up to date on the way, for the exec path (and left alone when it holds for these bytes: rewriting
    ~1 MB of index for a 200-cluster file on every command costs more than checking it)."""
    if cached(store, path, raw) is not None:
        from kubectl_ace.kubeconfig_yaml import parse

        return parse(_text(raw, path), path)
    return build(store, path, raw, strict=True)[1]


def read(store: Store, path: str, raw: bytes) -> tuple[FileIndex, tuple[dict, dict], dict | None]:
    """A file's index, its entries ({context: (cluster, user)}, {cluster: exec cluster info}), and the parse the
    index was rebuilt from when it no longer held (else None: no parse, and index.span says where the value is);
    InputError for a file that is not a kubeconfig."""
    found = cached(store, path, raw)
    listed = found[0].entries() if found is not None else None
    if found is not None and listed is not None:
        return found[0], listed, None
    index, data = build(store, path, raw, strict=True)  # also when the index was replaced after its names were read
    listed = index.entries() if index is not None else None
    if index is None or listed is None:  # neither can be: strict raises, and a new build holds its infos itself
        raise AssertionError("kubeconfig index build gave no entries")
    return index, listed, data


def index_path(store: Store, path: str) -> str:
    return store.state_file(f"kubeconfig-index/{zlib.crc32(path.encode()):08x}.idx")


def cached(store: Store, path: str, raw: bytes, with_data: bool = False):
    """(FileIndex, None) from the stored index when it holds for `raw`, else None."""
    try:
        with open(index_path(store, path), "rb") as handle:
            header = jsonlite.loads(handle.readline().decode())
            if header["v"] != VERSION or header["path"] != path:
                return None
            span = kubeconfig_text.value_span_at(raw, header["start"])
            if span is None:
                return None
            # The same bytes before and after the value: the parse behind this index, which proved this line the one
            # current-context, holds but for the value.
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
            names = handle.read(header["names"])
            if len(names) != header["names"]:
                return None
            tail_at, stamp = handle.tell(), _stamp(handle)
        where = index_path(store, path)
        index = FileIndex(names, value, users_len=header["users"], path=where, tail_at=tail_at, stamp=stamp, span=span)
        return index, None
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None


def build(store: Store, path: str, raw: bytes, strict: bool) -> tuple[FileIndex | None, dict | None]:
    """Parse the file once and write its index (kept only for a file whose current-context line is proven).
    With strict, a file that is not a kubeconfig raises InputError; else it gives (None, None)."""
    import json

    from kubectl_ace.errors import AceError
    from kubectl_ace.files import write_atomic
    from kubectl_ace.kubeconfig_yaml import parse

    try:
        text = _text(raw, path)
        data = parse(text, path)
    except AceError:
        if strict:
            raise
        return None, None
    lines, users, infos, size = [""], [""], [], 0
    seen: set[tuple[str, str]] = set()
    for key, kind, inner in (("contexts", "C", "context"), ("clusters", "K", "cluster")):
        for item in (data or {}).get(key) or []:
            if not isinstance(item, dict) or not isinstance(item.get("name"), str) or (kind, item["name"]) in seen:
                continue  # the first entry of a name wins, as in kubeconfig_files.load
            seen.add((kind, item["name"]))
            body = item.get(inner)
            body = body if isinstance(body, dict) else {}
            if kind == "C":
                lines.append("C" + json.dumps(item["name"]) + "\t" + json.dumps(str(body.get("cluster") or "")))
                users.append("U" + json.dumps(item["name"]) + "\t" + json.dumps(str(body.get("user") or "")))
                continue
            info = json.dumps(exec_cluster(body, path)).encode()
            lines.append(f"K{json.dumps(item['name'])}\t{size} {len(info)}")
            infos.append(info)
            size += len(info)
    names, users_text = "\n".join(lines).encode(), "\n".join(users).encode()
    tail = users_text + b"".join(infos)
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
                "names": len(names),
                "users": len(users_text),
            }
        ).encode()
        try:
            store.ensure("state", "kubeconfig-index")
            write_atomic(index_path(store, path), header + b"\n" + names + tail, durable=False)
        except (OSError, AceError):
            pass  # a cache: the next call parses again
    current = (data or {}).get("current-context")
    return FileIndex(names, str(current or ""), tail=tail, users_len=len(users_text)), data


def _text(raw: bytes, path: str) -> str:
    """The file's text; InputError unless it is UTF-8."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        from kubectl_ace.errors import InputError

        raise InputError(f"kubeconfig {path} is not UTF-8 text") from None


def _stamp(handle) -> tuple:
    """Which index file an open handle reads (the store replaces an index by renaming a new file over it)."""
    info = os.fstat(handle.fileno())
    return info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns


def byte_span(text: str, span: tuple[int, int]) -> tuple[int, int]:
    """A str span as byte offsets in the file's UTF-8."""
    if text.isascii():
        return span
    start = len(text[: span[0]].encode())
    return start, start + len(text[span[0] : span[1]].encode())


def text_span(raw: bytes, span: tuple[int, int]) -> tuple[int, int]:
    """byte_span's inverse: a span of the file's bytes as offsets in its text."""
    if raw.isascii():
        return span
    start = len(raw[: span[0]].decode())
    return start, start + len(raw[span[0] : span[1]].decode())


def exec_cluster(body: dict, source: str = "") -> dict:
    """A kubeconfig cluster entry (of the file `source`) as the exec cluster info kubectl would send with
    provideClusterInfo; a CA file is kept as its path (credential.cluster_ca reads it when a probe needs it), so that
    a renewed CA file is seen although the kubeconfig did not change."""
    from kubectl_ace.credential import EXTENSION_NAME
    from kubectl_ace.kubeconfig_yaml import ca_file

    cluster: dict = {
        "server": body.get("server", ""),
        "insecure-skip-tls-verify": bool(body.get("insecure-skip-tls-verify")),
    }
    if body.get("certificate-authority-data"):
        cluster["certificate-authority-data"] = str(body["certificate-authority-data"])
    elif body.get("certificate-authority"):
        cluster["certificate-authority"] = os.path.abspath(ca_file(body, source))
    for item in body.get("extensions") or []:  # as endpoints.extension_of (which imports kubeconfig_files)
        if isinstance(item, dict) and item.get("name") == EXTENSION_NAME and isinstance(item.get("extension"), dict):
            ext = item["extension"].get("kubectl-ace")
            if isinstance(ext, dict):
                cluster["config"] = {"kubectl-ace": ext}
                break
    return cluster


def cluster_entry(info: dict) -> dict:
    """The cluster entry as far as exec_cluster kept it."""
    from kubectl_ace.credential import EXTENSION_NAME

    kept = ("server", "insecure-skip-tls-verify", "certificate-authority-data", "certificate-authority")
    body = {key: info[key] for key in kept if key in info}
    ext = (info.get("config") or {}).get("kubectl-ace")
    if isinstance(ext, dict):
        body["extensions"] = [{"name": EXTENSION_NAME, "extension": {"kubectl-ace": ext}}]
    return body
