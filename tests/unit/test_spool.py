"""Spooling a push: whole within the limit, read to the end (bounded) past it."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from gitgate.git.spool import READ_CHUNK, ByteCounter, PushTooLarge, iter_chunks, spool_body


def test_a_push_within_the_limit_is_spooled_whole(tmp_path: Path) -> None:
    data = b"x" * (3 * READ_CHUNK + 5)
    spool = spool_body(io.BytesIO(data), len(data), 1024, str(tmp_path))
    spool.seek(0)
    assert spool.read() == data
    spool.close()


def test_past_the_limit_the_head_is_kept_and_the_rest_read_and_dropped(tmp_path: Path) -> None:
    limit = 2 * READ_CHUNK
    stream = io.BytesIO(b"h" * limit + b"y" * (10 * READ_CHUNK))
    with pytest.raises(PushTooLarge) as raised:
        spool_body(stream, limit, 1024, str(tmp_path))
    spool = raised.value.spool
    spool.seek(0)
    assert spool.read() == b"h" * limit
    assert limit < raised.value.size <= 2 * limit + READ_CHUNK  # bounded: not to the end
    spool.close()


def test_byte_counter_counts_what_was_streamed_on() -> None:
    counter = ByteCounter(io.BytesIO(b"z" * (READ_CHUNK + 1)))
    assert b"".join(iter_chunks(counter)) == b"z" * (READ_CHUNK + 1)
    assert int(counter) == READ_CHUNK + 1
