"""A push request: shallow lines, commands, capabilities, push options (parse and encode).

Parsing is strict because every byte here comes from an agent the gate does not trust: ids
forty hex digits, ref names must pass `git check-ref-format`, and the command list must end
with a flush before the pack (pkt-line framing: gitgate.git.wire.pkt).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import BinaryIO

from dulwich.protocol import (
    CAPABILITY_ATOMIC,
    CAPABILITY_PUSH_OPTIONS,
    CAPABILITY_SIDE_BAND_64K,
    ZERO_SHA,
    extract_capabilities,
    pkt_line,
)
from dulwich.refs import Ref, check_ref_format

from gitgate.git.wire.pkt import FLUSH, ProtocolError, read_section, reader

CAPABILITY_REPORT_STATUS_V2 = b"report-status-v2"

_OID = re.compile(rb"^[0-9a-f]{40}$")
MAX_COMMANDS = 10_000
MAX_PUSH_OPTIONS = 100


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
    proto = reader(stream.read)
    commands, shallow = head.commands, head.shallow
    refs: set[bytes] = set()
    for line in read_section(proto, "ref updates"):
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
        for line in read_section(proto, "push options"):
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
    out.append(FLUSH)
    if req.has(CAPABILITY_PUSH_OPTIONS):
        out.extend(pkt_line(opt + b"\n") for opt in req.push_options)
        out.append(FLUSH)
    return b"".join(out)
