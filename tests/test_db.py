"""gitgate.db: URLs, engine settings, per-thread connections, write transactions."""

from __future__ import annotations

import threading
from pathlib import Path

import peewee
import pytest

from gitgate import db as gdb
from gitgate.db import connection, current, open_database, write_transaction
from gitgate.db.fields import UTCDateTimeField
from gitgate.db.models import RevokedToken


def test_sqlite_url_opens_absolute_path_with_gate_pragmas(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path}/gate.db")
    assert isinstance(db, peewee.SqliteDatabase)
    assert db.database == f"{tmp_path}/gate.db"
    with db.connection_context():
        assert db.pragma("journal_mode") == "wal"
        assert db.pragma("busy_timeout") == 10_000
        assert db.pragma("foreign_keys") == 1
        assert db.pragma("synchronous") == 1  # NORMAL
    assert (tmp_path / "gate.db").exists()


def test_four_slash_sqlite_url_is_the_same_absolute_path(tmp_path: Path) -> None:
    assert open_database(f"sqlite:////{tmp_path}/gate.db").database == f"{tmp_path}/gate.db"


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("mysql://root@localhost/gate", "unsupported database URL scheme 'mysql'"),
        ("gate.db", "unsupported database URL scheme ''"),
        ("sqlite://relative.db", "absolute path after three slashes"),
        ("sqlite:///:memory:", "absolute file path"),
        ("sqlite:///", "absolute file path"),
        ("sqlite:///tmp/x.db?mode=ro", "no query parameters"),
        ("sqlite:///no/such/dir/gate.db", "does not exist"),
        ("postgresql://u@h:5432/", "exactly one database name"),
        ("postgresql://u@h:5432/a/b", "exactly one database name"),
        ("postgresql://u@h:notaport/db", "invalid port"),
    ],
)
def test_bad_urls_get_a_clear_value_error(url: str, needle: str) -> None:
    with pytest.raises(ValueError) as info:
        open_database(url)
    assert needle in str(info.value)


def test_postgres_url_parts_reach_the_driver_and_errors_hide_the_password() -> None:
    db = open_database("postgresql://alice:s%3Acret@db.example:6543/gate?sslmode=require")
    assert isinstance(db, peewee.PostgresqlDatabase)
    assert db.database == "gate"
    assert db.connect_params == {
        "application_name": "gitgate",
        "connect_timeout": 10,  # an unreachable server fails in seconds, not minutes
        "sslmode": "require",
        "host": "db.example",
        "port": 6543,
        "user": "alice",
        "password": "s:cret",
    }
    with pytest.raises(ValueError) as info:
        open_database("mysql://alice:hunter2@db.example/gate")
    assert "hunter2" not in str(info.value)


def test_unbound_proxy_says_how_to_bind() -> None:
    previous = gdb.db_proxy.obj
    gdb.bind(None)
    try:
        with pytest.raises(RuntimeError, match=r"gitgate\.db\.bind"):
            current()
    finally:
        gdb.bind(previous)


def test_each_thread_gets_its_own_connection(db: peewee.Database) -> None:
    seen: dict[str, object] = {}
    barrier = threading.Barrier(2, timeout=30)

    def work(name: str) -> None:
        with connection() as conn:
            seen[name] = conn.connection()
            barrier.wait()  # both connections open at the same moment
            RevokedToken.create(jti=f"jti-{name}")
        seen[f"{name}-closed"] = conn.is_closed()

    threads = [threading.Thread(target=work, args=(n,)) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert seen["a"] is not seen["b"]
    assert seen["a-closed"] and seen["b-closed"]
    with connection():
        assert RevokedToken.select().count() == 2


def test_connection_reuses_an_open_one_and_never_closes_it(db: peewee.Database) -> None:
    with db.atomic():  # autoconnects: a connection this code did not open via connection()
        with connection():
            RevokedToken.create(jti="inner")
        assert not db.is_closed()  # leaving connection() inside a transaction closed nothing
    assert RevokedToken.get_by_id("inner").jti == "inner"
    db.close()
    with connection():
        assert not db.is_closed()
    assert db.is_closed()


def test_write_transaction_rolls_back_on_error(db: peewee.Database) -> None:
    with pytest.raises(ZeroDivisionError), write_transaction():
        RevokedToken.create(jti="doomed")
        _ = 1 / 0
    with connection():
        assert not RevokedToken.select().where(RevokedToken.jti == "doomed").exists()
    assert db.is_closed()


def test_datetimes_come_back_aware_utc_from_aware_or_naive_input(db: peewee.Database) -> None:
    from datetime import UTC, datetime, timedelta, timezone

    aware = datetime(2030, 1, 2, 3, 4, 5, 6, tzinfo=timezone(timedelta(hours=2)))
    naive = datetime(2030, 1, 2, 1, 4, 5, 6)  # the same instant, as naive UTC
    with connection():
        RevokedToken.create(jti="aware", revoked_at=aware)
        RevokedToken.create(jti="naive", revoked_at=naive)
        got = {row.jti: row.revoked_at for row in RevokedToken.select()}
        # Comparisons in SQL convert the same way: both rows are at that instant.
        same = RevokedToken.select().where(RevokedToken.revoked_at == aware).count()
    assert got["aware"] == got["naive"] == naive.replace(tzinfo=UTC)
    assert got["aware"].tzinfo is UTC
    assert same == 2


def test_utc_field_refuses_non_datetimes() -> None:
    field = UTCDateTimeField()
    field.name = "when"
    with pytest.raises(TypeError, match="when: expected a datetime"):
        field.db_value(12)
