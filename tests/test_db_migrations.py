"""gitgate.db.migrations: versions, idempotence, concurrency, and models == migrated schema."""

from __future__ import annotations

import threading

import peewee
import pytest

from gitgate.db import connection, open_database
from gitgate.db import migrations as mig
from gitgate.db.models import ALL_MODELS


def test_fresh_database_is_at_version_zero_and_upgrades_to_latest(
    empty_db: peewee.Database,
) -> None:
    assert mig.current_version(empty_db) == 0
    assert mig.upgrade(empty_db) == [m.version for m in mig.MIGRATIONS]
    assert mig.current_version(empty_db) == mig.latest_version() == mig.MIGRATIONS[-1].version
    mig.require_current(empty_db)


def test_upgrade_is_idempotent(empty_db: peewee.Database) -> None:
    mig.upgrade(empty_db)
    assert mig.upgrade(empty_db) == []
    with connection(empty_db):
        rows = empty_db.execute_sql("SELECT version, name FROM schema_version ORDER BY 1")
        assert rows.fetchall() == [(m.version, m.name) for m in mig.MIGRATIONS]


def test_upgrade_applies_only_the_missing_steps(
    empty_db: peewee.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mig, "MIGRATIONS", mig.MIGRATIONS[:1])
    assert mig.upgrade(empty_db) == [1]
    monkeypatch.undo()
    with pytest.raises(RuntimeError, match=f"version 1, this gitgate needs {mig.latest_version()}"):
        mig.require_current(empty_db)
    assert mig.upgrade(empty_db) == [m.version for m in mig.MIGRATIONS[1:]]
    with connection(empty_db):
        names = {index.name for index in empty_db.get_indexes("queued_push")}
    assert "queuedpush_state_expires_at" in names


def test_failed_migration_leaves_nothing_behind(
    empty_db: peewee.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(migrator: object, db: peewee.Database) -> None:
        db.execute_sql("CREATE TABLE half_done (x INTEGER)")
        raise RuntimeError("boom")

    monkeypatch.setattr(
        mig,
        "MIGRATIONS",
        (*mig.MIGRATIONS, mig.Migration(mig.latest_version() + 1, "broken", broken)),
    )
    with pytest.raises(RuntimeError, match="boom"):
        mig.upgrade(empty_db)
    assert mig.current_version(empty_db) == mig.latest_version() - 1
    with connection(empty_db):
        assert "half_done" not in empty_db.get_tables()


def test_a_newer_schema_is_refused(empty_db: peewee.Database) -> None:
    mig.upgrade(empty_db)
    with connection(empty_db):
        empty_db.execute_sql(
            "INSERT INTO schema_version (version, name, applied_at) "
            "VALUES (99, 'future', '2030-01-01 00:00:00')"
        )
    with pytest.raises(mig.SchemaTooNew, match="version 99, newer than this gitgate"):
        mig.upgrade(empty_db)


@pytest.mark.parametrize("round_no", range(3))  # each round: a new, empty database
def test_two_threads_upgrading_at_once_apply_each_step_once(db_url: str, round_no: int) -> None:
    url = db_url
    barrier = threading.Barrier(2, timeout=30)
    results: list[list[int]] = []
    errors: list[BaseException] = []

    def run() -> None:
        database = open_database(url)  # its own Database object, as another process has
        try:
            barrier.wait()
            results.append(mig.upgrade(database))
        except BaseException as ex:
            errors.append(ex)
        finally:
            database.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sorted(v for applied in results for v in applied) == [m.version for m in mig.MIGRATIONS]
    assert mig.current_version(open_database(url)) == mig.latest_version()


def test_models_match_the_migrated_schema(db: peewee.Database) -> None:
    """models.py and the migrations must describe the same tables (see migrations.py)."""
    with connection():
        assert set(db.get_tables()) == {m._meta.table_name for m in ALL_MODELS} | {"schema_version"}
        for model in ALL_MODELS:
            table = model._meta.table_name
            columns = {c.name: c.null for c in db.get_columns(table)}
            expected = {f.column_name: f.null for f in model._meta.sorted_fields}
            assert columns == expected, table
            indexes = {index.name for index in db.get_indexes(table)}
            for index in model._meta.fields_to_index():
                assert index._name in indexes, (table, index._name)
