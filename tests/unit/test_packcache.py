"""What the unpack keeps for the checks (gitgate/inspection/packcache.py): blobs bounded per
blob and in all, commits within the same budget, first come first kept, forgotten with the
quarantine; a Push reads them before its store, and falls back to the store on a miss."""

from __future__ import annotations

from dulwich.object_store import MemoryObjectStore
from dulwich.objects import Blob, Commit, Tree

from gitgate.inspection.packcache import COMMIT_OVERHEAD, PackCache
from gitgate.inspection.push import Push, new_commits


def test_blobs_are_kept_within_the_bounds() -> None:
    cache = PackCache(budget=10, max_blob=6)
    cache.offer_blob(b"a", b"1234")
    cache.offer_blob(b"big", b"1234567")  # over the per-blob bound
    cache.offer_blob(b"b", b"12345")
    cache.offer_blob(b"c", b"12")  # over the budget (4 + 5 + 2 > 10): not kept, nothing evicted
    cache.offer_blob(b"d", b"1")
    assert (cache.blob(b"a"), cache.blob(b"b"), cache.blob(b"d")) == (b"1234", b"12345", b"1")
    assert cache.blob(b"big") is None and cache.blob(b"c") is None
    assert (cache.count, cache.nbytes) == (3, 10)
    cache.offer_blob(b"a", b"")  # an id is kept once
    assert cache.blob(b"a") == b"1234" and cache.nbytes == 10


def _commit(message: bytes, parents: list[bytes] | None = None) -> Commit:
    c = Commit()
    c.tree = Tree().id
    c.parents = parents or []
    c.author = c.committer = b"t <t@e>"
    c.author_time = c.commit_time = 0
    c.author_timezone = c.commit_timezone = 0
    c.message = message
    return c


def test_commits_share_the_budget() -> None:
    one, two = _commit(b"one"), _commit(b"two")
    cache = PackCache(budget=COMMIT_OVERHEAD + 300)
    cache.offer_commit(one, 200)
    cache.offer_commit(two, 200)  # charged 200 + COMMIT_OVERHEAD: over the budget
    assert cache.commit(one.id) is one and cache.commit(two.id) is None
    assert cache.nbytes == 200 + COMMIT_OVERHEAD
    cache.offer_blob(b"a", b"x" * 100)
    cache.offer_blob(b"b", b"y")  # the budget is spent
    assert cache.blob(b"a") == b"x" * 100 and cache.blob(b"b") is None


def test_clear_forgets_everything() -> None:
    cache = PackCache()
    cache.offer_blob(b"a", b"x")
    commit = _commit(b"m")
    cache.offer_commit(commit, 100)
    cache.clear()
    assert cache.blob(b"a") is None and cache.commit(commit.id) is None
    assert (cache.count, cache.nbytes) == (0, 0)


def test_a_push_reads_kept_blobs_before_its_store() -> None:
    store = MemoryObjectStore()
    stored = Blob.from_string(b"from the store")
    store.add_object(stored)
    cache = PackCache()
    kept = Blob.from_string(b"kept by the unpack")
    cache.offer_blob(kept.id, kept.as_raw_string())  # not in the store: only the cache answers
    push = Push("r", [], store, lambda _: False, [], 0, pack_cache=cache)
    assert push.blob_data(kept.id) == b"kept by the unpack"
    assert push.blob_data(stored.id) == b"from the store"  # a miss falls back to the store
    assert Push("r", [], store, lambda _: False, [], 0).blob_data(stored.id) == b"from the store"


def test_the_walk_of_new_commits_reads_kept_commits_before_the_store() -> None:
    store = MemoryObjectStore()
    root = _commit(b"root")
    store.add_object(root)  # only in the store
    tip = _commit(b"tip", [root.id])  # only in the cache
    cache = PackCache()
    cache.offer_commit(tip, 200)
    walked = new_commits(store, tip.id, lambda _: False, cache)
    assert [c.id for c in walked] == [tip.id, root.id]
    assert [c.id for c in new_commits(store, root.id, lambda _: False)] == [root.id]
