"""The database behind gitgate: one URL, two engines, one connection per thread.

SQLite is the default (one gate instance, no server to run); PostgreSQL is for several gate
instances sharing one queue. Everything else in gitgate talks to the database through
:data:`db_proxy`, which resolves, at each use, to the database of the gate it runs for.

Which database: one process may hold several gates (tests do; so could an embedder), each with
its own database, so the choice is not a process-wide binding. :func:`using` (or
:func:`activate`) sets the database for the current :mod:`contextvars` context: a gate's app
does it for each request, and every thread the gate starts runs in a copy of that context
(``contextvars.copy_context().run``). Outside any gate's context the proxy falls back to the
process default that :func:`bind` sets, which is for processes that hold one database and no
app: the CLI, and test code that reads a gate's database from its own thread.

Threads: the gate runs under gunicorn ``gthread`` workers, so many request threads share one
``Database`` object. peewee keeps the connection in a ``threading.local`` (``thread_safe=True``
is its default), so each thread has its own connection and its own transaction stack.
Store functions (:mod:`gitgate.store`) open and close a connection themselves when the calling
thread has none, so callers need nothing; a request handler that makes several store calls
may wrap them in ``with connection():`` to reuse one connection for all of them.
"""

from __future__ import annotations

import contextvars
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

import peewee
from playhouse.pool import (  # type: ignore[import-untyped]
    PooledPostgresqlDatabase,
    PooledSqliteDatabase,
)

__all__ = [
    "activate",
    "bind",
    "connection",
    "current",
    "db_proxy",
    "for_update",
    "is_postgres",
    "open_database",
    "using",
    "write_transaction",
]

_active: contextvars.ContextVar[peewee.Database | None] = contextvars.ContextVar(
    "gitgate_database", default=None
)


class _ContextDatabaseProxy(peewee.DatabaseProxy):
    """A peewee proxy whose target is looked up at each use: the database activated in the
    current context, else the process default (:func:`bind`).

    peewee reads ``proxy.obj`` on every call it forwards (``__getattr__``, ``atomic()``,
    ``connection_context()`` keep the proxy, not the database), so the models, declared once
    at import with ``database = db_proxy``, follow whichever gate the calling code runs for.
    """

    __slots__ = ("_default",)

    def __setattr__(self, attr: str, value: object) -> None:
        if attr not in ("_callbacks", "_default", "_Model"):  # `obj` is computed, not set
            raise AttributeError(f"cannot set {attr!r} on the database proxy")
        object.__setattr__(self, attr, value)

    def initialize(self, obj: peewee.Database | None) -> None:
        """Set the process default (peewee's own API; :func:`bind` calls it)."""
        self._default = obj
        for callback in self._callbacks:
            callback(obj)

    @property  # type: ignore[override]  # a slot in peewee's Proxy, read-only here
    def obj(self) -> peewee.Database | None:
        active = _active.get()
        return active if active is not None else self._default


db_proxy = _ContextDatabaseProxy()
_Select = TypeVar("_Select", bound="peewee.ModelSelect[Any]")

# Seconds a SQLite writer waits for another writer's lock before giving up. Long enough for a
# 100 MB push being queued by another thread; short enough that a wedged writer is noticed.
SQLITE_BUSY_TIMEOUT_S = 10

_URL_HELP = "use sqlite:///abs/path.db or postgresql://user@host:port/dbname"


