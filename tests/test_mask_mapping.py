"""gitgate.mask.mapping on SQLite and PostgreSQL: the id map any gate instance can read."""

from __future__ import annotations

import io

import peewee
from dulwich.objects import Blob, Commit, Tree

from gitgate.db import connection
from gitgate.db.models import QueuedPush
from gitgate.mask import mapping
from gitgate.store import queue


def _ids(n: int) -> bytes:
    return (f"{n:02d}" * 20).encode()


def test_map_roundtrip_and_own_tips_per_identity(db: peewee.Database) -> None:
    blob = Blob.from_string(b"x = 1\n")
    tree = Tree()
    tree.add(b"a.py", 0o100644, blob.id)
    maps = {
        "commit": {_ids(1): _ids(2)},
        "tree": {tree.id: _ids(4)},
        "blob": {_ids(5): _ids(6)},
        "tag": {},
    }
    assert mapping.save("acme/app", "alice", maps, {tree.id: tree}) == 3
    # saving the same ids again keeps the first rows (another instance may race us)
    assert mapping.save("acme/app", "alice", maps, {tree.id: tree}) == 3
    known = mapping.load("acme/app")
    assert known == {_ids(1): _ids(2), tree.id: _ids(4), _ids(5): _ids(6)}
    assert mapping.load("acme/other") == {}
    # only the identity that pushed is shown its own tip, and only for commits and tags
    assert mapping.own_tips("acme/app", "alice", [_ids(2), _ids(4), _ids(6)]) == {_ids(2): _ids(1)}
    assert mapping.own_tips("acme/app", "bob", [_ids(2)]) == {}
    # once alice fetched (was given the masked commits) she is shown upstream as it is
    assert mapping.synced("acme/app", "alice") == 3
    assert mapping.own_tips("acme/app", "alice", [_ids(2)]) == {}
    assert mapping.load("acme/app")[_ids(1)] == _ids(2)  # the map itself stays
    assert mapping.own_tips("acme/app", "alice", []) == {}
    # the agent's own tree is kept whole (names and ids); a blob never is
    originals = mapping.originals("acme/app")
    assert [o.id for o in originals] == [tree.id]
    assert isinstance(originals[0], Tree)


def test_map_keeps_clean_commits_not_blobs(db: peewee.Database) -> None:
    commit = Commit()
    commit.tree = Tree().id
    commit.author = commit.committer = b"A <a@example.com>"
    commit.author_time = commit.commit_time = 1700000000
    commit.author_timezone = commit.commit_timezone = 0
    commit.message = b"clean\n"
    secret = Blob.from_string(b"KEY = 'AKIA...'\n")
    maps = {"commit": {commit.id: _ids(7)}, "blob": {secret.id: _ids(8)}}
    mapping.save("acme/app", "alice", maps, {commit.id: commit, secret.id: secret})
    assert [o.id for o in mapping.originals("acme/app")] == [commit.id]


def _queued(repo: str, state: str) -> int:
    push_id = queue.enqueue(
        repo=repo,
        pusher_subject="alice",
        pusher_groups=[],
        rule_name="r",
        reviewer_groups=[],
        approvals_required=1,
        expiry_s=3600,
        summary={},
        payload=io.BytesIO(b"x"),
    )
    with connection():
        QueuedPush.update(state=state).where(QueuedPush.id == push_id).execute()
    return push_id


def test_purge_pending_drops_maps_of_pushes_that_ended_unrelayed(db: peewee.Database) -> None:
    kept_states = ("pending", "relaying", "relayed")
    dropped_states = ("rejected", "expired", "stale", "failed", "superseded")
    ids = {state: _queued("acme/app", state) for state in (*kept_states, *dropped_states)}
    for n, push_id in enumerate(ids.values()):
        maps = {"commit": {_ids(n): _ids(50 + n)}, "blob": {_ids(20 + n): _ids(70 + n)}}
        assert mapping.save(mapping.pending_repo("acme/app", push_id), "alice", maps) == 2
    missing = max(ids.values()) + 1000  # an entry that no longer exists
    assert mapping.save(mapping.pending_repo("acme/app", missing), "a", {"tag": {_ids(9): _ids(8)}})
    # the id of an entry of another repo: not these maps' entry (three names share one id)
    others = [mapping.pending_repo(r, ids["pending"]) for r in ("acme/other", "zeta/z")]
    for other in others:
        assert mapping.save(other, "a", {"tag": {_ids(9): _ids(8)}}) == 1
    assert mapping.save("acme/app", "alice", {"commit": {_ids(97): _ids(98)}}) == 1
    assert mapping.save("odd#queued/x", "a", {"tag": {_ids(9): _ids(8)}}) == 1  # unparsable

    assert mapping.purge_pending() == 2 * len(dropped_states) + 3

    for state, push_id in ids.items():
        left = mapping.load(mapping.pending_repo("acme/app", push_id))
        assert len(left) == (2 if state in kept_states else 0), state
    assert mapping.load(mapping.pending_repo("acme/app", missing)) == {}
    assert all(mapping.load(other) == {} for other in others)
    assert mapping.load("acme/app") == {_ids(97): _ids(98)}  # adopted maps are never touched
    assert mapping.load("odd#queued/x") == {_ids(9): _ids(8)}
    assert mapping.purge_pending() == 0
