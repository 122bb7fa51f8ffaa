"""Keep-alive reuse of upstream connections (a TLS handshake each time adds up on GitHub)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from gitgate.upstream.http import Upstream


class KeepAlive(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        self.connections = 0
        self.bodies: list[bytes] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with outer.lock:
                    outer.connections += 1

            def do_GET(self) -> None:
                body = b"hello"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                with outer.lock:
                    outer.bodies.append(self.rfile.read(length))
                self.do_GET()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)


@pytest.fixture
def server() -> Iterator[KeepAlive]:
    srv = KeepAlive()
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_replayable_requests_reuse_one_connection(server: KeepAlive) -> None:
    up = Upstream(f"http://127.0.0.1:{server.server_port}", None, timeout=10)
    for _ in range(3):
        resp = up.request("GET", "acme/app", "info/refs?service=git-upload-pack")
        assert b"".join(resp.iter_body()) == b"hello"
        resp.close()  # a second close must not put the connection in the pool twice
    assert server.connections == 1
    assert len(up.pool._idle) == 1
    # a streamed body is never sent on a reused connection
    resp = up.request("POST", "acme/app", "git-upload-pack", body=iter([b"x"]), content_length=1)
    assert resp.read() == b"hello"
    assert server.connections == 2


def test_a_connection_closed_by_the_server_is_replaced(server: KeepAlive) -> None:
    up = Upstream(f"http://127.0.0.1:{server.server_port}", None, timeout=10)
    assert up.request("GET", "acme/app", "info/refs").read() == b"hello"
    ((_, conn),) = up.pool._idle
    assert conn.sock is not None
    conn.sock.close()  # as if upstream dropped the idle connection
    assert up.request("GET", "acme/app", "info/refs").read() == b"hello"
    assert server.connections == 2


def test_a_body_made_afresh_reuses_a_connection_and_is_sent_whole_again(
    server: KeepAlive,
) -> None:
    """A push's relay reads its body back from the spool: a function that makes the stream
    again can go over a kept-alive connection, and is sent from its start after a stale one."""
    up = Upstream(f"http://127.0.0.1:{server.server_port}", None, timeout=10)
    spooled = [b"0032commands\n", b"PACK", b"...objects..."]
    made: list[int] = []

    def body() -> Iterator[bytes]:
        made.append(1)
        return iter(spooled)

    length = sum(map(len, spooled))
    assert up.request("GET", "acme/app", "info/refs").read() == b"hello"
    resp = up.request("POST", "acme/app", "git-receive-pack", body=body, content_length=length)
    assert resp.read() == b"hello"
    assert server.connections == 1  # the advertisement's connection carried the push
    ((_, conn),) = up.pool._idle
    assert conn.sock is not None
    conn.sock.close()  # upstream dropped it while idle
    resp = up.request("POST", "acme/app", "git-receive-pack", body=body, content_length=length)
    assert resp.read() == b"hello"
    assert server.connections == 2
    assert server.bodies == [b"".join(spooled)] * 2  # whole each time, never a half
    assert len(made) == 3  # made afresh for the retry
