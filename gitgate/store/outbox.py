"""A durable outbox for webhook events: at-least-once delivery that survives restarts.

Write an event in the same transaction as the change it announces (``with
write_transaction(): ...; outbox.add(...)``) and it is sent exactly when the change is committed.
A sender calls :func:`due`, which leases the events it returns for ``lease_s`` seconds so that
other gate instances leave them alone; then :func:`mark_delivered` or :func:`mark_failed`. A
sender that dies mid-way loses only its lease, so receivers may see an event twice and should
deduplicate on its id. APPSEC: payloads and errors must not contain tokens or secret values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from gitgate.db import connection, for_update, write_transaction
from gitgate.db.fields import as_utc, utcnow
from gitgate.db.models import NotificationOutbox

MAX_ERROR_LEN = 500


@dataclass(frozen=True)
class OutboxItem:
    id: int
    event: str
    payload: Any
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    last_error: str | None


def add(event: str, payload: Any, *, now: datetime | None = None) -> int:
    """Queue ``event`` with a JSON-serialisable ``payload``; returns its id."""
    moment = as_utc(now or utcnow())
    with connection():
        row = NotificationOutbox.create(
            event=event, payload=payload, created_at=moment, next_attempt_at=moment
        )
    return int(row.id)


def due(now: datetime | None = None, limit: int = 50, *, lease_s: float = 60.0) -> list[OutboxItem]:
    """Undelivered events whose next attempt is due, oldest first, leased to the caller."""
    moment = as_utc(now or utcnow())
    with write_transaction():
        query = (
            NotificationOutbox.select(NotificationOutbox.id)
            .where(
                NotificationOutbox.delivered_at.is_null(),
                NotificationOutbox.next_attempt_at <= moment,
            )
            .order_by(NotificationOutbox.id)
            .limit(limit)
        )
        ids = [int(row.id) for row in for_update(query)]
        if not ids:
            return []
        rows = list(
            NotificationOutbox.select()
            .where(NotificationOutbox.id.in_(ids))
            .order_by(NotificationOutbox.id)
        )
        NotificationOutbox.update(next_attempt_at=moment + timedelta(seconds=lease_s)).where(
            NotificationOutbox.id.in_(ids)
        ).execute()
    return [
        OutboxItem(
            id=int(row.id),
            event=row.event,
            payload=row.payload,
            attempts=int(row.attempts),
            created_at=row.created_at,
            next_attempt_at=row.next_attempt_at,
            last_error=row.last_error,
        )
        for row in rows
    ]


def mark_delivered(item_id: int, *, now: datetime | None = None) -> None:
    with connection():
        NotificationOutbox.update(
            delivered_at=as_utc(now or utcnow()),
            attempts=NotificationOutbox.attempts + 1,
            last_error=None,
        ).where(NotificationOutbox.id == item_id).execute()


def mark_failed(item_id: int, error: str, next_attempt_at: datetime) -> None:
    """Count a failed attempt and schedule the next one. ``error`` is cut to 500 characters."""
    with connection():
        NotificationOutbox.update(
            attempts=NotificationOutbox.attempts + 1,
            last_error=error[:MAX_ERROR_LEN],
            next_attempt_at=as_utc(next_attempt_at),
        ).where(NotificationOutbox.id == item_id).execute()
