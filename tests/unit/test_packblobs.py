"""The pushed pack's kept blobs (gitgate/inspection/packblobs.py): bounded per blob and in
all, first come first kept, forgotten with the quarantine; and a Push reads them before its
store."""

from __future__ import annotations

from dulwich.object_store import MemoryObjectStore
from dulwich.objects import Blob

from gitgate.inspection.packblobs import PackBlobs
from gitgate.inspection.push import Push


def test_blobs_are_kept_within_the_bounds() -> None:
    blobs = PackBlobs(budget=10, max_blob=6)
    blobs.offer(b"a", b"1234")
    blobs.offer(b"big", b"1234567")  # over the per-blob bound
    blobs.offer(b"b", b"12345")
    blobs.offer(b"c", b"12")  # over the budget (4 + 5 + 2 > 10): not kept, nothing evicted
    blobs.offer(b"d", b"1")
    assert (blobs.get(b"a"), blobs.get(b"b"), blobs.get(b"d")) == (b"1234", b"12345", b"1")
    assert blobs.get(b"big") is None and blobs.get(b"c") is None
    assert (blobs.count, blobs.nbytes) == (3, 10)
    blobs.offer(b"a", b"")  # an id is kept once
    assert blobs.get(b"a") == b"1234" and blobs.nbytes == 10


def test_clear_forgets_everything() -> None:
    blobs = PackBlobs()
    blobs.offer(b"a", b"x")
    blobs.clear()
    assert blobs.get(b"a") is None and (blobs.count, blobs.nbytes) == (0, 0)


def test_a_push_reads_kept_blobs_before_its_store() -> None:
    store = MemoryObjectStore()
    stored = Blob.from_string(b"from the store")
    store.add_object(stored)
    blobs = PackBlobs()
    kept = Blob.from_string(b"kept by the unpack")
    blobs.offer(kept.id, kept.as_raw_string())  # not in the store: only the cache can answer
    push = Push("r", [], store, lambda _: False, [], 0, pack_blobs=blobs)
    assert push.blob_data(kept.id) == b"kept by the unpack"
    assert push.blob_data(stored.id) == b"from the store"  # a miss falls back to the store
    assert Push("r", [], store, lambda _: False, [], 0).blob_data(stored.id) == b"from the store"
