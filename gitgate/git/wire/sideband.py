"""side-band-64k: the channels of one answer (1 data, 2 progress, 3 fatal), both ways.

The gate multiplexes its own answers (report on band 1, `remote:` text on band 2) and
demultiplexes upstream's answer to a relayed push, where it always asks for side-band.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from dulwich.protocol import (
    SIDE_BAND_CHANNEL_DATA,
    SIDE_BAND_CHANNEL_FATAL,
    SIDE_BAND_CHANNEL_PROGRESS,
)

from gitgate.git.wire.pkt import (
    FLUSH,
    ProtocolError,
    Reader,
    err_line,
    pkt_line,
    read_one,
    reader,
)
from gitgate.git.wire.push import PushRequest

MAX_SIDEBAND_PAYLOAD = 65515  # 65520 - 4 (length) - 1 (band byte)
BANDS = (SIDE_BAND_CHANNEL_DATA, SIDE_BAND_CHANNEL_PROGRESS, SIDE_BAND_CHANNEL_FATAL)


def sideband(band: int, data: bytes) -> Iterator[bytes]:
    """Split `data` into side-band-64k packets on `band`."""
    for i in range(0, len(data), MAX_SIDEBAND_PAYLOAD):
        yield pkt_line(bytes([band]) + data[i : i + MAX_SIDEBAND_PAYLOAD])


def demux(read: Reader) -> Iterator[tuple[int, bytes]]:
    """(band, payload) for each packet up to the closing flush (the inverse of `sideband`).

    A packet without a band byte, or on a band git does not define, raises ProtocolError, as
    does a body that ends before its flush.
    """
    proto = reader(read, strict=False)
    while (pkt := read_one(proto, "side-band answer")) is not None:
        if not pkt or pkt[0] not in BANDS:
            raise ProtocolError("a side-band packet on no known band")
        yield pkt[0], pkt[1:]


def progress(lines: Iterable[str]) -> bytes:
    """Band-2 text the client prints as `remote: ...`, one packet per line."""
    return b"".join(
        b"".join(sideband(SIDE_BAND_CHANNEL_PROGRESS, (line + "\n").encode("utf-8", "replace")))
        for line in lines
    )


def wrap_report(req: PushRequest, body: bytes) -> bytes:
    """Put a report on band 1 when side-band-64k is on, then end the response with a flush."""
    if not req.sideband:
        return body
    return b"".join(sideband(SIDE_BAND_CHANNEL_DATA, body)) + FLUSH


def fatal(side_band: bool, text: str) -> bytes:
    """A fatal error as the client reads it: band 3 then flush with side-band, else `ERR`."""
    if not side_band:
        return err_line(text)
    return b"".join(sideband(SIDE_BAND_CHANNEL_FATAL, (text + "\n").encode())) + FLUSH
