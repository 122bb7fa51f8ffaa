"""Index a pushed pack where it lies: one full read, the left-over deltas, then an index.

dulwich's `add_thin_pack` inflated every object four times (gitgate.packlimits' size pre-pass,
its stream copy, its delta-resolving index pass, and a post-write validation that re-inflates
and parses every object), and wrote the pack a second time. Here:

1. `packlimits.scan_pack` reads the pack once: the size limits from the headers before
   anything is inflated (a zip bomb is still refused unread), and, from the same inflated
   bytes, each whole object's id, each entry's CRC32 and the pack's checksum. `_Bases`
   resolves most deltas during that read, from a bounded cache of recent objects (as git's
   index-pack does), and has dulwich parse every commit, tree and tag, whole or built (the
   validation `_complete_pack` ran afterwards).
2. dulwich's own delta-chain walker (`UnpackedObjectIterator`) resolves what is left (a base
   too big to cache, evicted, later in the pack, or outside it), fed with those deltas and
   their chains; a thin pack's outside bases come from the quarantine's store (the mirror):
   a base it lacks raises `UnresolvedDeltas`.
3. A thin pack is completed in place (dulwich's `extend_pack` appends the bases), and the
   index is written beside it by dulwich's `write_pack_index`.

The pack file is never copied: it becomes the quarantine's pack by a hard link. Relies on
dulwich internals of the pinned version (the walker's `record`/`set_pack_data`, `extend_pack`,
`PackData`, `apply_delta`): `DULWICH` below, checked on import.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import dulwich
from dulwich.object_format import ObjectFormat
from dulwich.object_store import DiskObjectStore
from dulwich.objects import Commit, ObjectID, RawObjectID, ShaFile, parse_tree
from dulwich.pack import (
    DELTA_TYPES,
    PackData,
    UnpackedObject,
    UnpackedObjectIterator,
    apply_delta,
    extend_pack,
    write_pack_index,
)

from gitgate.inspection.packcache import PackCache
from gitgate.inspection.packlimits import Entry, PackFormatError, Scan, scan_pack

DULWICH = (1, 2, 21)  # the version whose pack internals this module was written against
if tuple(dulwich.__version__) != DULWICH:  # pragma: no cover - caught by the test suite
    raise ImportError(
        f"gitgate.inspection.packindex needs dulwich {DULWICH}, not {dulwich.__version__}"
    )

TREE, BLOB = 2, 3
NAMES = {1: b"commit", 2: b"tree", 3: b"blob", 4: b"tag"}
IndexEntry = tuple[bytes, int, int | None]
CACHE_BYTES = 32 * 1024 * 1024  # recent objects kept as delta bases while the pack is read
KEEP_BYTES = 1024 * 1024  # a bigger object is never a cached base: its deltas wait for step 2


Validate = Callable[[int, list[bytes], RawObjectID | None], ShaFile | None]


def validator(fmt: ObjectFormat) -> Validate:
    """dulwich's parse of a commit, tree or tag (what its post-write validation ran). The
    commit or tag parsed is returned (with its id, when given), a tree is not built."""

    def validate(kind: int, chunks: list[bytes], sha: RawObjectID | None = None) -> ShaFile | None:
        try:
            if kind == TREE:  # what Tree._deserialize runs, without building the Tree
                parse_tree(b"".join(chunks), sha_len=fmt.oid_length)
                return None
            oid = ObjectID(sha.hex().encode()) if sha is not None else None
            return ShaFile.from_raw_chunks(kind, chunks, oid, object_format=fmt)
        except Exception as ex:  # dulwich raises several types; none may quote the bytes
            raise PackFormatError(f"the pack is corrupt (a malformed {_name(kind)})") from ex

    return validate


def _name(kind: int) -> str:
    return NAMES.get(kind, b"object").decode()


def index_in_place(
    store: DiskObjectStore,
    pack: BinaryIO,
    path: Path,
    *,
    max_object_bytes: int,
    max_inflated_bytes: int,
    blob_sizes: dict[bytes, int] | None = None,
    cache: PackCache | None = None,
) -> Path:
    """Check and index the pack file at `path` (`pack`: it open for reading and writing) and
    link it into `store`'s pack directory; return the pack's path there. `blob_sizes` gets
    the size of each blob in the pack (by hex id), which the read learnt for free; `cache`
    is offered each small blob's bytes and each commit as parsed, which the read had anyway
    (building the push and the checks read them next).

    Raises PackLimitExceeded / PackFormatError (nothing is linked), UnresolvedDeltas (a thin
    pack's base is in neither the pack nor the store: fetch and try again; the file is then
    unchanged). Once completed the file is a whole pack: indexing it again (a retry in a new
    quarantine) finds nothing to add.
    """
    fmt = store.object_format
    bases = _Bases(fmt, {} if blob_sizes is None else blob_sizes, cache)
    with open(path, "rb") as f:
        scan = scan_pack(
            f,
            max_object_bytes=max_object_bytes,
            max_inflated_bytes=max_inflated_bytes,
            hash_size=fmt.oid_length,
            new_hash=fmt.hash_func,
            on_entry=bases.read,
            keep_blob_bytes=KEEP_BYTES,
        )
    if os.path.getsize(path) != scan.end:  # git's index-pack: "pack has junk at the end"
        raise PackFormatError("the pack is corrupt (data after its end)")
    outside = OutsideBases(store, cache)
    entries, ext = _resolve(outside, path, scan, bases)
    checksum = scan.checksum
    if ext:
        pack.seek(0)
        checksum, extra = extend_pack(
            pack,
            ext,
            get_raw=outside.get_raw,
            object_format=fmt,
            compression_level=BASE_COMPRESSION,
        )
        pack.flush()
        entries.extend(extra)
    entries.sort()
    base = Path(store.pack_dir) / f"pack-{checksum.hex()}"
    target = base.with_suffix(".pack")
    if not target.exists():
        os.link(path, target)
    tmp = base.with_suffix(".idx.tmp")
    with open(tmp, "wb") as idx:
        write_pack_index(idx, entries, checksum, version=store.pack_index_version)
    os.chmod(tmp, 0o444)
    os.replace(tmp, base.with_suffix(".idx"))  # git and dulwich see a pack once its index is there
    return target


# The bases a thin pack is completed with are compressed at zlib's fastest level: they were
# deflated at level 6 most of the push's cost for a small push (a 20-file push appends ~13
# bases, ~5 ms at level 6, ~1.5 at level 1), and the pack lives in a quarantine or, adopted,
# in the mirror until its packs are consolidated (a few % larger there; a cache).
BASE_COMPRESSION = 1


class _Bases:
    """Resolves deltas while the pack is read, from the recent objects it keeps (as git's
    index-pack keeps a delta base cache): git writes a delta's base shortly before it, so
    most deltas never need step 2. Each object is validated here, whole or built."""

    def __init__(
        self, fmt: ObjectFormat, blob_sizes: dict[bytes, int], cache: PackCache | None = None
    ) -> None:
        self.fmt = fmt
        self.blob_sizes = blob_sizes
        self.cache_out = cache
        self.validate = validator(fmt)
        self.cache: OrderedDict[int, tuple[int, bytes]] = OrderedDict()  # offset: type, data
        self.offsets: dict[bytes, int] = {}  # id: offset, of the objects read so far
        self.cached = 0

    def read(self, e: Entry, chunks: list[bytes] | None) -> None:
        if e.base is None:
            assert e.sha is not None
            if e.kind != BLOB:
                assert chunks is not None
                self.parsed(self.validate(e.kind, chunks, RawObjectID(e.sha)), e.result)
            self.offsets[e.sha] = e.offset
            data = b"".join(chunks) if chunks is not None else None  # None: a blob too big
            if data is not None:
                self._keep(e.offset, e.kind, data)
            if e.kind == BLOB:
                self.found_blob(e.sha, e.result, None if data is None else [data])
            return
        at = e.base if isinstance(e.base, int) else self.offsets.get(e.base, -1)
        base = self.cache.get(at)
        if base is None or chunks is None:
            return  # resolved in step 2
        self.cache.move_to_end(at)
        kind, data = base[0], b"".join(apply_delta(base[1], chunks))
        if len(data) != e.result:
            raise PackFormatError("the pack is corrupt (a delta builds the wrong size)")
        sha = self.fmt.hash_func()
        sha.update(b"%s %d\0" % (NAMES[kind], len(data)))
        sha.update(data)
        e.sha = sha.digest()
        if kind != BLOB:
            self.parsed(self.validate(kind, [data], RawObjectID(e.sha)), len(data))
        self.offsets[e.sha] = e.offset
        if kind == BLOB:
            self.found_blob(e.sha, len(data), [data])
        self._keep(e.offset, kind, data)

    def parsed(self, obj: ShaFile | None, size: int) -> None:
        """A commit the validation parsed is kept: the walk of the new commits reads it next."""
        if isinstance(obj, Commit) and self.cache_out is not None:
            self.cache_out.offer_commit(obj, size)

    def found_blob(self, sha: bytes, size: int, chunks: list[bytes] | None) -> None:
        """A blob of the pack, read: its size, and its bytes when they are at hand (joined
        only when small enough to keep)."""
        hex_id = sha.hex().encode()
        self.blob_sizes[hex_id] = size
        out = self.cache_out
        if chunks is not None and out is not None and size <= out.max_blob:
            out.offer_blob(hex_id, b"".join(chunks))

    def _keep(self, offset: int, kind: int, data: bytes) -> None:
        if len(data) > KEEP_BYTES:
            return
        self.cache[offset] = (kind, data)
        self.cached += len(data)
        while self.cached > CACHE_BYTES:
            self.cached -= len(self.cache.popitem(last=False)[1][1])


class OutsideBases:
    """The objects a thin pack's deltas are built on, which the pack does not carry, read
    from the store once: the walker resolves the deltas with them, completing the pack
    appends them, and a modified file's old side is the secrets check's next read (offered
    to the push's PackCache). Each costs a search of the mirror's packs and an inflation; a
    20-file push names ~13. Memory: up to `budget` bytes of objects of at most KEEP_BYTES
    each; past that, reads go to the store again."""

    def __init__(
        self, store: DiskObjectStore, cache: PackCache | None, budget: int = CACHE_BYTES
    ) -> None:
        self.store, self.cache, self.budget = store, cache, budget
        self._raw: dict[bytes, tuple[int, bytes]] = {}

    def get_raw(self, oid: RawObjectID | ObjectID) -> tuple[int, bytes]:
        key = bytes.fromhex(oid.decode()) if len(oid) == 40 else bytes(oid)
        hit = self._raw.get(key)
        if hit is not None:
            return hit
        kind, data = self._read(oid)
        if len(data) <= KEEP_BYTES and len(data) <= self.budget:
            self.budget -= len(data)
            self._raw[key] = (kind, data)
        if kind == BLOB and self.cache is not None:
            self.cache.offer_blob(key.hex().encode(), data)
        return kind, data

    def _read(self, oid: RawObjectID | ObjectID) -> tuple[int, bytes]:
        """From the store's alternates first (a quarantine's: the mirror, where an outside
        base is), sparing each read a miss in the store's own packs, which rescans its pack
        directory and probes for a loose object; then the store (a masked push's originals)."""
        for alternate in self.store.alternates:
            try:
                return alternate.get_raw(oid)
            except KeyError:
                continue
        return self.store.get_raw(oid)


def _resolve(
    outside: OutsideBases, path: Path, scan: Scan, bases: _Bases
) -> tuple[list[IndexEntry], set[RawObjectID]]:
    """The index entries of every object, the deltas left over by the read resolved by
    dulwich's walker, and the outside bases a thin pack needs."""
    entries: list[IndexEntry] = [(e.sha, e.offset, e.crc32) for e in scan.entries if e.sha]
    pending = {e.offset: e for e in scan.entries if e.sha is None}
    if not pending:
        return entries, set()
    by_offset = {e.offset: e for e in scan.entries}
    by_sha = {e.sha: e for e in scan.entries if e.sha is not None}
    needed: set[int] = set()
    for e in pending.values():  # each left-over delta and its chain, down to a whole object
        cur: Entry | None = e
        while cur is not None and cur.offset not in needed:
            needed.add(cur.offset)
            if cur.base is None:
                break
            cur = by_offset.get(cur.base) if isinstance(cur.base, int) else by_sha.get(cur.base)
    fmt = bases.fmt
    walker = UnpackedObjectIterator(
        None, fmt.hash_func, resolve_ext_ref=outside.get_raw, object_format=fmt
    )
    for e in scan.entries:
        if e.offset not in needed:
            continue
        rel = e.offset - e.base if isinstance(e.base, int) else e.base
        walker.record(UnpackedObject(e.kind, delta_base=rel, offset=e.offset))
    validate = bases.validate
    resolved = 0
    with PackData(str(path), object_format=fmt) as data:
        walker.set_pack_data(data)
        try:
            for unpacked in walker:
                delta = pending.get(unpacked.offset or 0)
                if delta is None or unpacked.pack_type_num not in DELTA_TYPES:
                    continue  # indexed by the read already
                kind, chunks = unpacked.obj_type_num, unpacked.obj_chunks
                assert kind is not None and chunks is not None
                if sum(map(len, chunks)) != delta.result:
                    raise PackFormatError("the pack is corrupt (a delta builds the wrong size)")
                if kind != BLOB:
                    bases.parsed(validate(kind, chunks, unpacked.sha()), delta.result)
                else:
                    bases.found_blob(unpacked.sha(), delta.result, chunks)
                entries.append((unpacked.sha(), delta.offset, delta.crc32))
                resolved += 1
        except AssertionError:  # the walker's own checks: an OFS base that is no entry
            raise PackFormatError("the pack is corrupt (a delta without its base)") from None
    if resolved != len(pending):
        raise PackFormatError("the pack is corrupt (a delta without its base)")
    return entries, set(walker.ext_refs())
