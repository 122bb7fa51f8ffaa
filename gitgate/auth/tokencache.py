"""Tokens already verified, so that an agent's next request skips the signature check.

An agent sends the same token with every request (a push is two or three; an API session
hundreds), and verifying it again each time (two JWT parses, the signature, the claims) costs
about 0.2 ms of the gate's ~1 ms on an API read (issue #12). What the cache keeps and why it
stays safe:

- Keyed by the SHA-256 of the whole token, never the token: a token that differs in one byte
  (another signature, a tampered claim) is another key and is verified in full.
- An entry is served only while the issuer still holds the key that verified the token
  (`key_in_force`, compared by value: the same kid, material and retirement for a gate key;
  the same object of the fetched key set for an OIDC issuer, which a re-fetch replaces), so
  a key withdrawn or retired is honoured exactly when verification would honour it.
- An entry lives until the token's own `exp` and at most `MAX_AGE_S` (60 s), so the cache
  never accepts a token that verification would refuse for its age.
- Revocation is not cached: the caller checks it on every request, hit or miss.
- Bounded (`capacity` entries, least recently used dropped first): tokens are few per gate,
  and a flood of distinct tokens only evicts, never grows memory.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from gitgate.auth.identity import Identity
from gitgate.auth.revocation import RevocationStore

MAX_AGE_S = 60.0
CAPACITY = 4096


class SigningKeys(Protocol):
    def key_in_force(self, header: dict[str, Any]) -> object | None:
        """The key the issuer would verify this header's token with now; raises AuthError."""
        ...


@dataclass(frozen=True)
class Verified:
    """A verified token's identity, and the store its revocation is checked in."""

    identity: Identity
    revocations: tuple[RevocationStore, ...]  # where its jti is checked, on every request
    expires_at: float  # the token's `exp`
    verifier: SigningKeys  # the issuer that verified it, asked for its key again on each use
    header: dict[str, Any]
    key: object  # the key it was verified with: a hit needs the issuer to hold an equal one


class TokenCache:
    """Thread-safe LRU of verified tokens by hash; see the module docstring."""

    def __init__(
        self,
        *,
        capacity: int = CAPACITY,
        max_age_s: float = MAX_AGE_S,
        clock: Callable[[], float],
    ) -> None:
        self._capacity = capacity
        self._max_age_s = max_age_s
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[bytes, tuple[Verified, float]] = OrderedDict()

    @staticmethod
    def key(token: str) -> bytes:
        return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()

    def get(self, key: bytes) -> Verified | None:
        """The entry for `key` if it has not expired (an expired one is dropped)."""
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if now >= entry[1]:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: bytes, verified: Verified) -> None:
        """Remember a token verified just now, until its `exp` at the latest."""
        until = min(verified.expires_at, self._clock() + self._max_age_s)
        with self._lock:
            self._entries[key] = (verified, until)
            self._entries.move_to_end(key)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)

    def drop(self, key: bytes) -> None:
        with self._lock:
            self._entries.pop(key, None)
