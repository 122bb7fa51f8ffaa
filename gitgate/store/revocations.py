"""Revoked token ids, shared by every gate instance through the database.

APPSEC: only the ``jti`` (the token's id claim) is stored, never the token itself.
"""

from __future__ import annotations

from datetime import datetime

from gitgate.db import connection
from gitgate.db.fields import as_utc, utcnow
from gitgate.db.models import RevokedToken


class DbRevocationStore:
    """``is_revoked`` is asked on every authenticated request: one primary-key lookup."""

    def is_revoked(self, jti: str) -> bool:
        with connection():
            return RevokedToken.select().where(RevokedToken.jti == jti).exists()

    def revoke(self, jti: str, *, reason: str = "", now: datetime | None = None) -> bool:
        """Revoke ``jti``; True if it was not revoked before (the first reason is kept)."""
        if not jti:
            raise ValueError("a token id (jti) is required")
        query = RevokedToken.insert(
            jti=jti, revoked_at=as_utc(now or utcnow()), reason=reason
        ).on_conflict_ignore()
        with connection() as db:
            # rowcount, not the insert's return value: with a text key that is a stale rowid on
            # SQLite and None on PostgreSQL; rowcount is 0 when the row already existed.
            return db.execute(query).rowcount == 1
