"""Which current-context changes the tool made, so that it switches back only its own choices, never a user's."""

import os
import time

from kubectl_ace import jsonlite
from kubectl_ace.files import write_atomic
from kubectl_ace.store import Store


class Switch:
    """One failover switch: in which kubeconfig files, for which cluster, from which context to which."""

    __slots__ = (
        "files",
        "server",
        "cluster",
        "source",
        "target",
        "at",
        "proxy_ca",
        "proxy_insecure",
        "source_url",
        "notice",
    )

    def __init__(
        self,
        files: list[str],
        server: str,
        cluster: str,
        source: str,
        target: str,
        at: float,
        proxy_ca: str = "",
        proxy_insecure: bool = False,
        source_url: str = "",
        notice: str = "",
    ) -> None:
        self.files = files
        self.server = server
        self.cluster = cluster
        self.source = source  # the context kubectl was on
        self.target = target  # the context the tool made current
        self.at = at
        self.proxy_ca = proxy_ca  # to probe the source endpoint without loading the kubeconfig (its CA, any kind)
        self.proxy_insecure = proxy_insecure
        self.source_url = source_url  # an ACE source endpoint's URL; "" when the source was the Rancher proxy
        self.notice = notice  # a switch the watcher made: what the next kubectl call says once ("" when said)

    @classmethod
    def from_dict(cls, data: dict) -> "Switch | None":
        try:
            return cls(
                [str(f) for f in data["files"]],
                str(data["server"]),
                str(data["cluster"]),
                str(data["from"]),
                str(data["to"]),
                float(data.get("at") or 0),
                str(data.get("proxy_ca") or ""),
                bool(data.get("proxy_insecure")),
                str(data.get("from_url") or ""),
                str(data.get("notice") or ""),
            )
        except (KeyError, TypeError, ValueError):
            return None

    def to_dict(self) -> dict:
        return {
            "files": self.files,
            "server": self.server,
            "cluster": self.cluster,
            "from": self.source,
            "to": self.target,
            "at": self.at,
            "proxy_ca": self.proxy_ca,
            "proxy_insecure": self.proxy_insecure,
            "from_url": self.source_url,
            **({"notice": self.notice} if self.notice else {}),
        }


def source_target(switch: Switch, server: str, token: str):
    """The probe of the endpoint the tool switched away from (health.Target): what a switch back waits for."""
    from kubectl_ace import health

    if switch.source_url:
        return health.ace_target(switch.cluster, switch.source_url, token, switch.proxy_ca, switch.proxy_insecure)
    return health.proxy_target(server, switch.cluster, token, switch.proxy_ca, switch.proxy_insecure)


def read(store: Store) -> list[Switch]:
    try:
        with open(store.switches_file(), encoding="utf-8") as handle:
            data = jsonlite.loads(handle.read())
    except (OSError, ValueError):
        return []
    items = data.get("switches", []) if isinstance(data, dict) else []
    return [s for s in (Switch.from_dict(item) for item in items if isinstance(item, dict)) if s is not None]


def mine(store: Store, server: str, cluster_id: str) -> Switch | None:
    """The switch the tool made for this cluster (any cluster of the server when cluster_id is "")."""
    return next((s for s in read(store) if s.server == server and (not cluster_id or s.cluster == cluster_id)), None)


def remember(
    store: Store,
    files: list[str],
    server: str,
    cluster: str,
    source: str,
    target: str,
    proxy_ca: str,
    proxy_insecure: bool,
    source_url: str = "",
    notice: str = "",
) -> None:
    """Note a switch the tool made (replacing an older one for the same files); `notice` is for the next call to say.

    A switch away from a context the tool itself chose keeps the first source: that was the user's or Rancher's.
    """
    files = [os.path.abspath(f) for f in files]
    record = Switch(files, server, cluster, source, target, time.time(), proxy_ca, proxy_insecure, source_url, notice)

    def change(records: list[Switch]) -> list[Switch]:
        earlier = next((r for r in records if r.files == files and r.target == source and r.cluster == cluster), None)
        if earlier is not None:
            if earlier.source == target:  # back on the original context: nothing left to undo
                return [r for r in records if r.files != files]
            record.source, record.source_url = earlier.source, earlier.source_url
            record.proxy_ca, record.proxy_insecure = earlier.proxy_ca, earlier.proxy_insecure
        return [r for r in records if r.files != files] + [record]

    _edit(store, change)


def claim_notice(store: Store, files: list[str]) -> str:
    """The notice of the switch in these files, taken so that only one kubectl call says it ("" when none is left)."""
    files = [os.path.abspath(f) for f in files]
    taken = []

    def change(records: list[Switch]) -> list[Switch]:
        for record in records:
            if record.files == files and record.notice:
                taken.append(record.notice)
                record.notice = ""
        return records

    _edit(store, change)
    return taken[0] if taken else ""


def forget(store: Store, files: list[str]) -> None:
    """Forget the tool's switch for these files: whatever is current there now was chosen by someone."""
    files = [os.path.abspath(f) for f in files]
    _edit(store, lambda records: [r for r in records if r.files != files])


def _edit(store: Store, change) -> None:
    import json

    with store.locked("switches", 10.0, "recording a context switch"):
        records = change(read(store))
        store.ensure()
        write_atomic(store.switches_file(), json.dumps({"switches": [r.to_dict() for r in records]}, indent=1).encode())
