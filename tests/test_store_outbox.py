"""gitgate.store.outbox: durable webhook events with leases and retries."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import peewee
import pytest

from gitgate.db import write_transaction
from gitgate.store import outbox, queue

T0 = datetime(2030, 5, 1, 12, 0, 0, tzinfo=UTC)


def test_add_then_due_then_delivered(db: peewee.Database) -> None:
    first = outbox.add("push.queued", {"push": 1, "repo": "acme/widgets"}, now=T0)
    second = outbox.add("push.approved", {"push": 1}, now=T0 + timedelta(seconds=1))
    items = outbox.due(T0 + timedelta(seconds=5), limit=10)
    assert [(i.id, i.event, i.attempts) for i in items] == [
        (first, "push.queued", 0),
        (second, "push.approved", 0),
    ]
    assert items[0].payload == {"push": 1, "repo": "acme/widgets"}
    assert items[0].created_at == T0
    outbox.mark_delivered(first, now=T0 + timedelta(seconds=6))
    # Delivered events never come back; the leased one returns when its lease is over.
    assert outbox.due(T0 + timedelta(seconds=30)) == []
    assert [i.id for i in outbox.due(T0 + timedelta(seconds=66))] == [second]


def test_due_respects_limit_order_and_schedule(db: peewee.Database) -> None:
    ids = [outbox.add("e", {"n": n}, now=T0) for n in range(5)]
    future = outbox.add("later", {}, now=T0 + timedelta(hours=1))
    assert [i.id for i in outbox.due(T0, limit=2)] == ids[:2]
    # The first two are leased now, so the next caller (another instance) gets the others.
    assert [i.id for i in outbox.due(T0, limit=10)] == ids[2:]
    assert future not in [i.id for i in outbox.due(T0 + timedelta(minutes=59), limit=10)]


def test_mark_failed_counts_attempts_and_reschedules(db: peewee.Database) -> None:
    item_id = outbox.add("push.rejected", {"push": 3}, now=T0)
    outbox.due(T0)
    retry_at = T0 + timedelta(minutes=5)
    outbox.mark_failed(item_id, "HTTP 502 from receiver " + "x" * 1000, retry_at)
    assert outbox.due(retry_at - timedelta(seconds=1)) == []
    (item,) = outbox.due(retry_at)
    assert item.attempts == 1
    assert item.last_error is not None and len(item.last_error) == outbox.MAX_ERROR_LEN
    assert item.last_error.startswith("HTTP 502")


def test_an_event_commits_or_rolls_back_with_the_change_it_announces(
    db: peewee.Database,
) -> None:
    push_id = queue.enqueue(
        repo="acme/widgets",
        pusher_subject="agent-7",
        pusher_groups=[],
        rule_name="r",
        reviewer_groups=[],
        approvals_required=1,
        expiry_s=60,
        summary={},
        payload=io.BytesIO(b"x"),
        now=T0,
    )
    with write_transaction():
        outcome = queue.approve(push_id, "alice", [], now=T0)
        outbox.add("push.approved", {"push": push_id}, now=T0)
    assert outcome.claimed
    with pytest.raises(RuntimeError, match="abort"), write_transaction():
        outbox.add("push.never", {}, now=T0)
        raise RuntimeError("abort")
    assert [i.event for i in outbox.due(T0, limit=10)] == ["push.approved"]
