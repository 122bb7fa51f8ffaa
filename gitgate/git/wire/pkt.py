"""pkt-lines: git's framing, read strictly from a stream or walked in a buffer.

Every other wire module reads through these, so the strictness lives in one place: a length
must be four hex digits (dulwich's own parser enforces that), a packet must arrive whole (a
short read is a truncated body, not a shorter packet), and a buffer walk stops at the first
length that is not one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dulwich.errors import GitProtocolError, HangupException
from dulwich.protocol import Protocol, pkt_line

if TYPE_CHECKING:
    from gitgate.git.wire.push import Command

__all__ = [
    "DELIM",
    "FLUSH",
    "KEEPALIVE",
    "Pkt",
    "ProtocolError",
    "Reader",
    "err_line",
    "pkt_line",
    "read_one",
    "read_section",
    "reader",
    "section_at",
    "split_pkts",
]

Reader = Callable[[int], bytes]
"""A body to read from: `read(n)` returns n bytes, fewer only at its end."""

FLUSH = pkt_line(None)  # b"0000": the end of a section
DELIM = b"0001"  # protocol v2: the end of a section's arguments
KEEPALIVE = pkt_line(b"\x01")  # an empty band-1 packet: git's own keepalive during a push
_HEX4 = re.compile(rb"^[0-9a-fA-F]{4}$")  # as git reads it (hexval)


class ProtocolError(Exception):
    """The bytes are not the git wire format expected here; the message is safe to show.

    Carries what was read before the error (capabilities, commands) so the answer to a push
    can still travel in-band, on the channels the client asked for (see gitgate.git.inband).
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.capabilities: list[bytes] | None = None
        self.commands: list[Command] = []


def reader(read: Reader, *, strict: bool = True) -> Protocol:
    """dulwich's pkt-line reader over `read`. `strict`: a body that ends inside a packet
    raises ProtocolError (an upload cut short), rather than handing on a short packet."""

    def exact(n: int) -> bytes:
        data = read(n)
        if len(data) != n:
            raise ProtocolError("the request ended in the middle of a pkt-line (truncated upload)")
        return data

    return Protocol(exact if strict else read, lambda _data: None)


def read_section(proto: Protocol, what: str) -> Iterator[bytes]:
    """The packets up to the next flush, without their newline; ProtocolError naming `what`
    when the stream ends first or a length is malformed."""
    while True:
        try:
            line = proto.read_pkt_line()
        except HangupException:
            raise ProtocolError(f"the request ended before the {what} were complete") from None
        except GitProtocolError as ex:
            raise ProtocolError(f"malformed pkt-line in the {what}: {ex}") from None
        if line is None:
            return
        yield line.rstrip(b"\n")


def read_one(proto: Protocol, what: str) -> bytes | None:
    """One packet (None for a flush), with ProtocolError for a short or malformed one."""
    try:
        return proto.read_pkt_line()
    except HangupException:
        raise ProtocolError(f"the {what} ended early") from None
    except GitProtocolError as ex:
        raise ProtocolError(f"malformed pkt-line in the {what}: {ex}") from None


@dataclass(frozen=True)
class Pkt:
    """One whole packet found in a buffer: where it starts, its length field (0 flush,
    1 delim, 2 response-end: those have no payload) and its payload."""

    offset: int
    size: int
    payload: bytes | None

    @property
    def end(self) -> int:
        """Where the next packet starts."""
        return self.offset + max(self.size, 4)


def split_pkts(data: bytes) -> Iterator[Pkt]:
    """Walk the whole packets at the start of `data` (a response read along in chunks).

    Stops at an incomplete packet (wait for more); raises ProtocolError at a length that is
    not four hex digits, or 0003, which no packet can have.
    """
    pos = 0
    while pos + 4 <= len(data):
        head = data[pos : pos + 4]
        if not _HEX4.match(head):
            raise ProtocolError(f"malformed pkt-line length {head!r}")
        size = int(head, 16)
        if size < 3:
            yield Pkt(pos, size, None)
            pos += 4
            continue
        if size == 3:
            raise ProtocolError("malformed pkt-line length 0003")
        if pos + size > len(data):
            return
        yield Pkt(pos, size, data[pos + 4 : pos + size])
        pos += size


def section_at(data: bytes, header: bytes) -> int | None:
    """Where the protocol v2 section `header` (e.g. b"packfile") starts in a response read so
    far: the offset of its header packet, or None if not (yet) seen or not pkt-lines."""
    try:
        for pkt in split_pkts(data):
            if pkt.payload == header + b"\n":
                return pkt.offset
    except ProtocolError:
        return None
    return None


def err_line(text: str) -> bytes:
    """`ERR <text>`: the packet git prints as `fatal: remote error: <text>`."""
    return pkt_line(b"ERR " + text.encode("utf-8", "replace") + b"\n")
