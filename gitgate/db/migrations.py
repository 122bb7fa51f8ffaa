"""Schema migrations: an ordered list of functions and a ``schema_version`` table.

Each migration runs in its own transaction together with the row that records it, so a
database is always at a whole version. :func:`upgrade` is safe to run from several processes
at once (every gate instance may run it at start-up): on PostgreSQL the runs take turns on an
advisory lock; on SQLite each step is a ``BEGIN IMMEDIATE`` transaction that re-reads the
applied versions after taking the write lock. Both engines have transactional DDL, so a
failed migration leaves nothing half-done.

To change the schema: append a function here (never edit an applied one) and make the same
change to :mod:`gitgate.db.models`; tests/test_db_migrations.py checks that the two agree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import peewee
from playhouse.migrate import SchemaMigrator  # type: ignore[import-untyped]

from gitgate.db import connection, is_postgres
from gitgate.db.fields import utcnow
from gitgate.db.schema_001 import build_models


class Migration(NamedTuple):
    version: int
    name: str
    apply: Callable[[SchemaMigrator, peewee.Database], None]


def _001_initial(migrator: SchemaMigrator, db: peewee.Database) -> None:
    db.create_tables(build_models(db))


def _002_listing_indexes(migrator: SchemaMigrator, db: peewee.Database) -> None:
    # The queue page and expire_due() filter on state and expiry; the audit view on repo + time.
    migrator.migrate(
        migrator.add_index(
            "queued_push", ("state", "expires_at"), name="queuedpush_state_expires_at"
        ),
        migrator.add_index(
            "session_record", ("repo", "started_at"), name="sessionrecord_repo_started_at"
        ),
    )


def _003_session_request_id(migrator: SchemaMigrator, db: peewee.Database) -> None:
    # The request id is what an agent quotes ("request 80cfe1a48c65") and what the logs carry;
    # the per-ref statuses are what the agent was told, for "why was my push refused?".
    migrator.migrate(
        migrator.add_column("session_record", "request_id", peewee.TextField(null=True)),
        migrator.add_column("session_record", "statuses", peewee.TextField(default="[]")),
    )


def _004_gate_signing_keys(migrator: SchemaMigrator, db: peewee.Database) -> None:
    # Shared signing keys: a token issued by one instance verifies on every other one.
    class GateSigningKey(peewee.Model):
        kid = peewee.TextField(primary_key=True)
        algorithm = peewee.TextField()
        public_jwk = peewee.TextField(default="{}")
        sealed_private = peewee.TextField()
        created_at = peewee.DateTimeField()
        retired_at = peewee.DateTimeField(null=True)

        class Meta:
            database = db
            table_name = "gate_signing_key"

    db.create_tables([GateSigningKey])


def _005_queue_claims_and_outcomes(migrator: SchemaMigrator, db: peewee.Database) -> None:
    # claimed_by: a relay whose claimer died is resolved by asking upstream, not by a timer;
    # superseded_by: one queue entry per change; told_at: the agent hears how its push ended;
    # session_record.events: superseded and hold events of a push.
    migrator.migrate(
        migrator.add_column("queued_push", "claimed_by", peewee.TextField(null=True)),
        migrator.add_column("queued_push", "superseded_by", peewee.IntegerField(null=True)),
        migrator.add_column("queued_push", "told_at", peewee.DateTimeField(null=True)),
        migrator.add_column("session_record", "events", peewee.TextField(default="[]")),
    )


def _006_mask_map(migrator: SchemaMigrator, db: peewee.Database) -> None:
    # The `mask` action's id map (agent's object -> rewritten object upstream), per repo.
    class MaskMap(peewee.Model):
        id = peewee.AutoField()
        repo = peewee.TextField()
        kind = peewee.TextField()
        agent_oid = peewee.TextField()
        upstream_oid = peewee.TextField()
        subject = peewee.TextField(default="")
        original = peewee.BlobField(null=True)
        created_at = peewee.DateTimeField()

        class Meta:
            database = db
            table_name = "mask_map"
            indexes = (
                (("repo", "agent_oid"), True),
                (("repo", "upstream_oid"), False),
            )

    db.create_tables([MaskMap])


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial", _001_initial),
    Migration(2, "listing indexes", _002_listing_indexes),
    Migration(3, "session request id and statuses", _003_session_request_id),
    Migration(4, "gate signing keys", _004_gate_signing_keys),
    Migration(5, "queue claims, superseded entries, outcomes told", _005_queue_claims_and_outcomes),
    Migration(6, "mask map", _006_mask_map),
)

# Any 64-bit constant works; all gitgate instances must agree on it ("gitgate1" in ASCII).
_PG_LOCK_KEY = 0x6769746761746531

_VERSION_DDL = (
    "CREATE TABLE IF NOT EXISTS schema_version ("
    "version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMP NOT NULL)"
)


class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer gitgate; running older code on it is unsafe."""


