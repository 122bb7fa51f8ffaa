"""Column types that behave the same on SQLite and PostgreSQL, and the time convention.

Time: every timestamp is stored as naive UTC text/``TIMESTAMP`` and handed back to Python as
an *aware* UTC datetime. Naive UTC in the database because PostgreSQL's ``TIMESTAMP`` silently
drops an offset and SQLite compares timestamps as text; aware in Python so nobody mistakes a
stored time for local time. SQLite gets a fixed-width text form (always with microseconds) so
that text order is time order.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import peewee

_DB_TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime; a naive value is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def iso(value: datetime | None) -> str | None:
    """ISO 8601 with an explicit ``+00:00``, for JSON output."""
    return None if value is None else as_utc(value).isoformat()


class UTCDateTimeField(peewee.DateTimeField):
    """A timestamp column: naive UTC inside the database, aware UTC outside."""

    def db_value(self, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, str):
            value = self.adapt(value)
        if not isinstance(value, datetime):
            raise TypeError(f"{self.name}: expected a datetime, got {type(value).__name__}")
        # Text on both engines: PostgreSQL casts the literal to TIMESTAMP, SQLite compares it as
        # text (fixed width, so in time order), and no driver-side datetime adapter is involved.
        return as_utc(value).replace(tzinfo=None).strftime(_DB_TIME_FORMAT)

    def python_value(self, value: Any) -> Any:
        value = super().python_value(value)
        if isinstance(value, datetime):
            return as_utc(value)
        return value


class JSONField(peewee.TextField):
    """JSON kept as text: the same bytes on SQLite and PostgreSQL, readable in a SQL shell."""

    def db_value(self, value: Any) -> Any:
        if value is None:
            return None
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def python_value(self, value: Any) -> Any:
        if value is None:
            return None
        return json.loads(value)
