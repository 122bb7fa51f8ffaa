"""Pushes held for review: the approval state machine, race-free on SQLite and PostgreSQL.

    pending ──approve (enough distinct reviewers)──▶ relaying ──finish──▶ relayed | stale | failed
       │ │ └──reject──▶ rejected                        │
       │ └──supersede (a push extending it)──▶ superseded   └──take_over (claimer died)──▶ relaying
       └──expire_due / approve after expiry──▶ expired

Every transition is a read-decide-write inside :func:`gitgate.db.write_transaction`, with the
push row locked (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` admits one
writer at a time). Leaving "pending" is additionally a conditional ``UPDATE … WHERE
state='pending'``, so exactly one caller ever claims a relay, across threads and processes.

take_over: a push stays "relaying" only while its claimer (``host/boot/pidns:pid``) relays
it. When that process died, another takes the claim over (one conditional update) and asks
upstream what happened (gitgate.outcomes.recovery): refs at the pushed ids -> relayed; at the old
ids
-> relayed again; anything else -> stale. Relaying twice cannot corrupt the upstream anyway:
each ref update carries the old id it expects.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, BinaryIO

from gitgate.db import connection, write_transaction
from gitgate.db.fields import as_utc, utcnow
from gitgate.db.models import (
    EXPIRED,
    FAILED,
    PENDING,
    PUSH_STATES,
    RELAYED,
    RELAYING,
    STALE,
    QueuedPush,
    ReviewDecision,
)
from gitgate.store.errors import InvalidTransition, PayloadUnavailable, UnknownPush
from gitgate.store.payload import open_payload, write_chunks
from gitgate.store.queue_rows import (
    EXPIRED_REASON,
    RELEASED,
    claimer_alive,
    claimer_id,
    leave_pending,
    lock_ids,
    locked_push,
)
from gitgate.store.queue_views import ApprovalOutcome, PushInfo, RejectionOutcome, push_info
from gitgate.store.review import approve, reject
from gitgate.store.validation import check_findings

__all__ = [
    "ApprovalOutcome",
    "InvalidTransition",
    "PayloadUnavailable",
    "PushInfo",
    "RejectionOutcome",
    "UnknownPush",
    "approve",
    "claimer_alive",
    "enqueue",
    "expire_due",
    "finish",
    "get",
    "interrupted",
    "list_pushes",
    "open_payload",
    "reject",
    "release",
    "take_over",
]

FINISH_STATES = frozenset({RELAYED, STALE, FAILED})


def enqueue(
    *,
    repo: str,
    pusher_subject: str,
    pusher_groups: Iterable[str],
    rule_name: str,
    reviewer_groups: Iterable[str],
    approvals_required: int,
    expiry_s: float,
    summary: Mapping[str, Any],
    payload: BinaryIO,
    now: datetime | None = None,
) -> int:
    """Queue a push with its request body; returns its id (shown to people as #id).

    One transaction: the push becomes visible together with its whole body. ``payload`` is
    read to its end while the transaction is open (on SQLite: while holding the write lock),
    so pass the spooled, fully received body, not a network stream.
    """
    if approvals_required < 1:
        raise ValueError("approvals_required must be at least 1")
    if expiry_s <= 0:
        raise ValueError("expiry_s must be positive")
    summary = dict(summary)
    if "findings" in summary:
        summary["findings"] = check_findings(summary["findings"])
    created = as_utc(now or utcnow())
    with write_transaction():
        push = QueuedPush.create(
            created_at=created,
            expires_at=created + timedelta(seconds=expiry_s),
            state=PENDING,
            repo=repo,
            pusher_subject=pusher_subject,
            pusher_groups=list(pusher_groups),
            rule_name=rule_name,
            reviewer_groups=list(reviewer_groups),
            approvals_required=approvals_required,
            summary=summary,
        )
        size, sha256 = write_chunks(push.id, payload)
        QueuedPush.update(payload_size=size, payload_sha256=sha256).where(
            QueuedPush.id == push.id
        ).execute()
    return int(push.id)


def get(push_id: int) -> PushInfo | None:
    with connection():
        row = QueuedPush.get_or_none(QueuedPush.id == push_id)
        if row is None:
            return None
        return push_info(row, _decisions_of([push_id]).get(push_id, []))


def list_pushes(state: str | None = None, limit: int | None = None) -> list[PushInfo]:
    """Pushes, newest first, optionally in one state."""
    if state is not None and state not in PUSH_STATES:
        raise ValueError(f"state must be one of {', '.join(PUSH_STATES)}")
    query = QueuedPush.select().order_by(QueuedPush.id.desc())
    if state is not None:
        query = query.where(QueuedPush.state == state)
    if limit is not None:
        query = query.limit(limit)
    with connection():
        rows = list(query)
        decisions = _decisions_of([row.id for row in rows])
    return [push_info(row, decisions.get(row.id, [])) for row in rows]


def finish(
    push_id: int, state: str, reason: str, relay_report: str, *, now: datetime | None = None
) -> None:
    """Record how the relay of a claimed push ended: relayed, stale (upstream moved) or failed.

    Only from "relaying": a late call for a push resolved meanwhile raises InvalidTransition.
    """
    if state not in FINISH_STATES:
        raise ValueError(f"finish state must be one of {', '.join(sorted(FINISH_STATES))}")
    now = as_utc(now or utcnow())
    with write_transaction():
        changed = (
            QueuedPush.update(
                state=state, state_reason=reason, relay_report=relay_report, relayed_at=now
            )
            .where(QueuedPush.id == push_id, QueuedPush.state == RELAYING)
            .execute()
        )
        if not changed:
            current = locked_push(push_id)
            raise InvalidTransition(
                f"push #{push_id} is {current.state}, not relaying: cannot mark it {state}"
            )


def expire_due(now: datetime | None = None) -> list[int]:
    """Expire every pending push whose time is up; returns the ids this call expired."""
    now = as_utc(now or utcnow())
    with write_transaction():
        due = lock_ids(
            QueuedPush.select(QueuedPush.id).where(
                QueuedPush.state == PENDING, QueuedPush.expires_at <= now
            )
        )
        return [push_id for push_id in due if leave_pending(push_id, EXPIRED, EXPIRED_REASON, now)]


def interrupted(remote_after_s: float, now: datetime | None = None) -> list[PushInfo]:
    """Claimed pushes ("relaying") whose claimer is gone: its process died on this host, or,
    for a claimer on another host (whose process cannot be checked from here), the claim is
    older than ``remote_after_s``. Upstream, not this list, decides what became of each
    (:mod:`gitgate.outcomes.recovery`)."""
    now = as_utc(now or utcnow())
    cutoff = now - timedelta(seconds=remote_after_s)
    found = []
    for info in reversed(list_pushes(RELAYING)):  # oldest first
        alive = claimer_alive(info.claimed_by)
        if alive is False or (
            alive is None and info.claimed_at is not None and info.claimed_at <= cutoff
        ):
            found.append(info)
    return found


def take_over(push_id: int, claimed_by: str | None, now: datetime | None = None) -> bool:
    """Take a dead claimer's relay over: True for exactly one caller (a conditional update on
    the claimer it saw), who must then resolve the push against upstream."""
    now = as_utc(now or utcnow())
    with write_transaction():
        changed = (
            QueuedPush.update(claimed_by=claimer_id(), claimed_at=now)
            .where(
                QueuedPush.id == push_id,
                QueuedPush.state == RELAYING,
                QueuedPush.claimed_by.is_null()
                if claimed_by is None
                else QueuedPush.claimed_by == claimed_by,
            )
            .execute()
        )
    return changed == 1


def release(push_id: int) -> bool:
    """Give back a claim this process took over but could not resolve (upstream unreachable,
    an error): the next round of recovery, on any instance, tries again."""
    with write_transaction():
        changed = (
            QueuedPush.update(claimed_by=RELEASED)
            .where(
                QueuedPush.id == push_id,
                QueuedPush.state == RELAYING,
                QueuedPush.claimed_by == claimer_id(),
            )
            .execute()
        )
    return changed == 1


def _decisions_of(push_ids: list[int]) -> dict[int, list[ReviewDecision]]:
    grouped: dict[int, list[ReviewDecision]] = {}
    if not push_ids:
        return grouped
    rows = (
        ReviewDecision.select()
        .where(ReviewDecision.push.in_(push_ids))
        .order_by(ReviewDecision.decided_at, ReviewDecision.id)
    )
    for row in rows:
        grouped.setdefault(int(row.push_id), []).append(row)
    return grouped
