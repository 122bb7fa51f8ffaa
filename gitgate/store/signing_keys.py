"""The gate's signing keys in the database: one active key, retired keys until their tokens
expire, the same for every gate instance that shares the database.

Verification reads only public JWKs and caches each for ``CACHE_S`` (a rotation or a key
withdrawal reaches every instance within that time; an unknown kid is one primary-key lookup,
as cheap as the revocation check every request makes anyway). Issuing and rotating need the
sealing secret (gitgate.auth.keyseal). A gate that kept its key in ``{data_dir}/keys`` before
keys were shared has it imported on first use, so tokens it issued keep working.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from gitgate.auth import keys as keymod
from gitgate.auth.keys import SigningKey
from gitgate.auth.keyseal import seal, unseal
from gitgate.auth.keystore import VerificationKey
from gitgate.db import connection, is_postgres, write_transaction
from gitgate.db.fields import utcnow
from gitgate.db.models import GateSigningKey

log = logging.getLogger(__name__)

CACHE_S = 60.0
_PG_LOCK_KEY = 0x6767736B65797331  # "ggskeys1": first-key creation across instances


class DbKeyStore:
    """Signing keys shared through the bound database (see the module docstring)."""

    def __init__(
        self,
        algorithm: str,
        secret: Callable[[], bytes],
        *,
        legacy_dir: Path | None = None,
        max_ttl_s: int = 90 * 86400,
        leeway_s: int = 30,
    ) -> None:
        self.algorithm = algorithm
        self._secret = secret
        self.legacy_dir = legacy_dir
        self.max_ttl_s, self.leeway_s = max_ttl_s, leeway_s
        self._cache: dict[str, tuple[VerificationKey, float]] = {}
        self._lock = threading.Lock()

    # --- issuing -------------------------------------------------------------------------

    def signing_key(self) -> SigningKey:
        """The active key (created, or imported from the legacy key dir, on first use)."""
        row = self._active() or self._first_key()
        private = unseal(row.sealed_private, row.kid, self._secret())
        return SigningKey(row.algorithm, private, row.kid)

    def rotate(self, *, withdraw_old: bool = False) -> tuple[str, list[str]]:
        """Make a new active key; return its kid and the kids retired now.

        Retired keys keep verifying the tokens they signed (at most ``max_ttl_s`` more);
        ``withdraw_old`` deletes them instead, for a key that leaked: its tokens fail at once
        (on other instances within CACHE_S). Keys retired longer ago than any token can live
        are deleted either way.
        """
        secret = self._secret()
        new = keymod.generate(self.algorithm)
        now = utcnow()
        with write_transaction():
            current = [
                r.kid for r in GateSigningKey.select().where(GateSigningKey.retired_at.is_null())
            ]
            if withdraw_old:
                GateSigningKey.delete().execute()
            else:
                GateSigningKey.update(retired_at=now).where(
                    GateSigningKey.retired_at.is_null()
                ).execute()
                GateSigningKey.delete().where(
                    GateSigningKey.retired_at < self._expired_before(now)
                ).execute()
            self._insert(new, secret, now)
        with self._lock:
            self._cache.clear()
        return new.kid, current

    def keys(self) -> list[GateSigningKey]:
        """Every published key, newest first (for `gitgate token keys`)."""
        with connection():
            return list(GateSigningKey.select().order_by(GateSigningKey.created_at.desc()))

    # --- verifying -----------------------------------------------------------------------

    def verification_key(self, kid: str) -> VerificationKey | None:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(kid)
            if hit is not None and now - hit[1] < CACHE_S:
                return hit[0]
        with connection():
            row = GateSigningKey.get_or_none(GateSigningKey.kid == kid)
            if (
                row is None
                and self.legacy_dir is not None
                and not GateSigningKey.select().exists()  # cheap, and false after the first key
                and self._legacy_kid() == kid
            ):
                row = self._first_key()  # an upgraded gate: its old key, tokens and all
        if row is None:
            with self._lock:
                self._cache.pop(kid, None)
            return None
        if row.retired_at is not None and row.retired_at < self._expired_before(utcnow()):
            return None  # every token it signed has expired
        key = VerificationKey(
            row.kid,
            row.algorithm,
            keymod.public_from_jwk(row.public_jwk),
            row.retired_at.timestamp() if row.retired_at is not None else None,
        )
        with self._lock:
            self._cache[kid] = (key, now)
        return key

    # --- internals -----------------------------------------------------------------------

    def _expired_before(self, now: datetime) -> datetime:
        return now - timedelta(seconds=self.max_ttl_s + self.leeway_s)

    def _legacy_kid(self) -> str | None:
        if self.legacy_dir is None:
            return None
        legacy = keymod.existing(self.legacy_dir, self.algorithm)
        return legacy.kid if legacy is not None else None

    def _active(self) -> GateSigningKey | None:
        with connection():
            return (
                GateSigningKey.select()
                .where(GateSigningKey.retired_at.is_null())
                .order_by(GateSigningKey.created_at.desc(), GateSigningKey.kid)
                .first()
            )

    def _first_key(self) -> GateSigningKey:
        """Create the first key, once, however many instances start at the same moment."""
        with write_transaction() as db:
            if is_postgres(db):
                db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (_PG_LOCK_KEY,))
            row = self._active()
            if row is not None:
                return row
            legacy = keymod.existing(self.legacy_dir, self.algorithm) if self.legacy_dir else None
            key = legacy or keymod.generate(self.algorithm)
            self._insert(key, self._secret(), utcnow())
            log.info(
                "%s gate signing key %s (%s)",
                "imported the" if legacy else "created a",
                key.kid,
                key.algorithm,
            )
        row = self._active()
        assert row is not None
        return row

    @staticmethod
    def _insert(key: SigningKey, secret: bytes, now: datetime) -> None:
        GateSigningKey.insert(
            kid=key.kid,
            algorithm=key.algorithm,
            public_jwk=key.public_jwk(),
            sealed_private=seal(key.private_key, key.kid, secret),
            created_at=now,
        ).on_conflict_ignore().execute()
