"""Size limits read from a pack's object headers, before anything is inflated for real.

A 1 MB push can hold a blob that inflates to 1 GiB: zlib compresses zeros ~1000:1. Each pack
entry's header states its type and inflated size; a delta's own header (the first bytes of
its inflated data) states the size of the object it builds. The walk reads those sizes:

- an object (or a delta's result) over `max_object_bytes` is refused from its header alone,
  before a byte of it is inflated;
- the sum of all objects' sizes over `max_inflated_bytes` is refused (a zip bomb made of many
  objects, each small enough on its own).

The stream is inflated in bounded chunks: memory stays at a few hundred KiB whatever the pack
holds (unless the caller keeps objects: scan_pack), and time is bounded by
`max_inflated_bytes`. An entry that inflates to more than its header said is corrupt: the walk
stops there rather than trusting the stream. Since every byte is inflated here anyway, this
walk is also the pack's one full read when it is indexed (gitgate/inspection/packindex.py, issue
#17).
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from hashlib import _Hash as Hash

READ = 64 * 1024  # compressed bytes read at a time
OUT = 256 * 1024  # inflated bytes produced (and dropped) at a time
OFS_DELTA, REF_DELTA = 6, 7
TYPE_NAMES = {1: "commit", 2: "tree", 3: "blob", 4: "tag"}
HINT = "keep large files out of git (Git LFS or an artifact store), rewrite the commits "


class PackFormatError(Exception):
    """The pack is malformed; the message never quotes pack bytes."""


class PackLimitExceeded(Exception):
    """The pack is well formed so far but over a configured limit; the message is for the
    agent: what was too big, the limit, and what to do."""


def _mb(n: int) -> str:
    return f"{n / 1_000_000:,.1f} MB"


@dataclass(slots=True)
class Entry:
    """One pack entry as the walk found it. `base`: an OFS_DELTA's base offset (absolute), a
    REF_DELTA's base id, None for a whole object; `sha`: the object's id once known (a whole
    object's from the walk, a delta's once resolved); `result`: the object's size."""

    offset: int
    kind: int
    result: int
    base: int | bytes | None = None
    crc32: int = 0
    sha: bytes | None = None


@dataclass
class Scan:
    """What one walk of a pack found (scan_pack)."""

    total: int = 0  # inflated bytes, deltas counted by the size of what they build
    entries: list[Entry] = field(default_factory=list)
    checksum: bytes = b""  # the pack's trailer, checked against its content
    end: int = 0  # where the pack ends (after the trailer): anything after it is not the pack


