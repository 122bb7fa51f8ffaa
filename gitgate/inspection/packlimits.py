"""Size limits read from a pack's object headers, before anything is inflated for real.

A 1 MB push can hold a blob that inflates to 1 GiB: zlib compresses zeros ~1000:1. dulwich
inflates each object whole into memory (and resolves deltas whole), so the limits must hold
before the pack reaches it. Each pack entry's header states its type and inflated size; a
delta's own header (the first bytes of its inflated data) states the size of the object it
builds. This pre-pass walks the spooled pack once, reading those sizes:

- an object (or a delta's result) over `max_object_bytes` is refused from its header alone,
  before a byte of it is inflated;
- the sum of all objects' sizes over `max_inflated_bytes` is refused (a zip bomb made of many
  objects, each small enough on its own).

To find where the next entry starts the compressed stream must still be inflated, but in
bounded chunks whose output is dropped: memory stays at a few hundred KiB whatever the pack
holds, and time is bounded by `max_inflated_bytes`. An entry that inflates to more than its
header said is corrupt: the walk stops there rather than trusting the stream.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Callable
from typing import BinaryIO

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


class _Reader:
    """Buffered reads from the spool. Every read is a slice of the current buffer, so giving
    back the bytes after a zlib stream's end (always a tail of the last read) is just moving
    the position: no copying per object, which matters for packs of many small objects."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.buf = b""
        self.pos = 0

    def _fill(self) -> None:
        if self.pos >= len(self.buf):
            self.buf, self.pos = self.f.read(READ), 0
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
    r = _Reader(f)
    head = r.exact(12)
    if head[:4] != b"PACK" or int.from_bytes(head[4:8], "big") not in (2, 3):
        raise PackFormatError("the pack is corrupt (no pack header)")
    count = int.from_bytes(head[8:12], "big")
    total = 0
    for index in range(count):
        byte = r.byte()
        kind, size, shift = (byte >> 4) & 7, byte & 0x0F, 4
        while byte & 0x80:
            byte = r.byte()
            size |= (byte & 0x7F) << shift
            shift += 7
            if shift > 70:
                raise PackFormatError("the pack is corrupt (an object header is too long)")
        if kind == OFS_DELTA:
            byte = r.byte()
            while byte & 0x80:
                byte = r.byte()
        elif kind == REF_DELTA:
            r.exact(hash_size)
        elif kind not in TYPE_NAMES:
            raise PackFormatError(f"the pack is corrupt (object type {kind})")
        what = TYPE_NAMES.get(kind, "delta")
        _limit(size, max_object_bytes, f"a {what} in the pack inflates to", index)
        result = _inflate(
            r,
            size,
            delta=kind in (OFS_DELTA, REF_DELTA),
            # checked as soon as the delta's header is out, before the rest is inflated
            check=functools.partial(
                _limit,
                limit=max_object_bytes,
                what="a delta in the pack builds an object of",
                index=index,
            ),
        )
        total += result
        if max_inflated_bytes and total > max_inflated_bytes:
            raise PackLimitExceeded(
                f"the push inflates to more than {_mb(max_inflated_bytes)} in all (gate limit "
                "storage.max_inflated_bytes): split it into smaller pushes, or "
                f"{HINT}that added large files, and push again"
            )
    return total


def _limit(size: int, limit: int, what: str, index: int) -> None:
    if limit and size > limit:
        raise PackLimitExceeded(
            f"{what} {_mb(size)} (object {index + 1}), over the gate's limit of {_mb(limit)} "
            f"per object (storage.max_object_bytes): {HINT}that added it, and push again"
        )


def _inflate(r: _Reader, size: int, *, delta: bool, check: Callable[[int], None]) -> int:
    """Inflate one entry's stream, dropping the output; return the object's size (a delta's
    result size, read from its header). Input is fed in growing steps: most objects are
    small, and what zlib reads past their end is given back."""
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
