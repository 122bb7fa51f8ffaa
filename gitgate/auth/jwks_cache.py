"""An OIDC issuer's key set, fetched so that a slow identity provider cannot stall the gate.

pyjwt's ``PyJWKClient`` fetches in the calling request thread, every caller for itself, and
remembers nothing about failures: with a JWKS endpoint that hangs, each token naming that
issuer held a worker thread for the whole timeout, and twenty forged tokens (only the ``iss``
has to be right) made a good clone wait 25 s. Here, per issuer:

- one fetch at a time; at most ``max_waiters`` other requests wait for it (up to the fetch's
  own deadline), the rest are told at once to retry, so one issuer can hold at most
  ``1 + max_waiters`` threads and every other issuer (and the gate's own tokens) goes on;
- a deadline for the whole fetch (connect, headers and a slowly dripped body alike) and a cap
  on the body's size;
- failures are cached with exponential backoff: during it every token of that issuer gets
  :class:`AuthUnavailable` (503, the gate's side) without touching the network;
- keys already fetched keep working while a refresh is in flight or failing (stale keys beat
  refusing everyone during an identity provider outage; a key the provider *removed* is only
  dropped once the provider answers again).
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
import urllib.parse
from collections.abc import Callable

import jwt
from jwt import PyJWK, PyJWKSet

from gitgate.auth.identity import AuthError, AuthUnavailable

log = logging.getLogger(__name__)

MAX_JWKS_BYTES = 1024 * 1024
BACKOFF_MIN_S = 5.0
BACKOFF_MAX_S = 300.0


class JwksCache:
    """Keys of one issuer from ``url``; :meth:`key` is safe to call from many threads."""

    def __init__(
        self,
        name: str,
        url: str,
        *,
        timeout_s: float = 3.0,
        cache_s: float = 300.0,
        refresh_cooldown_s: float = 30.0,
        max_waiters: int = 2,
        clock: Callable[[], float] = time.monotonic,
        fetch: Callable[[str, float], bytes] | None = None,
    ) -> None:
        self.name, self.url = name, url
        self.timeout_s, self.cache_s = timeout_s, cache_s
        self.refresh_cooldown_s, self.max_waiters = refresh_cooldown_s, max_waiters
        self._clock = clock
        self._fetch = fetch or _http_get
        self._cond = threading.Condition()
        self._keys: PyJWKSet | None = None
        self._fetched_at = float("-inf")  # last *attempt*, for the unknown-kid cooldown
        self._loaded_at = float("-inf")  # last success, for the cache lifetime
        self._failures = 0
        self._retry_at = float("-inf")
        self._fetching = False
        self._waiters = 0

    def key(self, kid: str) -> PyJWK:
        """The signing key ``kid``. Raises AuthError (unknown kid) or AuthUnavailable."""
        with self._cond:
            while True:
                now = self._clock()
                known = _match(self._keys, kid)
                fresh = now - self._loaded_at < self.cache_s
                if known is not None and (fresh or self._fetching or now < self._retry_at):
                    return known  # fresh, or stale while a refresh is running or failing
                if fresh and now - self._fetched_at < self.refresh_cooldown_s:
                    raise AuthError("unknown signing key (kid)")
                if now < self._retry_at:
                    raise self._unavailable(self._retry_at - now)
                if not self._fetching:
                    self._fetching = True
                    break
                if self._waiters >= self.max_waiters:
                    raise AuthUnavailable(
                        f"signing keys of issuer {self.name} are being fetched", retry_after_s=2
                    )
                self._waiters += 1
                try:
                    self._cond.wait(self.timeout_s + 1)
                finally:
                    self._waiters -= 1
                if self._fetching:  # the fetch outlived its own deadline: do not wait again
                    raise self._unavailable(self.timeout_s)
        return self._refresh(kid)

    def _refresh(self, kid: str) -> PyJWK:
        keys: PyJWKSet | None = None
        problem = ""
        try:
            keys = _parse(self._fetch(self.url, self.timeout_s))
        except _Unusable as ex:
            problem = str(ex)
        except Exception as ex:  # any transport failure is the provider's, not the agent's
            problem = f"fetch failed ({type(ex).__name__})"
        with self._cond:
            now = self._clock()
            self._fetching = False
            self._fetched_at = now
            if keys is not None:
                self._keys, self._loaded_at, self._failures = keys, now, 0
                self._retry_at = float("-inf")
            else:
                self._failures += 1
                backoff = min(BACKOFF_MAX_S, BACKOFF_MIN_S * 2 ** (self._failures - 1))
                self._retry_at = now + backoff
                log.warning("issuer %s: JWKS %s; next try in %.0f s", self.name, problem, backoff)
            self._cond.notify_all()
            if keys is None:
                stale = _match(self._keys, kid)
                if stale is not None:
                    return stale
                raise self._unavailable(self._retry_at - now, problem)
        found = _match(keys, kid)
        if found is None:
            raise AuthError("unknown signing key (kid)")
        return found

    def _unavailable(self, retry_s: float, problem: str = "") -> AuthUnavailable:
        what = (
            f"no usable signing keys for issuer {self.name}"
            if problem.startswith("unusable")
            else f"cannot fetch signing keys of issuer {self.name}"
        )
        return AuthUnavailable(
            f"{what} (its identity provider is not answering properly)",
            retry_after_s=int(retry_s + 0.999),
        )


class _Unusable(Exception):
    """The provider answered, but not with a key set the gate can use."""


def _http_get(url: str, timeout_s: float) -> bytes:
    """GET ``url`` within ``timeout_s`` in all (a drip-fed body cannot extend it), at most
    MAX_JWKS_BYTES. Redirects are not followed: a JWKS URL names the key set itself."""
    deadline = time.monotonic() + timeout_s
    parts = urllib.parse.urlsplit(url)
    conn_cls = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    conn = conn_cls(parts.hostname or "", parts.port, timeout=timeout_s)
    try:
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn.request("GET", path, headers={"User-Agent": "gitgate", "Accept": "application/json"})
        sock = conn.sock  # getresponse() may hand the socket over to the response
        resp = conn.getresponse()
        if resp.status != 200:
            raise ConnectionError(f"HTTP {resp.status}")
        chunks: list[bytes] = []
        size = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or sock is None:
                raise TimeoutError("deadline passed")
            sock.settimeout(remaining)
            chunk = resp.read1(65536)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > MAX_JWKS_BYTES:
                raise _Unusable(f"unusable: larger than {MAX_JWKS_BYTES} bytes")
            chunks.append(chunk)
    finally:
        conn.close()


def _parse(body: bytes) -> PyJWKSet:
    try:
        data = json.loads(body)
        keys = PyJWKSet.from_dict(data)
    except (ValueError, TypeError, AttributeError, jwt.PyJWTError) as ex:
        raise _Unusable(f"unusable: not a key set ({type(ex).__name__})") from None
    return keys


def _match(keys: PyJWKSet | None, kid: str) -> PyJWK | None:
    if keys is None:
        return None
    for key in keys.keys:
        if key.key_id == kid and key.public_key_use in ("sig", None):
            return key
    return None
