"""The receive-pack wire format: parse a spooled push request, build replies.

Wire values stay bytes and dulwich's constants are used rather than redefined. Parsing is strict
because every byte here comes from an agent the gate does not trust: lengths must be four hex
digits (dulwich's own parser enforces that), ids forty hex digits, ref names must pass
`git check-ref-format`, and the command list must end with a flush before the pack.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from dulwich.errors import GitProtocolError, HangupException
from dulwich.protocol import (
    CAPABILITY_ATOMIC,
    CAPABILITY_PUSH_OPTIONS,
    CAPABILITY_REPORT_STATUS,
    CAPABILITY_SIDE_BAND_64K,
    SIDE_BAND_CHANNEL_DATA,
    SIDE_BAND_CHANNEL_PROGRESS,
    ZERO_SHA,
    Protocol,
    extract_capabilities,
    pkt_line,
)
from dulwich.refs import Ref, check_ref_format

CAPABILITY_REPORT_STATUS_V2 = b"report-status-v2"

# What the gate lets through from upstream's advertisement. Everything here is implemented end
# to end: the gate parses it (push options, atomic), reproduces it in-band (report-status(-v2),
# side-band-64k, quiet) or just passes the pack on (ofs-delta, delete-refs). Anything else that
# upstream offers (e.g. push-cert, which the gate could not verify) is dropped deliberately.
ALLOWED_PUSH_CAPABILITIES = (
    CAPABILITY_REPORT_STATUS,
    CAPABILITY_REPORT_STATUS_V2,
    b"delete-refs",
    CAPABILITY_SIDE_BAND_64K,
    b"quiet",
    CAPABILITY_ATOMIC,
    b"ofs-delta",
    CAPABILITY_PUSH_OPTIONS,
)
_OID = re.compile(rb"^[0-9a-f]{40}$")
MAX_SIDEBAND_PAYLOAD = 65515  # 65520 - 4 (length) - 1 (band byte)
MAX_COMMANDS = 10_000
MAX_PUSH_OPTIONS = 100


class ProtocolError(Exception):
    """The request is not a well-formed push; the message is safe to show the client.

    Carries what was read before the error (capabilities, commands) so the answer can still
    travel in-band, on the channels the client asked for (see gitgate.refusal).
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.capabilities: list[bytes] | None = None
        self.commands: list[Command] = []


@dataclass(frozen=True)
class Command:
    old: bytes
    new: bytes
    ref: bytes

    @property
    def is_create(self) -> bool:
        return self.old == ZERO_SHA

    @property
    def is_delete(self) -> bool:
        return self.new == ZERO_SHA

    def encode(self) -> bytes:
        return b"%s %s %s" % (self.old, self.new, self.ref)


@dataclass
class PushRequest:
    """The parsed head of a push; the pack stays in the spool at `pack_offset`."""

    commands: list[Command]
    capabilities: list[bytes]
    push_options: list[bytes] = field(default_factory=list)
    pack_offset: int = 0
    shallow: list[bytes] = field(default_factory=list)  # the client's shallow boundary

    def has(self, capability: bytes) -> bool:
        return capability in self.capabilities

    @property
    def atomic(self) -> bool:
        return self.has(CAPABILITY_ATOMIC)

    @property
    def sideband(self) -> bool:
        return self.has(CAPABILITY_SIDE_BAND_64K)

    @property
    def needs_pack(self) -> bool:
        return any(not c.is_delete for c in self.commands)


def _reader(stream: BinaryIO) -> Protocol:
    def read(n: int) -> bytes:
        data = stream.read(n)
        if len(data) != n:
            raise ProtocolError("the request ended in the middle of a pkt-line (truncated upload)")
        return data

    return Protocol(read, lambda _data: None)


def _read_section(proto: Protocol, what: str) -> Iterator[bytes]:
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


def parse_command(line: bytes) -> Command:
    parts = line.split(b" ")
    if len(parts) != 3 or not _OID.match(parts[0]) or not _OID.match(parts[1]):
        raise ProtocolError("malformed ref update: expected '<old-id> <new-id> <ref>'")
    old, new, ref = parts
    if not ref.startswith(b"refs/") or not check_ref_format(Ref(ref)):
        shown = ref[:200].decode("utf-8", "replace")
        raise ProtocolError(f"invalid ref name {shown!r}: see git check-ref-format")
    if old == new:
        raise ProtocolError(f"ref update for {ref.decode()} does not change anything")
    return Command(old, new, ref)


def parse_push_request(stream: BinaryIO, *, check_pack: bool = True) -> PushRequest:
    """Parse shallow lines, commands, capabilities and push options; leave `stream` at the pack.

    On a ProtocolError the exception carries what was read so far (for an in-band answer).
    """
    head = PushRequest([], [])
    try:
        return _parse(stream, check_pack, head)
    except ProtocolError as ex:
        ex.commands = head.commands
        ex.capabilities = head.capabilities if head.commands or head.capabilities else None
        raise


