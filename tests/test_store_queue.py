"""gitgate.store.queue: enqueue, stored bodies, and the approval state machine."""

from __future__ import annotations

import hashlib
import io
import json
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import peewee
import pytest

from gitgate.db import connection
from gitgate.db.models import PayloadChunk, QueuedPush
from gitgate.store import queue, queue_rows

T0 = datetime(2030, 5, 1, 12, 0, 0, tzinfo=UTC)
SUMMARY = {
    "ref_updates": [{"ref": "refs/heads/main", "old": "0" * 40, "new": "b" * 40}],
    "commits": 3,
    "changed_paths": [".github/workflows/ci.yml"],
    "findings": [],
    "protected_diffs": "--- a/.github/workflows/ci.yml\n+++ b/.github/workflows/ci.yml\n",
}


def _enqueue(payload: bytes = b"0000PACK...", **overrides: Any) -> int:
    fields: dict[str, Any] = {
        "repo": "acme/widgets",
        "pusher_subject": "agent-7",
        "pusher_groups": ["agents"],
        "rule_name": "protected-workflows",
        "reviewer_groups": ["maintainers"],
        "approvals_required": 1,
        "expiry_s": 3600,
        "summary": SUMMARY,
        "payload": io.BytesIO(payload),
        "now": T0,
    }
    fields.update(overrides)
    return queue.enqueue(**fields)


def _approve(push_id: int, reviewer: str, **kwargs: Any) -> queue.ApprovalOutcome:
    kwargs.setdefault("now", T0 + timedelta(minutes=1))
    return queue.approve(push_id, reviewer, kwargs.pop("groups", ["maintainers"]), **kwargs)


def test_enqueue_and_get(db: peewee.Database) -> None:
    push_id = _enqueue(b"hello")
    push = queue.get(push_id)
    assert push is not None
    assert (push.id, push.state, push.repo, push.pusher_subject) == (
        push_id,
        "pending",
        "acme/widgets",
        "agent-7",
    )
    assert push.created_at == T0 and push.expires_at == T0 + timedelta(hours=1)
    assert push.reviewer_groups == ("maintainers",) and push.pusher_groups == ("agents",)
    assert push.summary == SUMMARY and push.approvals_required == 1
    assert push.payload_size == 5
    assert push.payload_sha256 == hashlib.sha256(b"hello").hexdigest()
    assert push.decided_at is None and push.decisions == () and push.approvers == ()
    assert json.loads(json.dumps(push.to_dict()))["created_at"] == "2030-05-01T12:00:00+00:00"
    assert queue.get(push_id + 1000) is None


def test_enqueue_validates(db: peewee.Database) -> None:
    for overrides, needle in [
        ({"approvals_required": 0}, "approvals_required must be at least 1"),
        ({"expiry_s": 0}, "expiry_s must be positive"),
        ({"summary": {"findings": [{"type": "x", "secret": "hunter2"}]}}, "never a secret"),
    ]:
        with pytest.raises(ValueError, match=needle):
            _enqueue(**overrides)
    assert queue.list_pushes() == []


def test_list_pushes_newest_first_and_by_state(db: peewee.Database) -> None:
    first, second, third = _enqueue(), _enqueue(), _enqueue()
    assert _approve(second, "alice").claimed
    assert [p.id for p in queue.list_pushes()] == [third, second, first]
    assert [p.id for p in queue.list_pushes(state="pending")] == [third, first]
    assert [p.id for p in queue.list_pushes(state="relaying")] == [second]
    assert [p.id for p in queue.list_pushes(limit=1)] == [third]
    assert queue.list_pushes(state="relaying")[0].approvers == ("alice",)
    with pytest.raises(ValueError, match="state must be one of"):
        queue.list_pushes(state="approved")


def test_five_megabyte_payload_round_trip(db: peewee.Database) -> None:
    body = os.urandom(5 * 1024 * 1024 + 17)
    push_id = _enqueue(body)
    with connection():
        chunks = PayloadChunk.select().where(PayloadChunk.push == push_id).count()
    assert chunks == 6  # 1 MiB chunks, the last one short
    with queue.open_payload(push_id) as stored:
        assert stored.read() == body
    push = queue.get(push_id)
    assert push is not None and push.payload_size == len(body)


def test_empty_payload_round_trip(db: peewee.Database) -> None:
    push_id = _enqueue(b"")
    with queue.open_payload(push_id) as stored:
        assert stored.read() == b""


