"""HTTP to the upstream git host, with the gate's credential added on every request.

Bodies are streamed in both directions (`http.client` with chunked uploads, responses read in
64 KiB pieces) so a clone's memory stays flat whatever the repository's size. The agent's own
`Authorization` header is never forwarded: upstream only ever sees the gate's credential.
"""

from __future__ import annotations

import http.client
import logging
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger("gitgate.upstream")

CHUNK = 64 * 1024
USER_AGENT = "git/2.39 gitgate/0.1"


# A request body: bytes, a stream (sent once), or a function that makes the stream afresh:
# such a body can be sent again, so its request may use a kept-alive connection (a spooled
# push's relay, read back from its file).
Body = bytes | Iterable[bytes] | Callable[[], Iterable[bytes]]


def _replayable(body: Body | None) -> bool:
    return body is None or isinstance(body, bytes) or callable(body)


def _stream(body: Body | None) -> bytes | Iterable[bytes] | None:
    return body() if callable(body) else body


class Credential(Protocol):
    def authorization(self) -> str | None: ...
    def invalidate(self) -> None: ...
    def describe(self) -> str: ...


class UpstreamError(Exception):
    """Upstream could not be reached or answered with an error; safe to show the client."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        from gitgate.audit.metrics import UPSTREAM_ERRORS

        UPSTREAM_ERRORS.labels("http" if status else "connection").inc()


def credential_failure(status: int, describe: str) -> UpstreamError:
    """The agent must learn it is the *gate's* credential that failed, not theirs."""
    log.error("upstream refused the gate's credential (%s): HTTP %s", describe, status)
    return UpstreamError(
        f"the gate's upstream credential was refused by upstream (HTTP {status}); "
        "this is not your token: ask the gitgate admin to check the upstream credential",
        status,
    )


@dataclass
class UpstreamResponse:
    status: int
    headers: Mapping[str, str]
    _resp: http.client.HTTPResponse
    _conn: http.client.HTTPConnection
    _pool: ConnectionPool | None = None
    _closed: bool = False

    def iter_body(self) -> Iterator[bytes]:
        try:
            while chunk := self._resp.read1(CHUNK):
                yield chunk
        finally:
            self.close()

    def read(self) -> bytes:
        try:
            return self._resp.read()
        finally:
            self.close()

    def read_some(self, n: int) -> bytes:
        """Up to `n` bytes of the body (fewer only at its end); the response stays open.

        For a parser that reads the head of a body (a ref advertisement, a pkt-line answer,
        a bounded JSON document) and then passes the rest on or closes it.
        """
        return self._resp.read(n)

    def close(self) -> None:
        if self._closed:  # idempotent: a connection must never enter the pool twice
            return
        self._closed = True
        # A connection goes back to the pool only when its response was read to the end and
        # the server keeps it open; anything else could leave bytes for the next request.
        resp = self._resp
        # (read1 leaves a fully read Content-Length body "open": length 0 is the tell)
        complete = resp.isclosed() or (resp.length == 0 and not resp.chunked)
        if self._pool is not None and complete and not resp.will_close:
            resp.close()
            self._pool.put(self._conn)
        else:
            self._conn.close()


