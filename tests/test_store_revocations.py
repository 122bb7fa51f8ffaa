"""gitgate.store.revocations: the revoked-jti list shared by all gate instances."""

from __future__ import annotations

from datetime import UTC, datetime

import peewee
import pytest

from gitgate.db import connection
from gitgate.db.models import RevokedToken
from gitgate.store.revocations import DbRevocationStore


def test_revoke_and_check(db: peewee.Database) -> None:
    store = DbRevocationStore()
    assert not store.is_revoked("jti-1")
    assert store.revoke("jti-1", reason="laptop lost") is True
    assert store.is_revoked("jti-1")
    assert not store.is_revoked("jti-2")


def test_revoking_twice_keeps_the_first_record(db: peewee.Database) -> None:
    store = DbRevocationStore()
    first = datetime(2030, 1, 1, tzinfo=UTC)
    assert store.revoke("jti-1", reason="first", now=first) is True
    assert store.revoke("jti-1", reason="second") is False
    with connection():
        row = RevokedToken.get_by_id("jti-1")
    assert (row.reason, row.revoked_at) == ("first", first)


def test_revoke_needs_a_jti(db: peewee.Database) -> None:
    with pytest.raises(ValueError, match="jti"):
        DbRevocationStore().revoke("")
