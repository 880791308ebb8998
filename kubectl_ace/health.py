"""Health probes of Rancher, each cluster's proxy path and its ACE endpoints, and their cached results.

The cache is a small JSON file per Rancher server in the store directory; the exec hot path reads it
(stdlib only) and probes only when the entry it needs has gone stale.
"""

import os
import time

from kubectl_ace import jsonlite
from kubectl_ace.files import write_atomic
from kubectl_ace.store import Store
from kubectl_ace.urls import proxy_url

CONNECT_TIMEOUT = 1.0
READ_TIMEOUT = 2.0
HEALTHY_TTL = 10.0  # trust a healthy result this long: longer, and the first calls after an outage hang
UNHEALTHY_TTL = 3.0  # probe a failed target again this soon


class Settings:
    """Probe timeouts and cache lifetimes, from flags or the environment."""

    def __init__(
        self,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        healthy_ttl: float | None = None,
        unhealthy_ttl: float | None = None,
    ) -> None:
        env = os.environ
        self.connect_timeout = connect_timeout or env_seconds(env.get("KUBECTL_ACE_CONNECT_TIMEOUT"), CONNECT_TIMEOUT)
        self.read_timeout = read_timeout or env_seconds(env.get("KUBECTL_ACE_PROBE_TIMEOUT"), READ_TIMEOUT)
        self.healthy_ttl = (
            healthy_ttl if healthy_ttl is not None else env_seconds(env.get("KUBECTL_ACE_HEALTH_TTL"), HEALTHY_TTL)
        )
        self.unhealthy_ttl = unhealthy_ttl if unhealthy_ttl is not None else min(UNHEALTHY_TTL, self.healthy_ttl)

    @property
    def budget(self) -> float:
        """The most one round of probes may take."""
        return self.connect_timeout + self.read_timeout + 0.25


class Target:
    """Something to probe: a URL path on an endpoint, with the token and CA to use."""

    def __init__(
        self,
        key: str,
        url: str,
        path: str,
        token: str | None = None,
        ca_pem: str = "",
        insecure: bool = False,
        expect: str = "kubernetes",
    ) -> None:
        self.key = key
        self.expect = expect  # "kubernetes": a JSON object from the Kubernetes API; "pong": Rancher's /ping
        self.url = url.rstrip("/")
        self.path = path
        self.token = token
        self.ca_pem = ca_pem
        self.insecure = insecure


class Result:
    """What a probe found. `reachable` means the server answered (a 401 is an auth problem, not an outage)."""

    def __init__(
        self,
        key: str,
        reachable: bool,
        status: int | None = None,
        latency_ms: float | None = None,
        error: str = "",
        checked: float | None = None,
        reprobe_at: float | None = None,
    ) -> None:
        self.key = key
        self.reachable = reachable
        self.status = status
        self.latency_ms = latency_ms
        self.error = error
        self.checked = time.time() if checked is None else checked
        self.reprobe_at = reprobe_at  # when a background re-probe of this target started (not saved by to_dict)

    @property
    def auth_problem(self) -> bool:
        return self.status in (401, 403)

    @property
    def healthy(self) -> bool:
        return self.reachable and self.status is not None and self.status < 400

    def describe(self) -> str:
        if self.status is not None:
            return f"HTTP {self.status}" + (f" ({self.error})" if self.error else "")
        return self.error or "no answer"

    def to_dict(self) -> dict:
        return {
            "reachable": self.reachable,
            "status": self.status,
            "latency_ms": self.latency_ms,
            "error": self.error,
            "checked": self.checked,
        }

    @classmethod
    def from_dict(cls, key: str, data: dict) -> "Result":
        return cls(
            key,
            bool(data.get("reachable")),
            data.get("status"),
            data.get("latency_ms"),
            data.get("error", ""),
            data.get("checked", 0.0),
            data.get("reprobe_at"),
        )


def rancher_target(server: str, ca_pem: str = "", insecure: bool = False) -> Target:
    return Target("rancher", server, "/ping", None, ca_pem, insecure, expect="pong")


def proxy_key(cluster_id: str | None) -> str:
    return f"proxy:{cluster_id}"


def proxy_target(server: str, cluster_id: str, token: str, ca_pem: str = "", insecure: bool = False) -> Target:
    return Target(proxy_key(cluster_id), proxy_url(server, cluster_id), "/version", token, ca_pem, insecure)


