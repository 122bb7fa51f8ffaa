"""Reading a push that builds on commits the gate masked earlier.

The agent's next push names its own (unmasked) commits as parents and as the old id, and
its thin pack leaves them out: the gate never kept them (they hold the secret). Wrapped in
`Translated`, the quarantine answers for a mapped id with the rewritten object upstream has,
so the push is walked, diffed and scanned against the masked history: a later change to a
masked file shows the secret's line as added (it differs from the marker) and is masked again.
"""

from __future__ import annotations

from typing import Any

from dulwich.object_store import BaseObjectStore
from dulwich.objects import ObjectID, ShaFile


class Translated:
    """An object store view: ids in `known` (agent id -> upstream id) read as their masked
    counterpart; everything else as the wrapped store."""

    def __init__(self, store: BaseObjectStore, known: dict[bytes, bytes]) -> None:
        self._store = store
        self._known = known

    def __getitem__(self, oid: bytes) -> ShaFile:
        try:
            return self._store[ObjectID(oid)]
        except KeyError:
            mapped = self._known.get(oid)
            if mapped is None:
                raise
            return self._store[ObjectID(mapped)]

    def __contains__(self, oid: bytes) -> bool:
        return ObjectID(oid) in self._store or oid in self._known

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def translated(push: Any, known: dict[bytes, bytes]) -> None:
    """Make `push` (a gitgate.inspection.push.Push) read mapped ids as their masked objects, and
    count
    them as upstream's (its walks stop there: upstream has their masked copies)."""
    mirror_has = push.upstream_has
    push.store = Translated(push.store, known)
    push.upstream_has = lambda oid: mirror_has(oid) or oid in known
    push.translate = lambda oid: known.get(oid, oid)
    push.known = known
