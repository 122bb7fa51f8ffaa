"""gitgate.store.changes: one queue entry per change, on SQLite and PostgreSQL, races included."""

from __future__ import annotations

import io
import threading
from typing import Any

import peewee

from gitgate.store import changes, queue

OLD, NEW, NEWER = "1" * 40, "2" * 40, "3" * 40


def _change(pusher: str = "agent-7", new: str = NEW, **kw: Any) -> changes.Enqueued:
    return changes.enqueue_change(
        repo="acme/app",
        pusher_subject=pusher,
        summary={"ref_updates": [{"ref": "refs/heads/main", "old": OLD, "new": new}]},
        supersedes=kw.pop("supersedes", ()),
        conflicts=kw.pop("conflicts", ()),
        pusher_groups=["agents"],
        rule_name="prod",
        reviewer_groups=["maintainers"],
        approvals_required=1,
        expiry_s=3600,
        payload=io.BytesIO(b"0000PACK"),
    )


def test_an_identical_pending_change_is_the_same_entry(db: peewee.Database) -> None:
    first = _change()
    again = _change()
    assert (again.id, again.duplicate) == (first.id, True)
    other = _change(pusher="agent-8")  # someone else's identical change is their own entry
    assert not other.duplicate and other.id != first.id
    assert len(queue.list_pushes("pending")) == 2


def test_only_a_pending_entry_is_superseded(db: peewee.Database) -> None:
    first = _change()
    later = _change(new=NEWER, supersedes=[first.id])
    assert later.superseded == (first.id,)
    old = queue.get(first.id)
    assert old is not None and old.state == "superseded" and old.superseded_by == later.id
    assert old.told_at is not None  # the agent is told in the answer to the later push
    assert queue.approve(later.id, "alice", ["maintainers"]).claimed  # now relaying
    third = _change(new="4" * 40, supersedes=[later.id], conflicts=[later.id])
    assert third.superseded == () and third.conflicts == (later.id,)
    still = queue.get(later.id)
    assert still is not None and still.state == "relaying"


def test_identical_retries_racing_make_one_entry(db: peewee.Database) -> None:
    for _ in range(5):
        barrier = threading.Barrier(4, timeout=30)
        results: list[changes.Enqueued] = []
        errors: list[BaseException] = []

        def retry() -> None:
            try:
                barrier.wait()
                results.append(_change(new=NEWER))
            except BaseException as ex:
                errors.append(ex)

        threads = [threading.Thread(target=retry) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
        assert len({r.id for r in results}) == 1
        assert sum(not r.duplicate for r in results) == 1
        for p in queue.list_pushes("pending"):  # next round starts from nothing pending
            queue.reject(p.id, "agent-7", [], "withdrawn")
