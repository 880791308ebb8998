"""How to reach a Rancher server: which CA to trust and the client to use, decided once for every caller."""

from __future__ import annotations

from kubectl_ace.errors import UsageError
from kubectl_ace.records import ServerRecord
from kubectl_ace.store import Store

# kubectl waits on the exec path: a cached token is kept if Rancher is slow.
EXEC_TIMEOUTS = (3.0, 10.0)
# Rendering kubeconfigs and logging in may take a busy Rancher longer.
SLOW_TIMEOUTS = (5.0, 30.0)


class Trust:
    """The CA (PEM, or None for the system's) and whether to skip verification, for one Rancher."""

    __slots__ = ("cacert", "insecure")

    def __init__(self, cacert: str | None = None, insecure: bool = False) -> None:
        self.cacert = cacert or None
        self.insecure = insecure


def trust_for(
    record: ServerRecord | None, *, cacert: str | None = None, insecure: bool = False, proxy_ca: str = ""
) -> Trust:
    """An explicit CA (--cacert, --cacerts) wins, else the login's, else the CA the kubeconfig trusts for this
    Rancher's proxy (as the Rancher UI writes it, or as kubectl passed it to the plugin)."""
    return Trust(
        cacert or (record.cacert if record else None) or proxy_ca or None, insecure or bool(record and record.insecure)
    )


def rancher_client(store: Store, server: str, trust: Trust, timeouts: tuple[float, float] = EXEC_TIMEOUTS):
    """A client for `server` with that trust (the CA goes to a file in the store: TLS libraries want a path)."""
    from kubectl_ace.rancher.client import Client

    ca_file = store.ca_file(server, trust.cacert) if trust.cacert else None
    return Client(
        server, ca_file=ca_file, verify=not trust.insecure, connect_timeout=timeouts[0], read_timeout=timeouts[1]
    )


def read_ca(path: str) -> str:
    """A PEM CA file named by the user (--cacert, --cacerts); UsageError when it is missing or holds none."""
    try:
        with open(path, encoding="utf-8") as handle:
            pem = handle.read().replace("\\n", "\n")
    except OSError as err:
        raise UsageError(f"cannot read the CA file {path}: {err.strerror}") from None
    if "-----BEGIN CERTIFICATE-----" not in pem:
        raise UsageError(f"{path} holds no PEM certificate; pass Rancher's CA certificate")
    return pem
