"""The queue's state machine (gitgate.store.queue), one transition at a time, on SQLite and
PostgreSQL: every way out of "pending", every way a relay ends, and every step the machine
refuses (the push then stays where it was).

    pending ──approve──▶ relaying ──finish──▶ relayed | stale | failed
       ├──reject / withdraw──▶ rejected          └──take_over / release (claimer died)
       ├──a push extending it──▶ superseded
       └──expire_due / approve after expiry──▶ expired
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import peewee
import pytest

from gitgate.db import connection
from gitgate.db.models import PUSH_STATES, QueuedPush
from gitgate.store import changes, queue
from gitgate.store.errors import InvalidTransition, UnknownPush
from gitgate.store.queue_rows import RELEASED, claimer_alive, claimer_id

T0 = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
PUSHER, REVIEWERS = "agent-7", ["maintainers"]


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def enqueue(approvals: int = 1, new: str = "b" * 40) -> int:
    return changes.enqueue_change(
        repo="acme/app",
        pusher_subject=PUSHER,
        summary={"ref_updates": [{"ref": "refs/heads/main", "old": "a" * 40, "new": new}]},
        supersedes=[],
        conflicts=[],
        pusher_groups=["agents"],
        rule_name="prod",
        reviewer_groups=REVIEWERS,
        approvals_required=approvals,
        expiry_s=3600,
        payload=io.BytesIO(b"PACK"),
        now=T0,
    ).id


def approve(push_id: int, who: str = "alice", minute: int = 1, **kw: Any) -> queue.ApprovalOutcome:
    return queue.approve(push_id, who, kw.pop("groups", REVIEWERS), now=at(minute), **kw)


def reject(
    push_id: int, who: str = "alice", reason: str = "not now", groups: list[str] = REVIEWERS
) -> queue.RejectionOutcome:
    return queue.reject(push_id, who, groups, reason, now=at(2))


def supersede(push_id: int) -> None:
    changes.enqueue_change(
        repo="acme/app",
        pusher_subject=PUSHER,
        summary={"ref_updates": [{"ref": "refs/heads/main", "old": "a" * 40, "new": "c" * 40}]},
        supersedes=[push_id],
        conflicts=[],
        pusher_groups=["agents"],
        rule_name="prod",
        reviewer_groups=REVIEWERS,
        approvals_required=1,
        expiry_s=3600,
        payload=io.BytesIO(b"PACK"),
    )


def state(push_id: int) -> str:
    info = queue.get(push_id)
    assert info is not None
    return info.state


def finished(end: str) -> Callable[[int], None]:
    def steps(push_id: int) -> None:
        approve(push_id)
        queue.finish(push_id, end, f"relay {end}", "ok refs/heads/main")

    return steps


# name -> (approvals required, the steps, the state they lead to)
ALLOWED: dict[str, tuple[int, Callable[[int], object], str]] = {
    "approve claims the relay": (1, approve, "relaying"),
    "relayed": (1, finished("relayed"), "relayed"),
    "stale (upstream moved)": (1, finished("stale"), "stale"),
    "failed": (1, finished("failed"), "failed"),
    "one of two approvals": (2, approve, "pending"),
    "two distinct reviewers": (2, lambda p: (approve(p), approve(p, "bob")), "relaying"),
    "reject": (1, reject, "rejected"),
    "the pusher withdraws": (1, lambda p: reject(p, PUSHER, groups=[]), "rejected"),
    "superseded by a push extending it": (1, supersede, "superseded"),
    "expire_due": (1, lambda p: queue.expire_due(at(61)), "expired"),
    "approve after expiry": (1, lambda p: approve(p, minute=61), "expired"),
    "approved while the gate cannot relay": (1, lambda p: approve(p, can_relay="no"), "pending"),
}


def test_every_allowed_transition(db: peewee.Database) -> None:
    reached: dict[str, str] = {}
    for name, (approvals, steps, _) in ALLOWED.items():
        push_id = enqueue(approvals, new=f"{len(reached) + 1:040d}")
        steps(push_id)
        reached[name] = state(push_id)
    assert reached == {name: end for name, (_, _, end) in ALLOWED.items()}
    assert set(reached.values()) == set(PUSH_STATES)  # every state is reachable


def test_refused_reviews_leave_the_push_as_it_was(db: peewee.Database) -> None:
    def outcome(push_id: int, step: Callable[[int], Any]) -> tuple[bool, str, str]:
        result = step(push_id)
        return result.recorded, result.message, state(push_id)

    p = enqueue(approvals=2)
    assert outcome(p, lambda i: approve(i, PUSHER, groups=REVIEWERS)) == (
        False, "the pusher can never approve its own push", "pending"
    )  # fmt: skip
    assert outcome(p, lambda i: approve(i, "eve", groups=["agents"])) == (
        False, f"eve is in none of the reviewer groups of push #{p}: maintainers", "pending"
    )  # fmt: skip
    approve(p)
    assert outcome(p, approve) == (
        False, f"alice has already approved push #{p} (1 of 2 approvals)", "pending"
    )  # fmt: skip
    assert outcome(p, lambda i: reject(i, "eve", groups=["agents"])) == (
        False, f"eve is in none of the reviewer groups of push #{p}: maintainers", "pending"
    )  # fmt: skip
    assert outcome(p, lambda i: reject(i, reason=" ")) == (
        False, "a rejection needs a reason", "pending"
    )  # fmt: skip


LEAVE_PENDING: dict[str, Callable[[int], object]] = {
    "rejected": reject,
    "relaying": approve,
    "relayed": finished("relayed"),
    "superseded": supersede,
    "expired": lambda p: queue.expire_due(at(61)),
}


def test_a_push_that_left_pending_takes_no_more_reviews(db: peewee.Database) -> None:
    for end, leave in LEAVE_PENDING.items():
        p = enqueue(new=end.encode().hex().ljust(40, "0"))
        leave(p)
        for step in (lambda: approve(p, "bob"), lambda: reject(p, "bob")):
            result = step()
            assert not result.recorded, end
            assert f"push #{p} is {end}, not pending" in result.message
            assert state(p) == end


def test_finish_only_once_and_only_from_relaying(db: peewee.Database) -> None:
    p = enqueue()
    with pytest.raises(InvalidTransition, match=f"push #{p} is pending, not relaying"):
        queue.finish(p, "relayed", "", "")
    approve(p)
    with pytest.raises(ValueError, match="finish state must be one of failed, relayed, stale"):
        queue.finish(p, "rejected", "", "")
    queue.finish(p, "relayed", "done", "ok refs/heads/main")
    with pytest.raises(InvalidTransition, match="is relayed, not relaying"):
        queue.finish(p, "failed", "", "")
    assert state(p) == "relayed"
    with pytest.raises(UnknownPush):
        approve(p + 1000)


def test_a_claim_is_taken_over_once_and_given_back(db: peewee.Database) -> None:
    p = enqueue()
    approve(p)
    info = queue.get(p)
    assert info is not None and info.claimed_by == claimer_id()
    dead = "elsewhere/boot/pidns:1"  # a claimer on another machine, long gone
    with connection():
        QueuedPush.update(claimed_by=dead).where(QueuedPush.id == p).execute()
    assert not queue.take_over(p, "elsewhere/boot/pidns:2")  # not the claimer the row has
    assert queue.take_over(p, dead)
    assert not queue.take_over(p, dead)  # exactly one taker
    taken = queue.get(p)
    assert taken is not None and taken.claimed_by == claimer_id()
    assert queue.release(p)
    after = queue.get(p)
    assert after is not None and (after.state, after.claimed_by) == ("relaying", RELEASED)
    assert claimer_alive(RELEASED) is False  # the next round of recovery takes it again
    assert not queue.release(p)  # only a claim this process holds
    pending = enqueue(new="e" * 40)
    assert not queue.take_over(pending, None)  # only a relaying push has a claim
