"""gitgate.mask.mapping on SQLite and PostgreSQL: the id map any gate instance can read."""

from __future__ import annotations

import peewee
from dulwich.objects import Blob, Commit, Tree

from gitgate.mask import mapping


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