def open_database(url: str) -> peewee.Database:
    """Open (lazily: nothing connects yet) the database named by ``url``.

    Raises ValueError for anything else. APPSEC: messages never repeat the URL itself, which
    may carry a PostgreSQL password.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        return _open_sqlite(parts.netloc, parts.path, parts.query)
    if scheme in ("postgresql", "postgres"):
        return _open_postgres(url)
    raise ValueError(f"unsupported database URL scheme {scheme!r}: {_URL_HELP}")


def _open_sqlite(netloc: str, path: str, query: str) -> peewee.SqliteDatabase:
    """SQLite tuned for one gate process with many threads.

    WAL lets readers run while a push is being queued; ``synchronous=NORMAL`` is durable
    across process crashes in WAL mode (only an OS crash can lose the last commits);
    foreign keys are off by default in SQLite and the payload cascade relies on them.
    """
    if netloc:
        raise ValueError(
            f"SQLite URLs take an absolute path after three slashes, got host {netloc!r}: "
            f"{_URL_HELP}"
        )
    if query:
        raise ValueError("SQLite URLs take no query parameters")
    path = unquote(path)
    if not path or path == "/" or not os.path.isabs(path) or path.endswith("/:memory:"):
        raise ValueError(
            "SQLite needs an absolute file path (in-memory databases are per connection, "
            f"and gitgate opens one connection per thread): {_URL_HELP}"
        )
    path = "/" + path.lstrip("/")
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        raise ValueError(f"directory {parent} for the SQLite database does not exist")
    pragmas = [
        ("busy_timeout", SQLITE_BUSY_TIMEOUT_S * 1000),
        ("foreign_keys", 1),
        ("synchronous", "normal"),
    ]
    # A pooled connection serves one thread at a time, but not always the same thread.
    return _WalSqliteDatabase(path, pragmas=pragmas, check_same_thread=False, **_POOL)


# Connections are pooled per process: opening one costs ~1.5 ms on SQLite (the pragmas, the
# WAL check) and a round trip or more on PostgreSQL, and the stores open and close one per
# call on threads that have none. `close()` returns a connection to the pool; connections
# idle longer than `stale_timeout` are dropped; a thread waits up to `timeout` s for a free
# one when `max_connections` are in use.
_POOL: dict[str, Any] = {"max_connections": 64, "stale_timeout": 300, "timeout": 10}


class _WalSqliteDatabase(PooledSqliteDatabase):
    """SqliteDatabase that switches the file to WAL on connect, safely under concurrency.

    ``PRAGMA journal_mode=wal`` answers "database is locked" *without* waiting on the busy
    timeout when another connection is switching the same fresh file at that moment (several
    gunicorn workers starting on a new database). WAL is a property of the file, so the switch
    happens once; this retries it, with a short backoff, for up to the busy timeout.
    """

    def _add_conn_hooks(self, conn: sqlite3.Connection) -> None:
        _enable_wal(conn)
        super()._add_conn_hooks(conn)  # type: ignore[misc]  # private, not in the stubs


def _enable_wal(conn: sqlite3.Connection) -> None:
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    delay = 0.002
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                return
            conn.execute("PRAGMA journal_mode = wal")
            return
        except sqlite3.OperationalError as ex:
            if "locked" not in str(ex) or time.monotonic() > deadline:
                raise
        time.sleep(delay)  # another connection holds the file for its own switch: brief
        delay = min(delay * 2, 0.1)


def _open_postgres(url: str) -> peewee.PostgresqlDatabase:
    """PostgreSQL through psycopg2; query parameters go to libpq (``sslmode``, ...)."""
    parts = urlsplit(url)
    dbname = unquote(parts.path.lstrip("/"))
    if not dbname or "/" in dbname:
        raise ValueError(f"PostgreSQL URL needs exactly one database name: {_URL_HELP}")
    try:
        port = parts.port
    except ValueError as ex:
        raise ValueError(f"PostgreSQL URL has an invalid port: {_URL_HELP}") from ex
    # connect_timeout: an unreachable server must fail a request (503) or `serve` in
    # seconds, not hang it for the kernel's TCP timeout; the URL may set its own.
    params: dict[str, Any] = {"application_name": "gitgate", "connect_timeout": 10}
    params.update(parse_qsl(parts.query, keep_blank_values=True))
    if parts.hostname:
        params["host"] = parts.hostname
    if port:
        params["port"] = port
    if parts.username:
        params["user"] = unquote(parts.username)
    if parts.password:
        params["password"] = unquote(parts.password)
    return PooledPostgresqlDatabase(dbname, **params, **_POOL)


def bind(db: peewee.Database | None) -> None:
    """Make ``db`` the process default: what every model uses outside a gate's context (the
    CLI, a test's own thread); ``None`` unbinds. A gate's app never calls this."""
    db_proxy.initialize(db)


def activate(db: peewee.Database) -> contextvars.Token[peewee.Database | None]:
    """Make ``db`` the database of the current context (for a request: the app's, for the
    rest of the request's context). Returns the token that :func:`using` resets."""
    return _active.set(db)


@contextmanager
def using(db: peewee.Database) -> Iterator[peewee.Database]:
    """Run the block, and anything it starts in a copy of this context, against ``db``."""
    token = activate(db)
    try:
        yield db
    finally:
        _active.reset(token)


def current() -> peewee.Database:
    """The database in use here (this context's, else the process default), or a RuntimeError
    that says how to bind one."""
    db = db_proxy.obj
    if db is None:
        raise RuntimeError(
            "no database bound: call gitgate.db.bind(gitgate.db.open_database(url)) first"
        )
    return db


def is_postgres(db: peewee.Database | None = None) -> bool:
    """True for PostgreSQL (row locks, advisory locks), False for SQLite (one writer)."""
    return isinstance(db if db is not None else current(), peewee.PostgresqlDatabase)


@contextmanager
def connection(db: peewee.Database | None = None) -> Iterator[peewee.Database]:
    """Make sure the calling thread has a connection for the duration of the block.

    Reuses the thread's connection when one is open (so it nests, and it never closes a
    connection that somebody else opened, possibly inside a transaction); otherwise opens one
    and closes it on exit, so short-lived threads leave nothing behind.
    """
    db = db if db is not None else current()
    if not db.is_closed():
        yield db
        return
    with db.connection_context():
        yield db


@contextmanager
def write_transaction(db: peewee.Database | None = None) -> Iterator[peewee.Database]:
    """A transaction that will write: the building block of every race-free store update.

    On SQLite it is ``BEGIN IMMEDIATE``: the write lock is taken up front, so two writers queue
    on ``busy_timeout`` instead of one failing with "database is locked" when it upgrades a
    read lock, and everything read inside is current until commit. On PostgreSQL it is a
    plain READ COMMITTED transaction: callers lock the rows they decide on (``FOR UPDATE``).
    Nested inside another transaction it becomes a savepoint of that transaction.
    """
    with connection(db) as conn:
        args = () if is_postgres(conn) else ("IMMEDIATE",)
        with conn.atomic(*args):
            yield conn


def for_update(query: _Select) -> _Select:
    """``query`` with ``FOR UPDATE`` on PostgreSQL: the selected rows stay locked until the
    transaction ends. SQLite has no row locks and needs none inside write_transaction()."""
    return query.for_update() if is_postgres() else query