class ConnectionPool:
    """Idle keep-alive connections to upstream, reused by requests that can be replayed.

    Against github.com every new connection is a TLS handshake; git itself reuses one
    connection for a whole push, so a gate that opens one per request would add latency to
    every clone and push. Only requests whose body can be sent again (none, bytes, or a
    function that reads a spooled body from its start: the relay of a push) use it:
    a reused connection the server has meanwhile closed fails on send, and such a request is
    retried once on a fresh connection.
    """

    def __init__(self, max_idle: int = 8, idle_s: float = 30.0) -> None:
        self.max_idle, self.idle_s = max_idle, idle_s
        self._idle: list[tuple[float, http.client.HTTPConnection]] = []
        self._lock = threading.Lock()

    def get(self) -> http.client.HTTPConnection | None:
        now = time.monotonic()
        with self._lock:
            while self._idle:
                since, conn = self._idle.pop()
                if now - since < self.idle_s:
                    return conn
                conn.close()
        return None

    def put(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < self.max_idle:
                self._idle.append((time.monotonic(), conn))
                return
        conn.close()


class Upstream:
    """One upstream host (e.g. https://github.com) and the credential the gate uses there."""

    def __init__(self, git_url: str, credential: Credential | None, timeout: float = 300) -> None:
        self.base = git_url.rstrip("/")
        parsed = urllib.parse.urlsplit(self.base)
        self.scheme = parsed.scheme
        self.host = parsed.hostname or ""
        self.port = parsed.port
        self.prefix = parsed.path
        self.credential = credential
        self.timeout = timeout
        self.pool = ConnectionPool()

    def repo_url(self, repo: str) -> str:
        return f"{self.base}/{repo}.git"

    def auth_header(self) -> str | None:
        if not self.credential:
            return None
        try:
            return self.credential.authorization()
        except Exception as ex:  # e.g. a GitHub App token exchange that failed
            log.error("the upstream credential (%s) failed: %s", self.credential.describe(), ex)
            raise UpstreamError(
                "the gate's upstream credential could not be obtained; this is not your "
                "token: ask the gitgate admin to check the upstream credential"
            ) from None

    def _connect(self) -> http.client.HTTPConnection:
        if self.scheme == "https":
            ctx = ssl.create_default_context()
            return http.client.HTTPSConnection(
                self.host, self.port, timeout=self.timeout, context=ctx
            )
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def request(
        self,
        method: str,
        repo: str,
        suffix: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: Body | None = None,
        content_length: int | None = None,
        retry_on_401: bool = True,
    ) -> UpstreamResponse:
        """Send one request to `{git_url}/{repo}.git/{suffix}`.

        A 401/403 with a replayable body (see `Body`) is retried once after the credential is
        invalidated: GitHub App installation tokens expire and a cached one may be stale.
        """
        return self.send(
            method,
            f"{self.prefix}/{repo}.git/{suffix}",
            headers=headers,
            body=body,
            content_length=content_length,
            retry_on_401=retry_on_401,
        )

    def send(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: Body | None = None,
        content_length: int | None = None,
        retry_on_401: bool = True,
        credential_statuses: tuple[int, ...] = (401, 403),
    ) -> UpstreamResponse:
        """Send one request to `path` on upstream's host (see `request`); a status in
        `credential_statuses` means upstream refused the gate's credential."""
        hdrs = {"User-Agent": USER_AGENT, **(headers or {})}
        auth = self.auth_header()
        if auth:
            hdrs["Authorization"] = auth
        chunked = False
        if body is not None and not isinstance(body, bytes):
            if content_length is None:
                chunked = True
                hdrs["Transfer-Encoding"] = "chunked"
            else:
                hdrs["Content-Length"] = str(content_length)
        replayable = _replayable(body)

        def attempt(conn: http.client.HTTPConnection) -> http.client.HTTPResponse:
            conn.request(method, path, body=_stream(body), headers=hdrs, encode_chunked=chunked)
            return conn.getresponse()

        conn = (self.pool.get() if replayable else None) or self._connect()
        reused = conn.sock is not None
        try:
            resp = attempt(conn)
        except (OSError, http.client.HTTPException) as ex:
            conn.close()
            if not reused:
                raise self._unreachable(ex) from None
            conn = self._connect()  # the server closed the idle connection meanwhile: afresh
            try:
                resp = attempt(conn)
            except (OSError, http.client.HTTPException) as ex2:
                conn.close()
                raise self._unreachable(ex2) from None
        if resp.status in credential_statuses and auth and self.credential:
            conn.close()
            self.credential.invalidate()
            if retry_on_401 and replayable:
                return self.send(
                    method,
                    path,
                    headers=headers,
                    body=body,
                    content_length=content_length,
                    retry_on_401=False,
                    credential_statuses=credential_statuses,
                )
            raise credential_failure(resp.status, self.credential.describe())
        if resp.status == 401 and not auth:
            conn.close()
            raise UpstreamError(
                "upstream asks for a credential and the gate has none configured "
                "(upstream.token or upstream.app): ask the gitgate admin",
                401,
            )
        headers_out = {k.lower(): v for k, v in resp.getheaders()}
        return UpstreamResponse(
            resp.status, headers_out, resp, conn, self.pool if replayable else None
        )

    def _unreachable(self, ex: BaseException) -> UpstreamError:
        log.warning("upstream %s unreachable: %s", self.host, type(ex).__name__)
        return UpstreamError(
            f"upstream {self.host} is unreachable ({type(ex).__name__}); try again later"
        )
