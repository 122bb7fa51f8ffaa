"""The pushed pack's small blobs, kept as the unpack inflated them (issue #17).

The one-read unpack (gitgate.inspection.packindex) inflates every blob of the pack to hash it.
The checks then read many of those blobs again: the secrets check every new blob and the old
side of every modification (on a whole history most old sides are earlier pushed versions),
the LFS check the small ones. Read back from the quarantine's pack, each costs a dulwich
lookup, an inflation and, for a delta, its chain: ~0.8 s for the 12,000 reads of the
5,000-commit history. Keeping the bytes the unpack already has costs a dict entry.

Bounded, so memory stays flat whatever the push's size: blobs up to `max_blob` bytes, until
`budget` bytes in all; past that, blobs are simply not kept (the first ones of the pack stay:
git writes the newest versions first, the ones a modification's new side reads), and a
miss falls back to the object store. Dropped with the quarantine (`clear`).
"""

from __future__ import annotations

BUDGET_BYTES = 64 * 1024 * 1024  # per push, whatever the push's size
MAX_BLOB_BYTES = 1024 * 1024  # a bigger blob is read from the store when needed


class PackBlobs:
    """Blob bytes by hex id, within a byte budget; not thread-safe (one push, one thread)."""

    def __init__(self, budget: int = BUDGET_BYTES, max_blob: int = MAX_BLOB_BYTES) -> None:
        self.budget = budget
        self.max_blob = max_blob
        self.nbytes = 0
        self._data: dict[bytes, bytes] = {}

    def offer(self, hex_id: bytes, data: bytes) -> None:
        """Keep `data` under `hex_id` if it is small enough and the budget allows."""
        size = len(data)
        if size > self.max_blob or self.nbytes + size > self.budget or hex_id in self._data:
            return
        self._data[hex_id] = data
        self.nbytes += size

    def get(self, hex_id: bytes) -> bytes | None:
        return self._data.get(hex_id)

    @property
    def count(self) -> int:
        """How many blobs are kept (not `__len__`: an empty cache is still a cache)."""
        return len(self._data)

    def clear(self) -> None:
        """Forget every blob (the quarantine is closed: nothing will read them again)."""
        self._data.clear()
        self.nbytes = 0
