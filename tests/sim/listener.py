"""HTTP(S) listeners that can be taken down, brought back on the same port, and stalled."""

from __future__ import annotations

import email.message
import selectors
import socket
import ssl
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional


@dataclass
class Request:
    """One parsed HTTP request."""

    method: str
    target: str
    path: str
    query: dict[str, list[str]]
    headers: email.message.Message
    body: bytes
    client: tuple[str, int]
    host: str  # the Host header, or the listener's host:port

    def param(self, name: str, default: str = "") -> str:
        """First value of a query parameter."""
        return self.query.get(name, [default])[0]


@dataclass
class Response:
    """One HTTP response; a None app result instead closes the connection without answering."""

    status: int
    body: bytes = b""
    content_type: Optional[str] = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    declared_length: Optional[int] = None  # a Content-Length larger than the body: the answer is cut off


App = Callable[[Request], Optional[Response]]
# Called with the accepted raw socket before any TLS handshake; False drops the connection.
AcceptGate = Callable[[socket.socket], bool]

_MAX_BODY = 8 * 1024 * 1024


class _Handler(BaseHTTPRequestHandler):
    """Parses requests, hands them to the listener's app and writes its response."""

    protocol_version = "HTTP/1.1"  # keep-alive, as Go clients expect
    timeout = 120  # idle keep-alive connections are dropped after this
    server: "_Server"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        # Quiet: request lines could carry secrets in query strings, and tests read stderr.
        pass

    def send_response(self, code: int, message: Optional[str] = None) -> None:
        # Go servers send no Server header; keep only Date.
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            raise ValueError("body too large")
        return self.rfile.read(length) if length else b""

    def _dispatch(self) -> None:
        listener = self.server.listener
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return
        parsed = urllib.parse.urlsplit(self.path)
        req = Request(
            method=self.command,
            target=self.path,
            path=urllib.parse.unquote(parsed.path) or "/",
            query=urllib.parse.parse_qs(parsed.query, keep_blank_values=True),
            headers=self.headers,
            body=body,
            client=self.client_address,
            host=self.headers.get("Host") or listener.host_port,
        )
        try:
            resp = listener.app(req)
        except Exception:  # a bug in the simulator must not look like a network fault
            import traceback

            traceback.print_exc()
            resp = Response(500, b"simulator error\n", "text/plain; charset=utf-8")
        if resp is None or listener.closing:
            self.close_connection = True
            return
        try:
            self.send_response(resp.status)
            if resp.content_type:
                self.send_header("Content-Type", resp.content_type)
            for name, value in resp.headers:
                self.send_header(name, value)
            length = len(resp.body) if resp.declared_length is None else resp.declared_length
            self.send_header("Content-Length", str(length))
            self.end_headers()
            if self.command != "HEAD" and resp.body:
                self.wfile.write(resp.body)
            if length > len(resp.body):
                self.wfile.flush()
                self.close_connection = True  # the rest never comes: the client sees a short read
        except OSError:
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer whose connection threads and sockets are tracked so stop() can end them."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, listener: "Listener", address: tuple[str, int]) -> None:
        self.listener = listener
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        t = threading.Thread(target=self.process_request_thread, args=(request, client_address),
                             name=f"{self.listener.name}-conn", daemon=True)
        self.listener._add_thread(t)
        t.start()

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            pass
        finally:
            self.shutdown_request(request)
            self.listener._remove_thread(threading.current_thread())

    def finish_request(self, request: Any, client_address: Any) -> None:
        listener = self.listener
        conn: socket.socket = request
        listener._track(conn)
        try:
            if listener.accept_gate is not None and not listener.accept_gate(conn):
                return
            if listener.closing:
                return
            if listener.ssl_context is not None:
                # The handshake runs here, in the connection thread, so a stalled or slow client
                # never blocks the accept loop.
                conn.settimeout(30)
                listener._untrack(conn)
                conn = listener.ssl_context.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
                listener._track(conn)
                conn.do_handshake()
                conn.settimeout(None)
            self.RequestHandlerClass(conn, client_address, self)  # type: ignore[arg-type]
        except (OSError, ssl.SSLError):
            pass
        finally:
            listener._untrack(conn)
            try:
                conn.close()
            except OSError:
                pass

    def handle_error(self, request: object, client_address: object) -> None:
        pass


class Listener:
    """One loopback TCP listener, optionally TLS, that can go down and come back on the same port."""

    def __init__(self, name: str, host: str, app: App, ssl_context: Optional[ssl.SSLContext] = None,
                 accept_gate: Optional[AcceptGate] = None, port: int = 0) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.app = app
        self.ssl_context = ssl_context
        self.accept_gate = accept_gate
        self.closing = False
        self._lock = threading.Lock()
        self._server: Optional[_Server] = None
        self._loop: Optional[threading.Thread] = None
        self._wake_r: Optional[socket.socket] = None
        self._wake_w: Optional[socket.socket] = None
        self._conns: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()

    @property
    def scheme(self) -> str:
        """https when TLS is on, else http."""
        return "https" if self.ssl_context is not None else "http"

    @property
    def host_port(self) -> str:
        """host:port as a client writes it."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """Base URL of the listener."""
        return f"{self.scheme}://{self.host_port}"

    @property
    def is_up(self) -> bool:
        """True while the listening socket is open."""
        return self._server is not None

    def start(self) -> None:
        """Bind (the same port as before, once one was chosen) and start accepting."""
        with self._lock:
            if self._server is not None:
                return
            self.closing = False
            server = _Server(self, (self.host, self.port))
            self.port = server.server_address[1]
            self._wake_r, self._wake_w = socket.socketpair()
            self._server = server
            self._loop = threading.Thread(target=self._serve, args=(server, self._wake_r),
                                          name=f"{self.name}-accept", daemon=True)
            self._loop.start()

    def _serve(self, server: _Server, wake: socket.socket) -> None:
        # Our own loop instead of serve_forever(): a wake-up socket makes stop() immediate
        # instead of waiting for a poll interval.
        with selectors.DefaultSelector() as sel:
            sel.register(server.socket, selectors.EVENT_READ)
            sel.register(wake, selectors.EVENT_READ)
            while True:
                for key, _ in sel.select():
                    if key.fileobj is wake:
                        return
                    try:
                        conn, client = server.socket.accept()
                    except OSError:  # the client went away between select and accept
                        continue
                    server.process_request(conn, client)

    def stop(self, join_timeout: float = 5.0) -> None:
        """Close the listening socket and every open connection (connection refused until start())."""
        with self._lock:
            server, loop = self._server, self._loop
            if server is None:
                return
            self.closing = True
            self._server = None
            self._loop = None
            assert self._wake_w is not None and self._wake_r is not None
            self._wake_w.send(b"x")
        if loop is not None:
            loop.join(join_timeout)
        server.server_close()
        self._wake_w.close()
        self._wake_r.close()
        self._kill_connections()
        for t in list(self._threads):
            t.join(join_timeout)

    def set_down(self, down: bool) -> None:
        """Take the listener down (refusing connections) or bring it back on the same port."""
        if down:
            self.stop()
        else:
            self.start()

    def _kill_connections(self) -> None:
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _track(self, conn: socket.socket) -> None:
        with self._lock:
            self._conns.add(conn)

    def _untrack(self, conn: socket.socket) -> None:
        with self._lock:
            self._conns.discard(conn)

    def _add_thread(self, t: threading.Thread) -> None:
        with self._lock:
            self._threads.add(t)

    def _remove_thread(self, t: threading.Thread) -> None:
        with self._lock:
            self._threads.discard(t)
