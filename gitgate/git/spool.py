"""A push request read whole before anything is decided, and request bodies streamed on.

A push is inspected before a byte goes upstream, so its request is spooled: in memory up to
`storage.spool_memory_bytes`, then in a temporary file in the data dir. A push over the size
limit or a full disk is still read to its end (bounded), so git reads the gate's in-band
answer instead of a broken pipe. Fetches are not spooled: their bodies stream through.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO, cast

import falcon

from gitgate.git.packspool import PackSpool
from gitgate.ops import diskfull

READ_CHUNK = 64 * 1024


class SpoolDiskFull(Exception):
    """The data dir filled up while spooling; `head` is what was kept in memory."""

    def __init__(self, head: bytes, size: int) -> None:
        super().__init__(size)
        self.head, self.size = head, size


class PushTooLarge(Exception):
    """The push is over `storage.max_push_bytes`; `spool` holds its head (it names the refs)."""

    def __init__(self, spool: BinaryIO, size: int) -> None:
        super().__init__(size)
        self.spool, self.size = spool, size


def request_stream(req: falcon.Request) -> BinaryIO:
    """The request body to read to its end.

    gunicorn de-chunks a chunked upload and leaves no CONTENT_LENGTH; falcon's bounded
    stream would then read nothing (PROTOCOL.md), so read the raw stream to EOF instead.
    """
    return req.bounded_stream if req.content_length is not None else req.stream  # type: ignore[return-value]


def iter_chunks(stream: BinaryIO | ByteCounter) -> Iterator[bytes]:
    """`stream` in pieces, for a body relayed as it is read."""
    while chunk := stream.read(READ_CHUNK):
        yield chunk


class ByteCounter:
    """A read-through stream that counts bytes (for the audit record)."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream, self.n = stream, 0

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.n += len(data)
        return data

    def __int__(self) -> int:
        return self.n


def spool_body(stream: BinaryIO, limit: int, memory: int, data_dir: str) -> BinaryIO:
    """Read the whole request into a spool (memory first; past `memory`, the pack goes to a
    file of its own in the data dir, which the quarantine uses where it lies:
    gitgate.git.packspool).

    Past `limit` the rest is read and dropped (up to twice the limit) so the client gets the
    answer instead of a broken pipe; only the head is kept to name the refs in the answer.
    """
    # a binary file object in all but its type (PackSpool reads, seeks and writes like one)
    spool = cast(BinaryIO, PackSpool(data_dir, memory))
    total = 0
    head = bytearray()  # what was spooled in memory: enough to name the refs if the disk is full
    try:
        while chunk := stream.read(READ_CHUNK):
            total += len(chunk)
            if len(head) < memory:
                head += chunk[: memory - len(head)]
            if total > limit:
                spool.write(chunk[: len(chunk) - (total - limit)])  # the head names the refs
                while total < 2 * limit and (more := stream.read(READ_CHUNK)):
                    total += len(more)
                raise PushTooLarge(spool, total)
            spool.write(chunk)
        spool.flush()
    except OSError as ex:
        if not diskfull.is_disk_full(ex):
            raise
        spool.close()  # an unlinked temporary file: closing it frees what it took
        while total < limit and (more := stream.read(READ_CHUNK)):
            total += len(more)  # read to the end, so git reads the answer, not a broken pipe
        raise SpoolDiskFull(bytes(head), total) from None
    return spool