def test_corrupted_payload_is_detected(db: peewee.Database) -> None:
    body = b"0000" + b"PACK" * 300_000
    push_id = _enqueue(body)
    with connection():
        PayloadChunk.update(data=b"X" * (1 << 20)).where(
            PayloadChunk.push == push_id, PayloadChunk.seq == 0
        ).execute()
    with pytest.raises(queue.PayloadUnavailable, match="does not match its sha256"):
        queue.open_payload(push_id)


def test_missing_chunk_is_detected(db: peewee.Database) -> None:
    push_id = _enqueue(os.urandom(3 * (1 << 20)))
    with connection():
        PayloadChunk.delete().where(PayloadChunk.push == push_id, PayloadChunk.seq == 1).execute()
    with pytest.raises(queue.PayloadUnavailable, match="missing"):
        queue.open_payload(push_id)
    with pytest.raises(queue.UnknownPush, match="no queued push #999"):
        queue.open_payload(999)


def test_one_approval_claims_the_relay(db: peewee.Database) -> None:
    push_id = _enqueue()
    outcome = _approve(push_id, "alice", comment="looks fine")
    assert outcome == queue.ApprovalOutcome(
        recorded=True,
        approvals=1,
        required=1,
        claimed=True,
        message=f"approval recorded (1 of 1); push #{push_id} will be relayed",
    )
    push = queue.get(push_id)
    assert push is not None and push.state == "relaying"
    assert push.claimed_at == push.decided_at == T0 + timedelta(minutes=1)
    assert push.decisions[0].comment == "looks fine"
    assert push.decisions[0].reviewer_groups == ("maintainers",)
    late = _approve(push_id, "bob")
    assert (late.recorded, late.claimed) == (False, False)
    assert late.message == f"push #{push_id} is relaying, not pending (approved)"


def test_two_approvals_required(db: peewee.Database) -> None:
    push_id = _enqueue(approvals_required=2)
    first = _approve(push_id, "alice")
    assert (first.recorded, first.approvals, first.required, first.claimed) == (True, 1, 2, False)
    again = _approve(push_id, "alice")
    assert (again.recorded, again.claimed) == (False, False)
    assert "alice has already approved" in again.message and "1 of 2" in again.message
    second = _approve(push_id, "bob")
    assert (second.recorded, second.approvals, second.claimed) == (True, 2, True)
    push = queue.get(push_id)
    assert push is not None and push.approvers == ("alice", "bob")


@pytest.mark.parametrize("push_groups", [["*"], ["maintainers"], ["security"]])
def test_the_pusher_can_never_approve_its_own_push(
    db: peewee.Database, push_groups: list[str]
) -> None:
    push_id = _enqueue(reviewer_groups=push_groups)
    outcome = _approve(push_id, "agent-7", groups=["maintainers", "agents"])
    assert not outcome.recorded and not outcome.claimed
    assert outcome.message == "the pusher can never approve its own push"
    push = queue.get(push_id)
    assert push is not None and push.state == "pending" and push.decisions == ()


GROUP_CASES = [
    (["maintainers"], ["maintainers"], True),
    (["maintainers", "security"], ["security", "other"], True),
    (["maintainers"], ["agents"], False),
    (["maintainers"], [], False),
    (["*"], [], True),
    ([], [], True),
]


def test_reviewer_groups(db: peewee.Database) -> None:
    for push_groups, reviewer_groups, allowed in GROUP_CASES:
        push_id = _enqueue(reviewer_groups=push_groups)
        outcome = _approve(push_id, "alice", groups=reviewer_groups)
        assert outcome.recorded is allowed and outcome.claimed is allowed, push_groups
        if not allowed:
            assert "alice is in none of the reviewer groups" in outcome.message


def test_approval_after_expiry_is_refused_and_marks_the_push_expired(
    db: peewee.Database,
) -> None:
    push_id = _enqueue(expiry_s=60)
    outcome = _approve(push_id, "alice", now=T0 + timedelta(seconds=60))
    assert not outcome.recorded and not outcome.claimed
    assert "expired at 2030-05-01T12:01:00+00:00" in outcome.message
    push = queue.get(push_id)
    assert push is not None and push.state == "expired" and push.decisions == ()
    assert push.decided_at == T0 + timedelta(seconds=60)


def test_expire_due_expires_only_due_pending_pushes_once(db: peewee.Database) -> None:
    due = _enqueue(expiry_s=60)
    later = _enqueue(expiry_s=600)
    claimed = _enqueue(expiry_s=60)
    assert _approve(claimed, "alice", now=T0).claimed
    now = T0 + timedelta(seconds=61)
    assert queue.expire_due(now=now) == [due]
    assert queue.expire_due(now=now) == []
    states = {p.id: p.state for p in queue.list_pushes()}
    assert states == {due: "expired", later: "pending", claimed: "relaying"}


