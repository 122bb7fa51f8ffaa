"""What the unpack read of the pushed pack, kept for the push's checks (issue #17).

The one-read unpack (gitgate.inspection.packindex) inflates every object of the pack to hash
it, and parses every commit to validate it. Building the push and the checks then read many of
them again: every new commit (the walk from the tip), every new blob and the old side of every
modification (the secrets check; on a whole history most old sides are earlier pushed
versions), the small blobs (the LFS check). Read back from the quarantine's pack, each costs a
dulwich lookup, an inflation, a delta chain and, for a commit, a parse: ~0.8 s for the 12,000
blob reads of the 5,000-commit history, ~0.3 s for its 5,001 commits. Keeping what the unpack
already had costs a dict entry.

Bounded, so memory stays flat whatever the push's size: blobs up to `max_blob` bytes, blobs and
commits `budget` bytes in all (a parsed commit is charged its size plus COMMIT_OVERHEAD, what
dulwich's object adds); past that nothing more is kept (the first objects of the pack stay:
git writes the newest versions first) and a miss falls back to the object store. Dropped with
the quarantine (`clear`). Not thread-safe: one push, one thread.
"""

from __future__ import annotations

from dulwich.objects import Commit

BUDGET_BYTES = 64 * 1024 * 1024  # per push, whatever the push's size
MAX_BLOB_BYTES = 1024 * 1024  # a bigger blob is read from the store when needed
COMMIT_OVERHEAD = 1024  # a parsed dulwich Commit's fields, beyond its raw bytes (measured ~900)


class PackCache:
    """Blob bytes and parsed commits by hex id, within one byte budget."""

    def __init__(self, budget: int = BUDGET_BYTES, max_blob: int = MAX_BLOB_BYTES) -> None:
        self.budget = budget
        self.max_blob = max_blob
        self.nbytes = 0
        self._blobs: dict[bytes, bytes] = {}
        self._commits: dict[bytes, Commit] = {}

    def offer_blob(self, hex_id: bytes, data: bytes) -> None:
        """Keep `data` under `hex_id` if it is small enough and the budget allows."""
        size = len(data)
        if size > self.max_blob or self.nbytes + size > self.budget or hex_id in self._blobs:
            return
        self._blobs[hex_id] = data
        self.nbytes += size

    def offer_commit(self, commit: Commit, raw_size: int) -> None:
        """Keep a commit the unpack parsed (its id set), if the budget allows."""
        size = raw_size + COMMIT_OVERHEAD
        if self.nbytes + size > self.budget:
            return
        hex_id = commit.id
        if hex_id not in self._commits:
            self._commits[hex_id] = commit
            self.nbytes += size

    def blob(self, hex_id: bytes) -> bytes | None:
        return self._blobs.get(hex_id)

    def commit(self, hex_id: bytes) -> Commit | None:
        return self._commits.get(hex_id)

    @property
    def count(self) -> int:
        """How many objects are kept (not `__len__`: an empty cache is still a cache)."""
        return len(self._blobs) + len(self._commits)

    def commit_ids(self) -> list[bytes]:
        """The hex ids of the commits kept (all the pack's, unless the budget ran out)."""
        return list(self._commits)

    def clear(self) -> None:
        """Forget everything (the quarantine is closed: nothing will read them again)."""
        self._blobs.clear()
        self._commits.clear()
        self.nbytes = 0
