"""What a URL is to kubectl-ace: a Rancher server, a cluster's Rancher proxy, an ACE endpoint (stdlib only).

`classify` is the one place that says what an endpoint is: from kubectl-ace's cluster extension
(`{kubectl-ace: {server, clusterId, endpoint: proxy|fqdn|node}}`) when it is there, else from
Rancher's proxy URL shape `https://<rancher>/k8s/clusters/<id>`. The exec path runs it on every call.
"""

from kubectl_ace.errors import UsageError

PROXY_MARK = "/k8s/clusters/"
KINDS = ("proxy", "fqdn", "node")


def normalize_server(value: str) -> str:
    """`rancher.example.com`, `https://Rancher.example.com:443/` → `https://rancher.example.com`."""
    value = value.strip()
    if "://" not in value:
        value = "https://" + value
    scheme, _, rest = value.partition("://")
    host, _, path = rest.partition("/")
    host = host.lower()
    scheme = scheme.lower()
    if scheme == "https" and host.endswith(":443"):
        host = host[:-4]
    path = path.rstrip("/")
    return f"{scheme}://{host}" + (f"/{path}" if path else "")


def checked_server(value: str | None, flag: str = "--server") -> str:
    """A Rancher URL given by the user, normalized; UsageError saying what is wrong with it."""
    text = (value or "").strip()
    if not text:
        raise UsageError(f"{flag} is empty; give the Rancher URL, e.g. {flag} https://rancher.example.com")
    if "://" in text and text.partition("://")[0].lower() not in ("https", "http"):
        raise UsageError(
            f"{flag} {text!r} is not an https:// URL; give the Rancher URL, e.g. https://rancher.example.com"
        )
    server = normalize_server(text)
    host = server.partition("://")[2].partition("/")[0]
    name, _, port = host.rpartition(":") if host.count(":") == 1 else (host, "", "")
    if not name or any(c.isspace() or c in "\"'<>\\{}|^`?#@" for c in host) or (port and not port.isdigit()):
        raise UsageError(f"{flag} {text!r} is not a Rancher URL; give it as https://rancher.example.com")
    return server


def server_key(server: str) -> str:
    """A file-name-safe key for a normalized server URL."""
    rest = server.partition("://")[2]
    return "".join(c if c.isalnum() or c in ".-" else "_" for c in rest)


def proxy_parts(url: str) -> tuple[str, str] | None:
    """(Rancher server, cluster id) of a Rancher proxy URL `https://host[/prefix]/k8s/clusters/<id>`, else None."""
    url = (url or "").strip().rstrip("/")
    if not url.startswith(("https://", "http://")):
        return None
    base, mark, cluster_id = url.rpartition(PROXY_MARK)
    if not mark or not base.partition("://")[2] or not cluster_id or "/" in cluster_id:
        return None
    return normalize_server(base), cluster_id


def proxy_url(server: str, cluster_id: str) -> str:
    return f"{server}{PROXY_MARK}{cluster_id}"


def classify(url: str, ours) -> tuple[str, str, str] | None:
    """(Rancher server, cluster id, kind) of an endpoint: our extension's data, else a Rancher proxy URL; else None."""
    # A kubeconfig is the user's to edit: an extension of the wrong shape is ignored, not trusted.
    if isinstance(ours, dict) and _text(ours.get("server")) and _text(ours.get("clusterId")):
        kind = ours["endpoint"] if _text(ours.get("endpoint")) in KINDS else "proxy"
        return normalize_server(str(ours["server"])), str(ours["clusterId"]), kind
    parts = proxy_parts(url)
    return (parts[0], parts[1], "proxy") if parts else None


def _text(value) -> str:
    """A string from a kubeconfig, or "" for anything else."""
    return value if isinstance(value, str) else ""
