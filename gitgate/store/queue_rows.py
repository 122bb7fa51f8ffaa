"""Row-level building blocks shared by the queue's transitions (queue.py, review.py).

All of them run inside the caller's :func:`gitgate.db.write_transaction`.
"""

from __future__ import annotations

from datetime import datetime

import peewee

from gitgate.db import for_update
from gitgate.db.models import PENDING, QueuedPush
from gitgate.store.errors import UnknownPush

EXPIRED_REASON = "expired before enough reviewers approved"


def locked_push(push_id: int) -> QueuedPush:
    """The push row, locked until the end of the transaction (PostgreSQL; SQLite: the
    transaction already holds the database's write lock)."""
    row = for_update(QueuedPush.select().where(QueuedPush.id == push_id)).first()
    if row is None:
        raise UnknownPush(push_id)
    return row


def lock_ids(query: peewee.ModelSelect[QueuedPush]) -> list[int]:
    """The ids ``query`` selects, locked, in id order (one order for all: no deadlocks)."""
    return [int(row.id) for row in for_update(query.order_by(QueuedPush.id))]


def leave_pending(push_id: int, state: str, reason: str, now: datetime) -> bool:
    """Move a pending push to ``state``; False if it was not pending any more."""
    changed = (
        QueuedPush.update(state=state, state_reason=reason, decided_at=now)
        .where(QueuedPush.id == push_id, QueuedPush.state == PENDING)
        .execute()
    )
    return changed == 1
