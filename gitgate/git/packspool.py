"""A spooled push whose pack is already a file of its own, so it is never copied again.

A push request is its command section (pkt-lines, a few KB) then the pack (up to GBs). A push
over `storage.spool_memory_bytes` keeps the first in memory and writes the pack bytes straight
into a file beside the push quarantines (`{data_dir}/quarantine/push-*/`, swept like one if a
worker dies). The quarantine indexes that file where it lies and hard-links it in
(gitgate.inspection.packindex), so a push takes its size on disk once, not twice (issue #11). A
smaller
push stays in memory whole, as before, and its pack is written once, into the quarantine.

Read back, the spool is still the request exactly as the client sent it: completing a thin
pack in place rewrites its header and appends the bases after it, so the pack's first 12 and
last 20 bytes as received are kept and shown instead, and reads stop at the received length.
That is what the relay sends upstream and a queued push stores.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import string
import tempfile
from pathlib import Path
from typing import BinaryIO

from gitgate.git.quarantine import PUSH_PREFIX

HEADER, TRAILER = 12, 20  # a pack's bytes that completing it in place rewrites
_HEX = frozenset(string.hexdigits.encode())


def pack_start(head: bytes | bytearray) -> int | None:
    """Where the pack starts in the request `head`: None until that is known, -1 when the
    head is not well-formed pkt-lines (gitgate.git.wire then says what is wrong).

    The same sections as gitgate.git.wire.push: shallow lines and commands up to a flush;
    then, if the first command asked for push-options, the options up to a second flush."""
    pos, sections, first = 0, 1, True
    while True:
        if len(head) < pos + 4:
            return None
        if not _HEX.issuperset(head[pos : pos + 4]):
            return -1
        n = int(head[pos : pos + 4], 16)
        if n == 0:
            pos += 4
            sections -= 1
            if sections == 0:
                return pos
            continue
        if n < 4:
            return -1
        if len(head) < pos + n:
            return None
        line = head[pos + 4 : pos + n]
        if first and not line.startswith(b"shallow "):
            first = False
            if b"push-options" in line.partition(b"\0")[2].split():
                sections += 1
        pos += n


class PackSpool:
    """A push request as one seekable, readable stream: up to `memory` bytes in memory whole;
    past that, the head in memory and the pack in its file.

    `pack_offset` is where the pack in the file starts: None while the push is in memory, or
    if its head did not parse (every byte after the first `memory` ones is then in the file);
    the quarantine then copies the pack, as it did before."""

    def __init__(self, data_dir: str, memory: int) -> None:
        self.head = bytearray()
        self.pack_offset: int | None = None
        self._memory = memory
        self._root = Path(data_dir) / "quarantine"
        self._dir: Path | None = None
        self._file: BinaryIO | None = None
        self._first = b""  # the pack's first and last bytes as received
        self._tail = b""
        self._length = 0  # pack bytes received
        self._pos = 0
        self.closed = False

    @property
    def pack_path(self) -> Path:
        assert self._dir is not None
        return self._dir / "incoming.pack"

    @property
    def pack_file(self) -> BinaryIO:
        """The pack file, open for reading and writing (completing it in place)."""
        if self._file is None:
            self._open()
        assert self._file is not None
        return self._file

    def _open(self) -> None:
        self._root.mkdir(parents=True, exist_ok=True)
        self._dir = Path(tempfile.mkdtemp(prefix=PUSH_PREFIX, dir=self._root))
        self._file = open(self.pack_path, "w+b")  # noqa: SIM115 - closed by close()

    def write(self, data: bytes) -> int:
        """Append `data` (the request is written in order, once) and move to the end."""
        n = len(data)
        self._pos += n
        if self._file is None:
            self.head += data
            if len(self.head) <= self._memory:
                return n  # a small push stays in memory whole (its pack is copied once)
            start = pack_start(self.head)
            if start is None or start < 0:  # not a head gitgate can split: keep the bytes
                start = self._memory
            else:
                self.pack_offset = start
            rest = bytes(self.head[start:])
            del self.head[start:]
            self._open()
            data = rest
        if data:
            assert self._file is not None
            self._file.write(data)
            if len(self._first) < HEADER:
                self._first += data[: HEADER - len(self._first)]
            self._tail = (self._tail + data[-TRAILER:])[-TRAILER:]
            self._length += len(data)
        return n

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def __len__(self) -> int:
        return len(self.head) + self._length

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: len(self)}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def read(self, size: int = -1) -> bytes:
        """Up to `size` bytes (all the rest if negative) of the request as received."""
        end = len(self)
        want = end - self._pos if size is None or size < 0 else min(size, end - self._pos)
        parts: list[bytes] = []
        while want > 0:
            part = self._read_at(self._pos, want)
            parts.append(part)
            self._pos += len(part)
            want -= len(part)
        return b"".join(parts)

    def _read_at(self, pos: int, n: int) -> bytes:
        if pos < len(self.head):
            return bytes(self.head[pos : pos + n])
        at = pos - len(self.head)
        if at < len(self._first):
            return self._first[at : at + n]
        tail_at = self._length - len(self._tail)
        if at >= tail_at:
            return self._tail[at - tail_at : at - tail_at + n]
        self.pack_file.flush()
        data = os.pread(self.pack_file.fileno(), min(n, tail_at - at), at)
        if not data:
            raise OSError("the spooled pack file is shorter than what was spooled")
        return data

    def close(self) -> None:
        """Free the spool: its file's name goes (a quarantine or mirror link keeps the data)."""
        if self.closed:
            return
        self.closed = True
        if self._file is not None:
            with contextlib.suppress(OSError):  # a full disk fails the last flush: dropped
                self._file.close()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> PackSpool:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
