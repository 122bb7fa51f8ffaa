"""A queued push's original request body, kept in the database in 1 MiB chunks.

Why in the database: the gate instance that relays a push after approval is not necessarily
the one that received it, and instances share nothing but the database. Chunks keep every row
small (no 100 MB values through a driver at once) and let reading stream into a spooled file.
"""

from __future__ import annotations

import hashlib
import tempfile
from typing import BinaryIO, cast

from gitgate.db import connection
from gitgate.db.models import PayloadChunk, QueuedPush
from gitgate.store.errors import PayloadUnavailable, UnknownPush

CHUNK_SIZE = 1 << 20
# Bodies up to this size are reassembled in memory, larger ones on disk.
SPOOL_IN_MEMORY = 8 << 20


def write_chunks(push_id: int, payload: BinaryIO) -> tuple[int, str]:
    """Store ``payload`` (read to its end) under ``push_id``; returns (size, sha256 hex).

    Runs in the caller's transaction, so a push is never visible with half a body.
    """
    digest = hashlib.sha256()
    size = 0
    seq = 0
    while block := _read_full(payload, CHUNK_SIZE):
        PayloadChunk.insert(push=push_id, seq=seq, data=block).execute()
        digest.update(block)
        size += len(block)
        seq += 1
    return size, digest.hexdigest()


def open_payload(push_id: int) -> BinaryIO:
    """The stored body of push ``push_id`` as a file positioned at 0 (the caller closes it).

    Raises PayloadUnavailable when chunks are missing (purged) or the reassembled bytes do not
    match the size and sha256 recorded at enqueue time: a corrupted body is never relayed.
    """
    spool = cast(BinaryIO, tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY))  # noqa: SIM115
    try:
        _reassemble(push_id, spool)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool


def _reassemble(push_id: int, out: BinaryIO) -> None:
    with connection():
        push = QueuedPush.get_or_none(QueuedPush.id == push_id)
        if push is None:
            raise UnknownPush(push_id)
        seqs = [
            row.seq
            for row in PayloadChunk.select(PayloadChunk.seq)
            .where(PayloadChunk.push == push_id)
            .order_by(PayloadChunk.seq)
        ]
        if seqs != list(range(len(seqs))) or (not seqs and push.payload_size):
            raise PayloadUnavailable(
                f"the stored body of push #{push_id} is missing (purged after it finished?)"
            )
        digest = hashlib.sha256()
        size = 0
        for seq in seqs:
            # One chunk per query: psycopg2 would otherwise fetch the whole body at once.
            data = (
                PayloadChunk.select(PayloadChunk.data)
                .where(PayloadChunk.push == push_id, PayloadChunk.seq == seq)
                .scalar()
            )
            if data is None:
                raise PayloadUnavailable(f"the stored body of push #{push_id} was purged")
            data = bytes(data)
            digest.update(data)
            size += len(data)
            out.write(data)
    if size != push.payload_size or digest.hexdigest() != push.payload_sha256:
        raise PayloadUnavailable(
            f"the stored body of push #{push_id} does not match its sha256 "
            f"({size} bytes, sha256 {digest.hexdigest()}; recorded {push.payload_size} bytes, "
            f"sha256 {push.payload_sha256}): it will not be relayed"
        )


def _read_full(stream: BinaryIO, size: int) -> bytes:
    """Read ``size`` bytes unless the stream ends first (raw streams may return less)."""
    parts = []
    remaining = size
    while remaining:
        block = stream.read(remaining)
        if not block:
            break
        parts.append(block)
        remaining -= len(block)
    return b"".join(parts)