def test_reject(db: peewee.Database) -> None:
    push_id = _enqueue(approvals_required=2)
    assert _approve(push_id, "alice").recorded
    refused = queue.reject(push_id, "bob", ["maintainers"], "  ", now=T0)
    assert refused == queue.RejectionOutcome(False, "a rejection needs a reason")
    outsider = queue.reject(push_id, "eve", ["agents"], "nope", now=T0)
    assert not outsider.recorded and "none of the reviewer groups" in outsider.message
    later = T0 + timedelta(minutes=2)
    done = queue.reject(push_id, "bob", ["maintainers"], "touches CI secrets", now=later)
    assert done == queue.RejectionOutcome(True, f"push #{push_id} rejected")
    push = queue.get(push_id)
    assert push is not None and push.state == "rejected"
    assert push.state_reason == "rejected by bob: touches CI secrets"
    assert [d.verdict for d in push.decisions] == ["approve", "reject"]
    after = _approve(push_id, "carol")
    assert not after.recorded and "is rejected, not pending" in after.message
    assert not queue.reject(push_id, "carol", ["maintainers"], "too", now=later).recorded


def test_the_pusher_may_withdraw_its_own_push(db: peewee.Database) -> None:
    push_id = _enqueue()
    outcome = queue.reject(push_id, "agent-7", ["agents"], "pushed by mistake", now=T0)
    assert outcome.recorded
    push = queue.get(push_id)
    assert push is not None and push.state == "rejected"


def test_unknown_push_ids_raise(db: peewee.Database) -> None:
    with pytest.raises(queue.UnknownPush):
        queue.approve(999, "alice", ["maintainers"])
    with pytest.raises(queue.UnknownPush):
        queue.reject(999, "alice", ["maintainers"], "no")
    with pytest.raises(queue.UnknownPush):
        queue.finish(999, "relayed", "ok", "")


def test_finish_only_from_relaying(db: peewee.Database) -> None:
    push_id = _enqueue()
    with pytest.raises(queue.InvalidTransition, match="is pending, not relaying"):
        queue.finish(push_id, "relayed", "ok", "ok refs/heads/main")
    assert _approve(push_id, "alice").claimed
    with pytest.raises(ValueError, match="finish state must be one of"):
        queue.finish(push_id, "rejected", "no", "")
    queue.finish(push_id, "relayed", "upstream accepted", "ok refs/heads/main", now=T0)
    push = queue.get(push_id)
    assert push is not None
    assert (push.state, push.state_reason, push.relay_report, push.relayed_at) == (
        "relayed",
        "upstream accepted",
        "ok refs/heads/main",
        T0,
    )
    with pytest.raises(queue.InvalidTransition, match="is relayed"):
        queue.finish(push_id, "failed", "again", "")


def test_finish_stale_or_failed(db: peewee.Database) -> None:
    for state in ("stale", "failed"):
        push_id = _enqueue()
        assert _approve(push_id, "alice").claimed
        queue.finish(push_id, state, "upstream moved", "ng refs/heads/main stale info")
        push = queue.get(push_id)
        assert push is not None and push.state == state


def test_a_dead_claimers_relay_is_taken_over_once_and_a_live_ones_never(
    db: peewee.Database,
) -> None:
    import subprocess
    import sys

    dead = _enqueue()
    live = _enqueue()
    remote = _enqueue()
    assert _approve(dead, "alice", now=T0).claimed
    assert _approve(live, "alice", now=T0).claimed
    assert _approve(remote, "alice", now=T0).claimed
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    host = queue_rows.claimer_id().rpartition(":")[0]
    with connection():
        QueuedPush.update(claimed_by=f"{host}:{gone}").where(QueuedPush.id == dead).execute()
        QueuedPush.update(claimed_by="elsewhere:1").where(QueuedPush.id == remote).execute()
    now = T0 + timedelta(minutes=30)
    # no timer for a claimer on this host: its process is gone, whatever the claim's age
    assert [p.id for p in queue.interrupted(3600, now=now)] == [dead]
    # another host's claimer cannot be checked: only an old claim counts as interrupted
    assert [p.id for p in queue.interrupted(3600, now=T0 + timedelta(hours=2))] == [dead, remote]
    assert queue.take_over(dead, f"{host}:{gone}")
    assert not queue.take_over(dead, f"{host}:{gone}")  # exactly one taker
    assert queue.interrupted(3600, now=now) == []  # this process holds it now
    push = queue.get(dead)
    assert push is not None and push.state == "relaying"
    assert push.claimed_by == queue_rows.claimer_id() and push.approvers == ("alice",)