def ace_key(cluster_id: str, url: str) -> str:
    return f"ace:{cluster_id}:{url.rstrip('/')}"


def ace_target(cluster_id: str, url: str, token: str, ca_pem: str = "", insecure: bool = False) -> Target:
    return Target(ace_key(cluster_id, url), url, "/version", token, ca_pem, insecure)


def probe(target: Target, settings: Settings, deadline: float | None = None) -> Result:
    """One HTTPS GET with separate connect and read timeouts, ending by `deadline` (monotonic); never raises."""
    import http.client
    import socket
    import ssl
    from urllib.parse import urlsplit

    parts = urlsplit(target.url + target.path)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    started = time.monotonic()
    end = started + settings.budget if deadline is None else deadline

    def within(timeout: float) -> float:
        # Each step waits at most its own timeout and never past the end: a probe ends within its budget.
        left = end - time.monotonic()
        if left <= 0:
            raise TimeoutError
        return min(timeout, left)

    try:
        from kubectl_ace import netproxy

        tunnel = netproxy.proxy_for(parts.scheme, host)
        connect_host, connect_port = tunnel if tunnel else (host, port)
        sock = socket.create_connection((connect_host, connect_port), timeout=within(settings.connect_timeout))
        try:
            sock.settimeout(within(settings.read_timeout))
            if tunnel:
                netproxy.connect_tunnel(sock, host, port)
            if parts.scheme == "https":
                sock = _tls_context(target).wrap_socket(sock, server_hostname=host)
                sock.settimeout(within(settings.read_timeout))
            conn = http.client.HTTPConnection(host, port, timeout=within(settings.read_timeout))
            conn.sock = sock
            headers = {"Accept": "application/json", "User-Agent": "kubectl-ace-probe"}
            if target.token:
                headers["Authorization"] = "Bearer " + target.token
            conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""), headers=headers)
            answer = conn.getresponse()
            body = answer.read(512)
            status = answer.status
            content_type = (answer.getheader("Content-Type") or "").split(";")[0].strip().lower()
        finally:
            sock.close()
    except ssl.SSLCertVerificationError as err:
        return Result(target.key, False, None, _ms(started), f"TLS verification failed: {err.verify_message}")
    except TimeoutError:
        return Result(target.key, False, None, _ms(started), "timed out")
    except ConnectionRefusedError:
        return Result(target.key, False, None, _ms(started), "connection refused")
    except OSError as err:
        return Result(target.key, False, None, _ms(started), (err.strerror or type(err).__name__).lower())
    except http.client.HTTPException as err:
        return Result(target.key, False, None, _ms(started), f"bad HTTP answer ({type(err).__name__})")
    latency = _ms(started)
    if status >= 500:
        text = body.decode("utf-8", "replace").strip().splitlines()[0][:120] if body.strip() else ""
        return Result(target.key, False, status, latency, text)
    foreign = not_the_api(target, content_type, body)
    if foreign:
        # A portal, proxy or login page answering in the API's place: kubectl cannot use it.
        return Result(target.key, False, status, latency, foreign)
    return Result(target.key, True, status, latency, "token refused" if status == 401 else "")


def not_the_api(target: Target, content_type: str, body: bytes) -> str:
    """Why an answer below 500 is not the one the target's API gives ("" when it is)."""
    if target.expect == "pong":
        if body.strip() == b"pong" or content_type == "application/json":
            return ""
    elif "json" in content_type and body.lstrip().startswith(b"{"):
        return ""  # a Status, the version object or the object asked for: all JSON objects
    what = (
        "an HTML page" if "html" in content_type or body.lstrip()[:1] == b"<" else (content_type or "no content type")
    )
    return f"answered with {what}, not the {'Rancher' if target.expect == 'pong' else 'Kubernetes'} API"


