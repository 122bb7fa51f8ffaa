"""HTTP to the upstream git host, with the gate's credential added on every request.

Bodies are streamed in both directions (`http.client` with chunked uploads, responses read in
64 KiB pieces) so a clone's memory stays flat whatever the repository's size. The agent's own
`Authorization` header is never forwarded: upstream only ever sees the gate's credential.
"""

from __future__ import annotations

import http.client
import logging
import ssl
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger("gitgate.upstream")

CHUNK = 64 * 1024
USER_AGENT = "git/2.39 gitgate/0.1"


class Credential(Protocol):
    def authorization(self) -> str | None: ...
    def invalidate(self) -> None: ...
    def describe(self) -> str: ...


class UpstreamError(Exception):
    """Upstream could not be reached or answered with an error; safe to show the client."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


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

    def close(self) -> None:
        self._conn.close()


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
        body: bytes | Iterable[bytes] | None = None,
        content_length: int | None = None,
        retry_on_401: bool = True,
    ) -> UpstreamResponse:
        """Send one request to `{git_url}/{repo}.git/{suffix}`.

        A 401/403 with a replayable body (bytes or none) is retried once after the credential is
        invalidated: GitHub App installation tokens expire and a cached one may be stale.
        """
        path = f"{self.prefix}/{repo}.git/{suffix}"
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
        conn = self._connect()
        try:
            conn.request(method, path, body=body, headers=hdrs, encode_chunked=chunked)
            resp = conn.getresponse()
        except (OSError, http.client.HTTPException) as ex:
            conn.close()
            log.warning("upstream %s unreachable: %s", self.host, type(ex).__name__)
            raise UpstreamError(
                f"upstream {self.host} is unreachable ({type(ex).__name__}); try again later"
            ) from None
        if resp.status in (401, 403) and auth and self.credential:
            conn.close()
            self.credential.invalidate()
            if retry_on_401 and (body is None or isinstance(body, bytes)):
                return self.request(
                    method, repo, suffix, headers=headers, body=body, retry_on_401=False
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
        return UpstreamResponse(resp.status, headers_out, resp, conn)
