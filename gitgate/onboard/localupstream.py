"""A throwaway upstream for `gitgate try`: bare repos served by `git http-backend` on loopback.

It plays GitHub's part so a newcomer can see the gate relay, refuse and queue without an
account: smart HTTP through git's own CGI, and HTTP Basic with one token, as github.com takes
the gate's credential (`x-access-token:TOKEN`), so the try-out exercises the gate's credential
path too. It is for a local demonstration only: one process, loopback, no TLS.

The CGI bridge (`BackendHandler`, `BackendServer`) is the one implementation: the tests'
upstream (tests/fixtures/upstream.py) subclasses it through the `authorized()` and
`path_info()` hooks, so the demonstration and the tests talk to the same bridge. It streams
both bodies, as GitHub does: a buffering upstream would hide the gate's own streaming.
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import io
import os
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, BinaryIO, Self, cast
from urllib.parse import urlsplit

CHUNK = 64 * 1024


def http_backend() -> str:
    exec_path = subprocess.run(
        ["git", "--exec-path"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return os.path.join(exec_path, "git-http-backend")


class BackendHandler(BaseHTTPRequestHandler):
    """A CGI bridge to `git http-backend`; subclasses decide who may in and where a path goes."""

    server: BackendServer  # type: ignore[assignment]
    protocol_version = "HTTP/1.0"  # the body ends when the connection closes: no buffering
    realm = "upstream"

    def log_message(self, format: str, *args: object) -> None:
        pass  # the gate logs every request already

    def do_GET(self) -> None:
        self._cgi()

    def do_POST(self) -> None:
        self._cgi()

    def authorized(self) -> bool:
        """Whether this request may reach git (called once per request); the base takes all."""
        return True

    def path_info(self, path: str) -> str:
        """The PATH_INFO git sees for the request's path; the base passes it on as is."""
        return path

    def _cgi(self) -> None:
        srv = self.server
        if not self.authorized():
            self.send_response(401)
            self.send_header("WWW-Authenticate", f'Basic realm="{self.realm}"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        parts = urlsplit(self.path)
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        length = int(self.headers.get("Content-Length") or 0)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(srv.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": self.path_info(parts.path),
            "QUERY_STRING": parts.query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "REMOTE_USER": "gate",
            "REMOTE_ADDR": self.client_address[0],
            "GIT_CONFIG_NOSYSTEM": "1",
            "HOME": str(srv.root),
        }
        if not chunked:  # without CONTENT_LENGTH http-backend reads its input to EOF
            env["CONTENT_LENGTH"] = str(length)
        for header in ("Git-Protocol", "Content-Encoding"):
            if value := self.headers.get(header):
                env["HTTP_" + header.upper().replace("-", "_")] = value
        proc = subprocess.Popen(
            [srv.backend], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
        )
        assert proc.stdin is not None and proc.stdout is not None
        stdout = cast(io.BufferedReader, proc.stdout)  # read1: pass on what git wrote, now
        feeder = threading.Thread(
            target=_feed, args=(self.rfile, proc.stdin, chunked, length), daemon=True
        )
        feeder.start()
        try:
            status, headers = _cgi_head(stdout)
            self.send_response(status)
            for key, value in headers:
                self.send_header(key, value)
            self.end_headers()
            while chunk := stdout.read1(CHUNK):
                self.wfile.write(chunk)
        finally:
            feeder.join()
            stdout.close()
            proc.wait()


def _feed(rfile: BinaryIO, stdin: IO[bytes], chunked: bool, length: int) -> None:
    """Copy the request body into the CGI's stdin (de-chunked), then close it."""
    try:
        if not chunked:
            _copy(rfile, stdin, length)
            return
        while size := int(rfile.readline().split(b";")[0].strip() or b"0", 16):
            _copy(rfile, stdin, size)
            rfile.readline()
        while rfile.readline() not in (b"\r\n", b"\n", b""):
            pass  # trailers
    except (BrokenPipeError, ConnectionError, ValueError):
        pass
    finally:
        with contextlib.suppress(OSError):
            stdin.close()


def _copy(src: BinaryIO, dst: IO[bytes], n: int) -> None:
    while n > 0 and (data := src.read(min(n, CHUNK))):
        dst.write(data)
        n -= len(data)


def _cgi_head(out: IO[bytes]) -> tuple[int, list[tuple[str, str]]]:
    status, headers = 200, []
    while (line := out.readline()) not in (b"\r\n", b"\n", b""):
        key, _, value = line.decode("latin-1").partition(":")
        if key.lower() == "status":
            status = int(value.split()[0])
        else:
            headers.append((key.strip(), value.strip()))
    return status, headers


class BackendServer(ThreadingHTTPServer):
    """Bare repos under `root`, served on a loopback port 0 by `handler` in its own thread."""

    daemon_threads = True

    def __init__(
        self, root: Path, handler: type[BackendHandler], poll_interval: float = 0.5
    ) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.root = root
        self.backend = http_backend()
        self.thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": poll_interval}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> Self:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BackendHandler):
    server: LocalUpstream  # type: ignore[assignment]
    realm = "local upstream"

    def authorized(self) -> bool:
        given = self.headers.get("Authorization") or ""
        return hmac.compare_digest(given.encode(), self.server.expected_auth().encode())


class LocalUpstream(BackendServer):
    """`LocalUpstream(root, token).start()`; `url` is where the gate's config points."""

    def __init__(self, root: Path, token: str) -> None:
        super().__init__(root, _Handler)
        self.token = token

    def expected_auth(self) -> str:
        return "Basic " + base64.b64encode(f"x-access-token:{self.token}".encode()).decode()