class _Reader:
    """Buffered reads from the spool. Every read is a slice of the current buffer, so giving
    back the bytes after a zlib stream's end (always a tail of the last read) is just moving
    the position: no copying per object, which matters for packs of many small objects.

    With a hash, the bytes taken are also summed (the pack checksum, each entry's CRC32) a
    buffer at a time, when the buffer is used up or an entry ends (`settle`): given-back
    bytes are never summed, since they are always in the current buffer."""

    def __init__(self, f: BinaryIO, digest: Hash | None = None) -> None:
        self.f = f
        self.buf = b""
        self.pos = 0
        self.before = 0  # bytes of the buffers before this one
        self.digest = digest
        self.crc = 0
        self.mark = 0  # summed up to here in the current buffer

    def settle(self) -> None:
        if self.digest is not None and self.pos > self.mark:
            view = memoryview(self.buf)[self.mark : self.pos]
            self.digest.update(view)
            self.crc = zlib.crc32(view, self.crc)
            self.mark = self.pos

    def tell(self) -> int:
        return self.before + self.pos

    def _fill(self) -> None:
        if self.pos >= len(self.buf):
            self.settle()
            self.before += len(self.buf)
            self.buf, self.pos, self.mark = self.f.read(READ), 0, 0
            if not self.buf:
                raise PackFormatError("the pack is truncated")

    def take(self, n: int) -> bytes:
        """Up to `n` bytes (at least one)."""
        self._fill()
        data = self.buf[self.pos : self.pos + n]
        self.pos += len(data)
        return data

    def unread(self, n: int) -> None:
        """Give back the last `n` bytes taken."""
        self.pos -= n

    def byte(self) -> int:
        self._fill()
        self.pos += 1
        return self.buf[self.pos - 1]

    def exact(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            out += self.take(n - len(out))
        return out


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    """A delta header's size (little-endian base-128), or -1 if `data` ends first."""
    value = shift = 0
    while pos < len(data):
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, pos
        if shift > 63:
            raise PackFormatError("the pack is corrupt (a delta header is too long)")
    return -1, pos


def check_pack(
    f: BinaryIO, *, max_object_bytes: int, max_inflated_bytes: int, hash_size: int = 20
) -> int:
    """Walk the pack at `f`'s position; return the total inflated bytes, or raise
    PackLimitExceeded / PackFormatError. A limit of 0 means none."""
    scan = scan_pack(
        f,
        max_object_bytes=max_object_bytes,
        max_inflated_bytes=max_inflated_bytes,
        hash_size=hash_size,
    )
    return scan.total


# each entry as it is read, with its inflated data when kept (see scan_pack); may raise
OnEntry = Callable[[Entry, list[bytes] | None], None]


def scan_pack(
    f: BinaryIO,
    *,
    max_object_bytes: int,
    max_inflated_bytes: int,
    hash_size: int = 20,
    new_hash: Callable[[], Hash] | None = None,
    on_entry: OnEntry | None = None,
    keep_blob_bytes: int = 0,
) -> Scan:
    """Walk the pack at `f`'s position, enforcing the limits from the headers as above.

    With `new_hash` (the repository's object hash) the walk also records every entry (offset,
    base, CRC32; a whole object's id from its inflated bytes), checks the pack's trailing
    checksum, and hands each entry to `on_entry` with its inflated data kept for commits,
    trees, tags, deltas (all within the limits) and blobs up to `keep_blob_bytes`: a bigger
    blob is never held whole, its data is hashed and dropped as it is inflated."""
    r = _Reader(f, new_hash() if new_hash is not None else None)
    head = r.exact(12)
    if head[:4] != b"PACK" or int.from_bytes(head[4:8], "big") not in (2, 3):
        raise PackFormatError("the pack is corrupt (no pack header)")
    count = int.from_bytes(head[8:12], "big")
    scan = Scan()
    for index in range(count):
        r.settle()
        r.crc = 0
        offset = r.tell()
        byte = r.byte()
        kind, size, shift = (byte >> 4) & 7, byte & 0x0F, 4
        while byte & 0x80:
            byte = r.byte()
            size |= (byte & 0x7F) << shift
            shift += 7
            if shift > 70:
                raise PackFormatError("the pack is corrupt (an object header is too long)")
        base: int | bytes | None = None
        if kind == OFS_DELTA:
            byte = r.byte()
            distance = byte & 0x7F
            while byte & 0x80:
                byte = r.byte()
                distance = ((distance + 1) << 7) | (byte & 0x7F)
                if distance > offset:
                    raise PackFormatError("the pack is corrupt (a delta base before the pack)")
            base = offset - distance
        elif kind == REF_DELTA:
            base = r.exact(hash_size)
        elif kind not in TYPE_NAMES:
            raise PackFormatError(f"the pack is corrupt (object type {kind})")
        what = TYPE_NAMES.get(kind, "delta")
        _limit(size, max_object_bytes, f"a {what} in the pack inflates to", index)
        sha: Hash | None = None
        kept: list[bytes] | None = None
        if new_hash is not None:
            if base is None:
                sha = new_hash()
                sha.update(b"%s %d\0" % (what.encode(), size))
            if on_entry is not None and (kind != 3 or size <= keep_blob_bytes):
                kept = []
        result = _inflate(
            r,
            size,
            delta=base is not None,
            # checked as soon as the delta's header is out, before the rest is inflated
            check=functools.partial(
                _limit,
                limit=max_object_bytes,
                what="a delta in the pack builds an object of",
                index=index,
            ),
            sink=_sink(sha, kept),
        )
        scan.total += result
        if max_inflated_bytes and scan.total > max_inflated_bytes:
            raise PackLimitExceeded(
                f"the push inflates to more than {_mb(max_inflated_bytes)} in all (gate limit "
                "storage.max_inflated_bytes): split it into smaller pushes, or "
                f"{HINT}that added large files, and push again"
            )
        if r.digest is None:
            continue
        r.settle()
        entry = Entry(offset, kind, result, base, r.crc, sha.digest() if sha else None)
        scan.entries.append(entry)
        if on_entry is not None:
            on_entry(entry, kept)
    if r.digest is not None:
        r.settle()
        # What the trailer must equal is the sum of every byte before it; stop summing now,
        # since a read that ends inside the trailer would otherwise add its first bytes.
        summed, r.digest = r.digest.digest(), None
        scan.checksum = r.exact(hash_size)
        if scan.checksum != summed:
            raise PackFormatError("the pack is corrupt (its checksum does not match)")
        scan.end = r.tell()
    return scan


def _sink(sha: Hash | None, kept: list[bytes] | None) -> Callable[[bytes], None] | None:
    """Where an entry's inflated data goes: the object's hash, the kept chunks, both or none."""
    if sha is None or kept is None:
        return sha.update if sha is not None else (kept.append if kept is not None else None)

    def both(data: bytes) -> None:
        sha.update(data)
        kept.append(data)

    return both


def _limit(size: int, limit: int, what: str, index: int) -> None:
    if limit and size > limit:
        raise PackLimitExceeded(
            f"{what} {_mb(size)} (object {index + 1}), over the gate's limit of {_mb(limit)} "
            f"per object (storage.max_object_bytes): {HINT}that added it, and push again"
        )


def _inflate(
    r: _Reader,
    size: int,
    *,
    delta: bool,
    check: Callable[[int], None],
    sink: Callable[[bytes], None] | None = None,
) -> int:
    """Inflate one entry's stream, handing the output to `sink` (or dropping it); return the
    object's size (a delta's result size, read from its header). Input is fed in growing
    steps: most objects are small, and what zlib reads past their end is given back."""
    d = zlib.decompressobj()
    produced = 0
    head = b""
    result = -1 if delta else size
    step = 1024
    while not d.eof:
        data = d.unconsumed_tail or r.take(step)
        step = min(step * 2, READ)
        try:
            out = d.decompress(data, OUT)
        except zlib.error:
            raise PackFormatError("the pack is corrupt (bad compressed data)") from None
        produced += len(out)
        if produced > size:
            raise PackFormatError("the pack is corrupt (an object is larger than its header)")
        if sink is not None and out:
            sink(out)
        if result < 0 and out:
            head += out[:32]
            _base, pos = _varint(head, 0)
            if _base >= 0:
                result, _ = _varint(head, pos)
                if result >= 0:
                    check(result)
    r.unread(len(d.unused_data))
    if produced != size or result < 0:
        raise PackFormatError("the pack is corrupt (an object is smaller than its header)")
    return result
