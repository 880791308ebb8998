"""HTTPS_PROXY and NO_PROXY are honoured by the Rancher client and by the health probes."""

from __future__ import annotations

import select
import socket
import socketserver
import threading

import pytest


class ConnectProxy(socketserver.ThreadingTCPServer):
    """A minimal HTTP CONNECT proxy on loopback that counts the tunnels it opens."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), TunnelHandler)
        self.tunnels: list[str] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class TunnelHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.request.recv(4096)
            if not chunk:
                return
            head += chunk
        method, target = head.split(b" ", 2)[:2]
        if method != b"CONNECT":
            self.request.sendall(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
            return
        host, _, port = target.decode().rpartition(":")
        with self.server.lock:
            self.server.tunnels.append(target.decode())
        upstream = socket.create_connection((host, int(port)), timeout=10)
        self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        sockets = [self.request, upstream]
        try:
            while True:
                ready, _, _ = select.select(sockets, [], [], 10)
                if not ready:
                    return
                for source in ready:
                    data = source.recv(65536)
                    if not data:
                        return
                    (upstream if source is self.request else self.request).sendall(data)
        finally:
            upstream.close()


@pytest.fixture
def proxy():
    server = ConnectProxy()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_login_and_probes_go_through_the_proxy(sandbox, world, proxy):
    env = {"HTTPS_PROXY": proxy.url, "NO_PROXY": ""}
    result = sandbox.ace("login", "--server", world.rancher_url, "--user", "admin", "--password-stdin",
                         "--cacert", str(world.rancher_ca_file), input="correct-horse-battery\n", env=env)
    assert result.returncode == 0, result.stderr
    assert world.rancher_host in proxy.tunnels
    sandbox.exec_kubeconfig("c-m-prod0001", current="prod")
    before = len(proxy.tunnels)
    status = sandbox.ace("status", "-o", "json", env=env)
    assert status.returncode == 0, status.stderr
    fqdn = world.cluster("c-m-prod0001").endpoint("fqdn").url.removeprefix("https://")
    assert fqdn in proxy.tunnels[before:] and world.rancher_host in proxy.tunnels[before:]


def test_no_proxy_bypasses_it(sandbox, world, proxy):
    host = world.rancher_host.split(":")[0]
    env = {"HTTPS_PROXY": proxy.url, "NO_PROXY": f"{host},127.0.0.0/8"}
    result = sandbox.ace("login", "--server", world.rancher_url, "--user", "admin", "--password-stdin",
                         "--cacert", str(world.rancher_ca_file), input="correct-horse-battery\n", env=env)
    assert result.returncode == 0, result.stderr
    sandbox.exec_kubeconfig("c-m-prod0001", current="prod")
    assert sandbox.ace("status", env=env).returncode == 0
    assert proxy.tunnels == []
