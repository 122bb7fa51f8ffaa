"""Where the gate's signing keys come from: an interface, and the single-directory store.

The gate issuer signs with the *active* key and verifies with whichever published key a token's
``kid`` names. In a deployment the keys live in the database (``gitgate.store.signing_keys``),
so every instance sharing it verifies every other instance's tokens and a rotation is seen by
all. ``DirKeyStore`` keeps the older shape (one key file in a directory, one process or a
shared directory): for tests and for code that has no database.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from gitgate.auth.keys import SigningKey, load_or_create


@dataclass(frozen=True)
class VerificationKey:
    """A published public key. ``retired_at`` (epoch seconds) is when a newer key took over:
    tokens it signed keep verifying until they expire, but none issued after that moment."""

    kid: str
    algorithm: str
    public_key: Any
    retired_at: float | None = None


class KeyStore(Protocol):
    def signing_key(self) -> SigningKey:
        """The active key, private half included (for issuing)."""
        ...

    def verification_key(self, kid: str) -> VerificationKey | None:
        """The published key ``kid``, or None when no such key is (still) published."""
        ...


class DirKeyStore:
    """One key file in ``key_dir``, created on first use (see gitgate.auth.keys)."""

    def __init__(self, key_dir: Path, algorithm: str) -> None:
        self.key_dir, self.algorithm = Path(key_dir), algorithm
        self._key: SigningKey | None = None
        self._lock = threading.Lock()

    def signing_key(self) -> SigningKey:
        with self._lock:
            if self._key is None:
                self._key = load_or_create(self.key_dir, self.algorithm)
            return self._key

    def verification_key(self, kid: str) -> VerificationKey | None:
        key = self.signing_key()
        if kid != key.kid:
            return None
        return VerificationKey(key.kid, key.algorithm, key.public_key)