def _parse(stream: BinaryIO, check_pack: bool, head: PushRequest) -> PushRequest:
    proto = _reader(stream)
    commands, shallow = head.commands, head.shallow
    refs: set[bytes] = set()
    for line in _read_section(proto, "ref updates"):
        if not commands and line.startswith(b"shallow "):
            # A push from a shallow clone (`git clone --depth 1`) names its boundary commits
            # first (send-pack.c, advertise_shallow_grafts): kept and relayed, so upstream's
            # receive-pack applies its own shallow rules exactly as for a direct push.
            oid = line[len(b"shallow ") :]
            if not _OID.match(oid):
                raise ProtocolError("malformed shallow line: expected 'shallow <id>'")
            if len(shallow) >= MAX_COMMANDS:
                raise ProtocolError(f"too many shallow lines in one push (limit {MAX_COMMANDS})")
            shallow.append(oid)
            continue
        if not commands:
            if line.count(b"\0") > 1:  # dulwich would raise a bare ValueError here
                raise ProtocolError("malformed capabilities on the first ref update")
            line, head.capabilities = extract_capabilities(line)
        if len(commands) >= MAX_COMMANDS:
            raise ProtocolError(
                f"too many ref updates in one push (limit {MAX_COMMANDS}): push fewer refs at once"
            )
        command = parse_command(line)
        if command.ref in refs:
            raise ProtocolError("the same ref is updated twice in one push")
        refs.add(command.ref)
        commands.append(command)
    options = head.push_options
    if commands and CAPABILITY_PUSH_OPTIONS in head.capabilities:
        for line in _read_section(proto, "push options"):
            if len(options) >= MAX_PUSH_OPTIONS:
                raise ProtocolError(
                    f"too many push options (limit {MAX_PUSH_OPTIONS}): send fewer -o options"
                )
            options.append(line)
    head.pack_offset = stream.tell()
    if head.needs_pack and check_pack:
        if stream.read(4) != b"PACK":
            raise ProtocolError("the push has ref updates but no pack data after them")
        stream.seek(head.pack_offset)
    return head


def encode_request_head(req: PushRequest, commands: Iterable[Command]) -> bytes:
    """Re-encode the command list (e.g. only the accepted refs) with the original shallow
    lines and options."""
    out = [pkt_line(b"shallow " + oid + b"\n") for oid in req.shallow]
    for i, cmd in enumerate(commands):
        line = cmd.encode()
        if i == 0:
            line += b"\0" + b" ".join(req.capabilities)
        out.append(pkt_line(line + b"\n"))
    out.append(pkt_line(None))
    if req.has(CAPABILITY_PUSH_OPTIONS):
        out.extend(pkt_line(opt + b"\n") for opt in req.push_options)
        out.append(pkt_line(None))
    return b"".join(out)


def filter_advertisement_caps(caps: list[bytes]) -> list[bytes]:
    """Keep the capabilities the gate implements, plus `object-format` and `agent` values.

    `push-options` is always offered: the gate reads its own (`gitgate.reason=...` for
    break-glass) whatever upstream supports, and forwards the rest only when upstream does.
    """
    kept = [c for c in caps if c in ALLOWED_PUSH_CAPABILITIES]
    if CAPABILITY_PUSH_OPTIONS not in kept:
        kept.append(CAPABILITY_PUSH_OPTIONS)
    kept += [c for c in caps if c.startswith(b"object-format=")]
    kept.append(b"agent=gitgate")
    return kept


def one_line(text: str, limit: int = 200) -> str:
    """A report-status reason: one line, no NUL/CR/LF, bounded."""
    text = re.sub(r"[\x00-\x1f]+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def sideband(band: int, data: bytes) -> Iterator[bytes]:
    """Split `data` into side-band-64k packets on `band`."""
    for i in range(0, len(data), MAX_SIDEBAND_PAYLOAD):
        yield pkt_line(bytes([band]) + data[i : i + MAX_SIDEBAND_PAYLOAD])


def progress(lines: Iterable[str]) -> bytes:
    """Band-2 text the client prints as `remote: ...`, one packet per line."""
    return b"".join(
        b"".join(sideband(SIDE_BAND_CHANNEL_PROGRESS, (line + "\n").encode("utf-8", "replace")))
        for line in lines
    )


def status_line(ref: bytes, reason: str | None) -> bytes:
    """`ok <ref>` or `ng <ref> <reason>` as one pkt-line."""
    if reason is None:
        return pkt_line(b"ok " + ref + b"\n")
    return pkt_line(b"ng " + ref + b" " + one_line(reason).encode("utf-8", "replace") + b"\n")


def report(unpack: str, statuses: Iterable[tuple[bytes, str | None]]) -> bytes:
    """report-status body: `unpack ok`, then a status line per ref, then flush."""
    out = [pkt_line(f"unpack {unpack}\n".encode())]
    out.extend(status_line(ref, reason) for ref, reason in statuses)
    out.append(pkt_line(None))
    return b"".join(out)


def wrap_report(req: PushRequest, body: bytes) -> bytes:
    """Put a report on band 1 when side-band-64k is on, then end the response with a flush."""
    if not req.sideband:
        return body
    return b"".join(sideband(SIDE_BAND_CHANNEL_DATA, body)) + pkt_line(None)
