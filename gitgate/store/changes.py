"""One queue entry per change: an identical retry is the same entry, a push extending a pending
entry supersedes it, anything else on the same ref is reported as a conflict.

Agents retry a push that git reports as failed ("queued" is an `ng`), and stack commits on a
pending push. Without this, each retry is a new entry to review, and approving one makes the
others stale. The decision is made inside one write transaction, serialised per repo (SQLite's
write lock; a transaction-scoped advisory lock on PostgreSQL), so two identical retries racing
each other still make one entry.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from gitgate.db import connection, is_postgres, write_transaction
from gitgate.db.fields import utcnow
from gitgate.db.models import PENDING, SUPERSEDED, QueuedPush

RefChange = tuple[str, str, str]  # (ref, old, new), ids as hex text


@dataclass(frozen=True)
class Enqueued:
    """What queueing a push did, for the agent's messages and the audit record."""

    id: int
    duplicate: bool = False  # an identical entry was pending: nothing new was queued
    superseded: tuple[int, ...] = ()
    conflicts: tuple[int, ...] = ()
    events: list[dict[str, Any]] = field(default_factory=list)


def changes_of(summary: dict[str, Any]) -> frozenset[RefChange]:
    return frozenset((r["ref"], r["old"], r["new"]) for r in summary.get("ref_updates", []))


def pending_on(repo: str) -> list[tuple[int, str, frozenset[RefChange]]]:
    """(id, pusher, changes) of every pending entry of ``repo``, oldest first."""
    with connection():
        rows = (
            QueuedPush.select(QueuedPush.id, QueuedPush.pusher_subject, QueuedPush.summary)
            .where(QueuedPush.repo == repo, QueuedPush.state == PENDING)
            .order_by(QueuedPush.id)
        )
        return [(int(r.id), r.pusher_subject, changes_of(r.summary or {})) for r in rows]


def identical(repo: str, pusher: str, changes: frozenset[RefChange]) -> int | None:
    for push_id, who, theirs in pending_on(repo):
        if who == pusher and theirs == changes:
            return push_id
    return None


def lock_repo(repo: str) -> None:
    """Inside a write transaction: serialise queue decisions on ``repo`` (PostgreSQL; SQLite's
    write transaction is already exclusive)."""
    if is_postgres():
        from gitgate.db import current

        current().execute_sql(
            "SELECT pg_advisory_xact_lock(%s, %s)", (0x67617465, zlib.crc32(repo.encode()) >> 1)
        )


def enqueue_change(
    *,
    repo: str,
    pusher_subject: str,
    summary: dict[str, Any],
    supersedes: Sequence[int],
    conflicts: Iterable[int],
    **kwargs: Any,
) -> Enqueued:
    """Queue a push unless an identical one is pending; mark the entries it extends
    ``superseded`` (only those still pending). ``kwargs`` go to :func:`queue.enqueue`."""
    from gitgate.store import queue

    changes = changes_of(summary)
    with write_transaction():
        lock_repo(repo)
        same = identical(repo, pusher_subject, changes)
        if same is not None:
            return Enqueued(same, duplicate=True)
        push_id = queue.enqueue(repo=repo, pusher_subject=pusher_subject, summary=summary, **kwargs)
        done = []
        for old in supersedes:
            changed = (
                QueuedPush.update(
                    state=SUPERSEDED,
                    state_reason=f"superseded by #{push_id}, which contains its commits",
                    superseded_by=push_id,
                    decided_at=utcnow(),
                    told_at=utcnow(),  # the agent is told in the answer to this push
                )
                .where(QueuedPush.id == old, QueuedPush.state == PENDING)
                .execute()
            )
            if changed:
                done.append(old)
    return Enqueued(
        push_id,
        superseded=tuple(done),
        conflicts=tuple(c for c in conflicts if c not in done),
    )


def untold(repo: str, pusher: str, limit: int = 10) -> list[Any]:
    """Finished entries of ``pusher`` on ``repo`` whose outcome the agent has not been told,
    oldest first (PushInfo)."""
    from gitgate.store import queue

    with connection():
        ids = [
            int(r.id)
            for r in QueuedPush.select(QueuedPush.id)
            .where(
                QueuedPush.repo == repo,
                QueuedPush.pusher_subject == pusher,
                QueuedPush.told_at.is_null(),
                QueuedPush.state.in_(["relayed", "rejected", "stale", "failed", "expired"]),
            )
            .order_by(QueuedPush.id)
            .limit(limit)
        ]
    return [info for push_id in ids if (info := queue.get(push_id)) is not None]


def mark_told(push_ids: Iterable[int]) -> None:
    ids = list(push_ids)
    if ids:
        with connection():
            QueuedPush.update(told_at=utcnow()).where(
                QueuedPush.id.in_(ids), QueuedPush.told_at.is_null()
            ).execute()


def entries_of(repo: str, pusher: str, limit: int) -> list[Any]:
    """``pusher``'s entries on ``repo``, newest first (PushInfo)."""
    from gitgate.store import queue

    with connection():
        ids = [
            int(r.id)
            for r in QueuedPush.select(QueuedPush.id)
            .where(QueuedPush.repo == repo, QueuedPush.pusher_subject == pusher)
            .order_by(QueuedPush.id.desc())
            .limit(limit)
        ]
    return [info for push_id in ids if (info := queue.get(push_id)) is not None]