def probe_all(targets: list[Target], settings: Settings) -> dict[str, Result]:
    """Probe in parallel, all within one budget; whatever has not answered by then counts as timed out."""
    import threading

    results: dict[str, Result] = {}
    lock = threading.Lock()
    deadline = time.monotonic() + settings.budget

    def run(target: Target) -> None:
        result = probe(target, settings, deadline)
        with lock:
            results[target.key] = result

    for target in targets:
        if target.url.startswith("https:"):
            try:
                _tls_context(target)  # made here, once per trust, not by each thread at once
            except (ValueError, OSError):
                pass  # a bad CA: the probe itself reports it
    threads = [threading.Thread(target=run, args=(t,), daemon=True) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        # Every probe ends by the deadline; the grace lets each leave OpenSSL before the command may exit.
        thread.join(max(0.0, deadline - time.monotonic()) + 0.5)
    with lock:
        for target in targets:
            if target.key not in results:
                results[target.key] = Result(target.key, False, None, settings.budget * 1000, "timed out")
        return dict(results)


# --- the cached state (read on the hot path) ---


def fresh_results(
    store: Store, server: str, keys: list[str], settings: Settings, now: float | None = None
) -> dict[str, Result]:
    """The cached results for `keys` that are still fresh enough to trust (one read of the state file)."""
    try:
        with open(store.health_file(server), encoding="utf-8") as handle:
            state = jsonlite.loads(handle.read())
    except (OSError, ValueError):
        return {}
    if not isinstance(state, dict):
        return {}
    now = time.time() if now is None else now
    fresh = {}
    for key in keys:
        if isinstance(state.get(key), dict):
            result = Result.from_dict(key, state[key])
            ttl = settings.healthy_ttl if result.reachable else settings.unhealthy_ttl
            if 0 <= now - result.checked < ttl:
                fresh[key] = result
    return fresh


def cached(store: Store, server: str, key: str, settings: Settings, now: float | None = None) -> Result | None:
    """A cached result that is still fresh enough to trust, else None."""
    return fresh_results(store, server, [key], settings, now).get(key)


def remember(store: Store, server: str, results: dict[str, Result]) -> None:
    """Merge results into the server's state file (last writer wins: it is only a cache)."""
    import json

    path = store.health_file(server)
    store.ensure("health")
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        if not isinstance(data, dict):
            data = {}
    except (OSError, ValueError):
        data = {}
    for key, result in results.items():
        data[key] = result.to_dict()
    write_atomic(path, json.dumps(data, sort_keys=True).encode())


def mark_reprobe(store: Store, server: str, keys: list[str], when: float) -> None:
    """Note on cached results that a background re-probe started (the hot path then spawns no second one)."""
    import json

    path = store.health_file(server)
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return
    if isinstance(data, dict):
        for key in keys:
            if isinstance(data.get(key), dict):
                data[key]["reprobe_at"] = when
        write_atomic(path, json.dumps(data, sort_keys=True).encode(), durable=False)


def reprobe_due(result: Result, settings: Settings, now: float) -> bool:
    """A trusted healthy result past half its TTL, with no re-probe started since: time for a background one."""
    if not result.reachable or now - result.checked < settings.healthy_ttl / 2:
        return False
    return result.reprobe_at is None or not 0 <= now - result.reprobe_at < settings.healthy_ttl / 2


def reprobe_overdue(result: Result, settings: Settings, now: float) -> bool:
    """A background re-probe started and has not answered within the connect timeout: the target may hang."""
    return result.reprobe_at is not None and settings.connect_timeout < now - result.reprobe_at < settings.budget * 3


def refresh(store: Store, server: str, targets: list[Target], settings: Settings) -> dict[str, Result]:
    """Probe in parallel and remember the results."""
    results = probe_all(targets, settings)
    remember(store, server, results)
    return results


def check(store: Store, server: str, targets: list[Target], settings: Settings) -> dict[str, Result]:
    """Cached results where fresh, probes (in parallel) for the rest; new results are remembered."""
    results = fresh_results(store, server, [t.key for t in targets], settings)
    stale = [target for target in targets if target.key not in results]
    if stale:
        results.update(refresh(store, server, stale, settings))
    return results


_contexts: dict[tuple[str, bool], object] = {}  # one TLS context per trust: a fleet's probes share a few


def _tls_context(target: Target):
    """The TLS context for the target's trust, made once (probe_all makes them before its threads start)."""
    import ssl

    key = ("" if target.insecure else target.ca_pem, target.insecure)
    context = _contexts.get(key)
    if context is None:
        made = ssl.create_default_context(cadata=key[0]) if key[0] else ssl.create_default_context()
        if target.insecure:
            made.check_hostname = False
            made.verify_mode = ssl.CERT_NONE
        _contexts[key] = context = made
    return context


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)


def env_seconds(value: str | None, default: float) -> float:
    """A number of seconds from an environment variable's text, or the default when unset or not a number."""
    try:
        return float(value) if value else default
    except ValueError:
        return default
