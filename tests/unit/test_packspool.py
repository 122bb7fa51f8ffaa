"""The push spool that keeps the pack in a file of its own (gitgate/git/packspool.py)."""

from __future__ import annotations

import io
from pathlib import Path

from gitgate.git.packspool import PackSpool, pack_start
from gitgate.git.spool import READ_CHUNK, spool_body
from gitgate.git.wire import parse_push_request


def _pkt(line: bytes) -> bytes:
    return b"%04x" % (len(line) + 4) + line


OLD, NEW = b"1" * 40, b"2" * 40


def _request(caps: bytes, options: list[bytes], pack: bytes, shallow: bool = False) -> bytes:
    head = _pkt(b"shallow " + b"3" * 40) if shallow else b""
    head += _pkt(OLD + b" " + NEW + b" refs/heads/main\0" + caps) + b"0000"
    if options:
        head += b"".join(_pkt(o) for o in options) + b"0000"
    return head + pack


def test_pack_start_follows_the_sections_of_a_push() -> None:
    pack = b"PACK" + bytes(40)
    for caps, options, shallow in (
        (b"report-status", [], False),
        (b"report-status push-options", [b"ci.skip"], False),
        (b"push-options", [], True),
    ):
        data = _request(caps, options if options or b"push" not in caps else [b"x"], pack, shallow)
        assert data[pack_start(data) or 0 :] == pack  # type: ignore[operator]
        head = parse_push_request(io.BytesIO(data))
        assert head.pack_offset == pack_start(data)
    assert pack_start(b"0000") == 4  # git's probe: no commands, no pack
    assert pack_start(b"00") is None and pack_start(b"zz00rest") == -1


def test_the_pack_is_a_file_of_its_own_and_reads_give_the_request_back(tmp_path: Path) -> None:
    pack = b"PACK" + bytes(range(256)) * (3 * READ_CHUNK // 256)
    data = _request(b"report-status", [], pack)
    spool = spool_body(io.BytesIO(data), len(data), 1024, str(tmp_path))
    assert isinstance(spool, PackSpool)
    assert spool.tell() == len(data)
    spool.seek(0)
    assert spool.read() == data
    assert spool.pack_offset == len(data) - len(pack)
    assert spool.pack_path.read_bytes() == pack
    assert spool.pack_path.parent.parent == tmp_path / "quarantine"  # swept like a quarantine
    spool.close()
    assert not spool.pack_path.parent.exists()


def test_completing_the_pack_in_place_does_not_change_what_is_read(tmp_path: Path) -> None:
    """The relay sends the client's bytes: a thin pack's rewritten header and appended
    bases stay in the quarantine's copy of the pack, which is the same file."""
    pack = b"PACK\0\0\0\2\0\0\0\5" + b"x" * 5000 + b"T" * 20
    data = _request(b"report-status", [], pack)
    spool = spool_body(io.BytesIO(data), len(data), 1024, str(tmp_path))
    assert isinstance(spool, PackSpool)
    f = spool.pack_file
    f.seek(0)
    f.write(b"PACK\0\0\0\2\0\0\0\7")
    f.seek(len(pack) - 20)
    f.write(b"appended base objects and a new trailer")
    f.flush()
    spool.seek(spool.pack_offset or 0)
    assert spool.read(7) + spool.read() == pack
    spool.seek(0)
    assert spool.read() == data
    spool.close()


def test_a_head_that_is_not_pkt_lines_is_still_spooled_whole(tmp_path: Path) -> None:
    data = b"x" * (2 * READ_CHUNK + 3)
    spool = spool_body(io.BytesIO(data), len(data), 1024, str(tmp_path))
    assert isinstance(spool, PackSpool) and spool.pack_offset is None
    spool.seek(10)
    assert spool.read(5) == b"xxxxx"
    spool.seek(0)
    assert spool.read() == data
    spool.close()


def test_a_push_within_the_memory_bound_stays_in_memory(tmp_path: Path) -> None:
    data = _request(b"report-status", [], b"PACK" + bytes(500))
    spool = spool_body(io.BytesIO(data), len(data), 1024, str(tmp_path))
    assert isinstance(spool, PackSpool) and spool.pack_offset is None  # the quarantine copies it
    assert not (tmp_path / "quarantine").exists()
    spool.seek(0)
    assert spool.read() == data
    spool.close()