def latest_version() -> int:
    return MIGRATIONS[-1].version


def current_version(db: peewee.Database) -> int:
    """The highest applied migration, 0 for an empty database."""
    with connection(db):
        if not db.table_exists("schema_version"):
            return 0
        return _applied_max(db)


def upgrade(db: peewee.Database) -> list[int]:
    """Apply the missing migrations in order; returns the versions this call applied."""
    with connection(db):
        if is_postgres(db):
            return _upgrade_postgres(db)
        assert isinstance(db, peewee.SqliteDatabase)
        return _upgrade_sqlite(db)


def require_current(db: peewee.Database) -> None:
    """Raise unless the schema is exactly what this code expects (for start-up checks)."""
    version = current_version(db)
    if version != latest_version():
        raise RuntimeError(
            f"database schema is at version {version}, this gitgate needs {latest_version()}: "
            "run `gitgate db upgrade`"
        )


def _upgrade_postgres(db: peewee.Database) -> list[int]:
    # A session-level lock: CREATE TABLE IF NOT EXISTS itself races on PostgreSQL (duplicate
    # pg_type rows), so even the version table is created only while holding it.
    db.execute_sql("SELECT pg_advisory_lock(%s)", (_PG_LOCK_KEY,))
    try:
        with db.atomic():
            db.execute_sql(_VERSION_DDL)
        applied: list[int] = []
        for migration in MIGRATIONS:
            with db.atomic():
                if _apply_if_missing(db, migration):
                    applied.append(migration.version)
        return applied
    finally:
        db.execute_sql("SELECT pg_advisory_unlock(%s)", (_PG_LOCK_KEY,))


def _upgrade_sqlite(db: peewee.SqliteDatabase) -> list[int]:
    applied: list[int] = []
    for migration in MIGRATIONS:
        # Foreign keys off around each step, as playhouse's SqliteMigrator does: table rebuilds
        # (drop/alter column) would otherwise cascade deletes. The pragma is a no-op inside a
        # transaction, hence outside; violations are checked before the step counts as done.
        db.pragma("foreign_keys", 0)
        try:
            with db.atomic("IMMEDIATE"):
                db.execute_sql(_VERSION_DDL)
                done = _apply_if_missing(db, migration)
                if done and db.execute_sql("PRAGMA foreign_key_check").fetchall():
                    raise RuntimeError(f"migration {migration.version} broke foreign keys")
        finally:
            db.pragma("foreign_keys", 1)
        if done:
            applied.append(migration.version)
    return applied


def _apply_if_missing(db: peewee.Database, migration: Migration) -> bool:
    """Inside the caller's transaction (and lock): apply ``migration`` unless it is there."""
    known = _applied_max(db)
    if known > latest_version():
        raise SchemaTooNew(
            f"database schema is at version {known}, newer than this gitgate "
            f"(which knows up to {latest_version()}): upgrade gitgate"
        )
    table = _version_table(db)
    if table.select().where(peewee.Column(table, "version") == migration.version).exists():
        return False
    migration.apply(SchemaMigrator.from_database(db), db)
    table.insert(
        version=migration.version,
        name=migration.name,
        applied_at=utcnow().strftime("%Y-%m-%d %H:%M:%S"),
    ).execute()
    return True


def _applied_max(db: peewee.Database) -> int:
    table = _version_table(db)
    value = table.select(peewee.fn.MAX(peewee.Column(table, "version"))).scalar()
    return int(value or 0)


def _version_table(db: peewee.Database) -> peewee.Table:
    return peewee.Table("schema_version", ("version", "name", "applied_at")).bind(db)
