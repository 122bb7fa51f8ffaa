"""One open object store per mirror and worker process, shared by that worker's pushes.

Opening a mirror's store per push meant re-reading its pack directory and re-mapping every
pack index for each push. A warm store keeps them open. What makes sharing it safe:

- dulwich reads packs through mmap and locks its caches, but opening and dropping packs
  (`_update_pack_cache`, run on a lookup miss too) mutates a plain dict: `SharedStore`
  serialises that.
- Packs change under it: fetches and adopted pushes add packs, consolidation removes some
  (only while no push holds the mirror's `in_use` lock). Each borrow, made under that lock,
  rescans the pack directory, so a push sees the packs of the moment and removed packs are
  unmapped (their disk space freed) by the next push.
- A mirror deleted and made again (they are caches) is a new directory: the store is
  replaced when the objects directory's inode changes.
- At most `max_repos` idle stores stay open (least recently used are closed); a store in use
  is never closed under its borrower.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from dulwich.object_store import BaseObjectStore, DiskObjectStore
from dulwich.pack import Pack


class SharedStore(DiskObjectStore):
    """A DiskObjectStore whose pack-cache updates are serialised across threads."""

    def __init__(self, path: str) -> None:
        self._cache_lock = threading.RLock()
        super().__init__(path)

    def _update_pack_cache(self) -> list[Pack]:
        with self._cache_lock:
            return super()._update_pack_cache()

    def _evict_pack(self, pack: object) -> None:
        with self._cache_lock:
            super()._evict_pack(pack)  # type: ignore[arg-type]

    def refresh(self) -> None:
        """Pick up new packs and drop removed ones now."""
        self._update_pack_cache()


class QuarantineStore(DiskObjectStore):
    """A quarantine's own objects, with one alternate given as an open store.

    dulwich opens alternates itself from their paths (and closes them with the store); the
    mirror's warm store must be shared instead, and outlive this push. `alternates` is the
    public property dulwich's lookups go through, so no private attribute is set.
    """

    def __init__(self, path: str, alternate: BaseObjectStore) -> None:
        super().__init__(path)
        self._shared = [alternate]

    @property
    def alternates(self) -> list[BaseObjectStore]:
        return self._shared


@dataclass
class _Entry:
    store: SharedStore
    inode: int
    users: int = 0
    retired: bool = False


class WarmStores:
    """The warm stores of one process, by mirror path."""

    def __init__(self, max_repos: int = 32) -> None:
        self.max_repos = max_repos
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    @contextlib.contextmanager
    def borrow(self, objects: Path) -> Iterator[SharedStore]:
        """The warm store of the object directory `objects`, rescanned, for one user."""
        key = str(objects)
        inode = os.stat(objects).st_ino
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.inode != inode:
                self._retire(self._entries.pop(key))
                entry = None
            if entry is None:
                entry = _Entry(SharedStore(key), inode)
                self._entries[key] = entry
            self._entries.move_to_end(key)
            entry.users += 1
            self._trim()
        try:
            entry.store.refresh()
            yield entry.store
        finally:
            with self._lock:
                entry.users -= 1
                if entry.retired and entry.users == 0:
                    entry.store.close()

    def close(self) -> None:
        with self._lock:
            while self._entries:
                self._retire(self._entries.popitem()[1])

    def _trim(self) -> None:
        for key in list(self._entries):
            if len(self._entries) <= self.max_repos:
                return
            if self._entries[key].users == 0:
                self._retire(self._entries.pop(key))

    @staticmethod
    def _retire(entry: _Entry) -> None:
        entry.retired = True
        if entry.users == 0:
            entry.store.close()
