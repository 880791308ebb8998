"""An HTTP session to one Rancher server, mapping every transport and API failure to a typed error."""

from __future__ import annotations

import email.utils
import http.client
import time

import requests
import urllib3

from kubectl_ace.errors import AuthenticationFailed, RancherError, RancherUnreachable

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0
UNAVAILABLE = (502, 503, 504)


class TLSFailed(RancherUnreachable):
    """The server's certificate could not be verified."""


class Response:
    """A decoded Rancher answer."""

    def __init__(self, status: int, body, headers, sent_at: float, received_at: float) -> None:
        self.status = status
        self.body = body
        self.headers = headers
        self.sent_at = sent_at
        self.received_at = received_at

    def server_time_offset(self) -> float:
        """Rancher's clock minus ours, from the Date header (0 when absent); second resolution."""
        date = self.headers.get("Date")
        if not date:
            return 0.0
        try:
            server_now = email.utils.parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            return 0.0
        return server_now - (self.sent_at + self.received_at) / 2


class Client:
    """Requests to one Rancher server with its TLS settings and short timeouts."""

    def __init__(
        self,
        server: str,
        *,
        ca_file: str | None = None,
        verify: bool = True,
        connect_timeout: float = CONNECT_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
    ) -> None:
        self.server = server.rstrip("/")
        self.session = requests.Session()  # trust_env: HTTPS_PROXY/NO_PROXY are honoured
        # Passed on each request: a Session's verify loses to REQUESTS_CA_BUNDLE in the environment.
        self.verify = (ca_file or True) if verify else False
        self.timeout = (connect_timeout, read_timeout)
        if not verify:
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)

    def request(
        self, method: str, path: str, *, token: str | None = None, body=None, expect: tuple = (200,), allow: tuple = ()
    ) -> Response:
        """Send one request; the answer must have a status in `expect` (decoded JSON) or `allow` (returned as is)."""
        url = self.server + path
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = "Bearer " + token
        sent_at = time.time()
        try:
            answer = self.session.request(
                method, url, json=body, headers=headers, timeout=self.timeout, verify=self.verify, allow_redirects=False
            )
        except requests.exceptions.SSLError as err:
            raise TLSFailed(
                f"cannot verify the TLS certificate of {self.server}; pass --cacert FILE with "
                "Rancher's CA (or --insecure-skip-tls-verify to skip the check)",
                _reason(err),
            ) from None
        except requests.exceptions.ConnectTimeout:
            raise RancherUnreachable(
                f"Rancher at {self.server} did not accept a connection within {self.timeout[0]:g} s"
            ) from None
        except requests.exceptions.ReadTimeout:
            raise RancherUnreachable(f"Rancher at {self.server} did not answer within {self.timeout[1]:g} s") from None
        except requests.exceptions.ProxyError as err:
            raise RancherUnreachable(
                f"cannot reach Rancher at {self.server} through the proxy "
                "(HTTPS_PROXY); check the proxy or add the host to NO_PROXY",
                _reason(err),
            ) from None
        except requests.exceptions.ConnectionError as err:
            raise RancherUnreachable(f"cannot reach Rancher at {self.server}: {_reason(err)}") from None
        except (
            requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ContentDecodingError,
            urllib3.exceptions.ProtocolError,
            http.client.IncompleteRead,
        ):
            # Content-Length promised more than came: a proxy or Rancher closed the connection mid-answer.
            raise RancherUnreachable(
                f"Rancher at {self.server} broke off its answer to {method} {path} "
                "(the connection closed before the whole body came); try again"
            ) from None
        except requests.exceptions.RequestException as err:
            raise RancherError(f"request to {self.server} failed: {_reason(err)}") from None
        received_at = time.time()
        status = answer.status_code
        if status in allow:
            return Response(status, _json_or_none(answer), answer.headers, sent_at, received_at)
        if status in expect:
            return Response(status, self._json(answer, method, path), answer.headers, sent_at, received_at)
        message = _api_message(answer)
        if status == 401:
            raise AuthenticationFailed(
                f"Rancher at {self.server} refused the credentials: {message or '401 Unauthorized'}"
            )
        if status in UNAVAILABLE:
            raise RancherUnreachable(
                f"Rancher at {self.server} is unavailable: HTTP {status} {answer.reason or ''}".rstrip()
            )
        if 300 <= status < 400:
            raise RancherError(
                f"{self.server}{path} redirects to {answer.headers.get('Location', '?')}; is --server the Rancher URL?"
            )
        raise RancherError(
            f"Rancher at {self.server} answered {method} {path} with HTTP {status}"
            + (f": {message}" if message else "")
        )

    def _json(self, answer, method: str, path: str):
        if not answer.content:
            return None
        try:
            return answer.json()
        except ValueError:
            kind = answer.headers.get("Content-Type", "unknown content").split(";")[0]
            raise RancherError(
                f"{self.server} answered {method} {path} with {kind}, not JSON; is --server the Rancher URL?"
            ) from None


def _json_or_none(answer):
    try:
        return answer.json() if answer.content else None
    except ValueError:
        return None


def _api_message(answer) -> str:
    """Rancher's own error message (Norman/ReturnAPIError shapes), if the body has one."""
    body = _json_or_none(answer)
    if isinstance(body, dict):
        message = body.get("message") or body.get("code") or ""
        return str(message)[:300]
    text = (answer.text or "").strip()
    if text and "<" not in text[:1] and len(text) < 200:
        return text.splitlines()[0]
    return ""


def _reason(err: Exception) -> str:
    """The innermost useful words of a requests/urllib3 exception (they carry no secrets: no headers)."""
    text = str(err)
    for marker in (
        "Connection refused",
        "Name or service not known",
        "timed out",
        "No route to host",
        "CERTIFICATE_VERIFY_FAILED",
        "Connection reset",
        "RemoteDisconnected",
    ):
        if marker in text:
            return {
                "CERTIFICATE_VERIFY_FAILED": "certificate verify failed",
                "RemoteDisconnected": "connection closed without an answer",
            }.get(marker, marker.lower())
    return text[:200]
