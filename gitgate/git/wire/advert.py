"""Ref advertisements: receive-pack's (v0/v1, `info/refs`) and protocol v2 `ls-refs` lines.

Upstream's receive-pack advertisement is parsed once per request into an `Advertisement`;
what the gate does with it reads that object: which capabilities the client is offered,
which tips start an early mirror fetch (gitgate.git.earlyfetch), which ids masking swaps for the
caller's own (gitgate.mask.mapping), and what relaying and recovery compare against.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol

from dulwich.protocol import (
    CAPABILITY_ATOMIC,
    CAPABILITY_PUSH_OPTIONS,
    CAPABILITY_REPORT_STATUS,
    CAPABILITY_SIDE_BAND_64K,
    CAPABILITY_SYMREF,
    ZERO_SHA,
    extract_capabilities,
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
from gitgate.git.wire.push import CAPABILITY_REPORT_STATUS_V2

log = logging.getLogger("gitgate.git")

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
_ID = re.compile(rb"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
NO_REFS = b"capabilities^{}"  # the name git gives its one line when it has no ref to show
PEELED = b"^{}"
HAVE = b".have"  # an alternate's tip: "you need not send this", not a ref


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


def is_tip(oid: bytes, name: bytes) -> bool:
    """A branch or tag tip the mirror should have; peeled `^{}` lines and anything else
    (`capabilities^{}` of an empty repo, pull refs, `.have`) are not the mirror's."""
    return (
        name.startswith((b"refs/heads/", b"refs/tags/"))
        and not name.endswith(PEELED)
        and bool(_ID.match(oid))
        and oid.strip(b"0") != b""
    )


@dataclass(frozen=True)
class Advertisement:
    """One v0/v1 advertisement (`# service=...`, flush, ref lines, flush).

    `refs` keeps the advertised order; a tag's peeled id sits in `peeled` under the tag's
    name, and alternates' `.have` ids in `haves`, so nothing a client acts on is lost.
    """

    service: bytes
    refs: dict[bytes, bytes] = field(default_factory=dict)  # name -> id
    capabilities: tuple[bytes, ...] = ()
    peeled: dict[bytes, bytes] = field(default_factory=dict)  # tag name -> the id it peels to
    haves: tuple[bytes, ...] = ()
    version: int = 0

    @property
    def symrefs(self) -> dict[bytes, bytes]:
        """`symref=HEAD:refs/heads/main` capabilities as {b"HEAD": b"refs/heads/main"}."""
        prefix = CAPABILITY_SYMREF + b"="
        caps = [c for c in self.capabilities if c.startswith(prefix)]
        pairs = [c[len(prefix) :].partition(b":") for c in caps]
        return {src: dst for src, _, dst in pairs if dst}

    def tips(self) -> list[bytes]:
        """The branch and tag tips, in order (for an early mirror fetch)."""
        return [oid for name, oid in self.refs.items() if is_tip(oid, name)]

    def for_client(self, swap: Mapping[bytes, bytes]) -> Advertisement:
        """What the gate shows the client: only the capabilities it implements, and a ref
        whose id is in `swap` (masking: upstream id -> the caller's own) at the swapped id."""
        refs = {name: swap.get(oid, oid) for name, oid in self.refs.items()}
        empty = not (self.refs or self.haves or self.capabilities)  # git sent a bare flush
        caps = () if empty else tuple(filter_advertisement_caps(list(self.capabilities)))
        return replace(self, refs=refs, capabilities=caps)


def _ref_line(line: bytes) -> tuple[bytes, bytes]:
    oid, _, name = line.partition(b" ")
    if not _ID.match(oid) or not name or b" " in name or b"\0" in name:
        raise ProtocolError("malformed ref line in the advertisement: expected '<id> <name>'")
    return oid, name


def parse_advertisement(read: Reader) -> Advertisement:
    """Read an advertisement up to its closing flush; the body's rest stays unread.

    Strict: a service line, then a flush, then well-formed ref lines, capabilities on the
    first only, no name twice, a peeled line only for a ref just advertised.
    """
    proto = reader(read, strict=False)
    first = read_one(proto, "advertisement")
    if first is None or not first.startswith(b"# service="):
        raise ProtocolError("the advertisement has no service line")
    if read_one(proto, "advertisement") is not None:
        raise ProtocolError("the advertisement's service line is not followed by a flush")
    adv = Advertisement(first.rstrip(b"\n")[len(b"# service=") :])
    caps: list[bytes] = []
    haves: list[bytes] = []
    version, count = 0, 0
    while (pkt := read_one(proto, "advertisement")) is not None:
        line = pkt.rstrip(b"\n")
        if count == 0 and version == 0 and line == b"version 1":
            version = 1
            continue
        if count == 0:
            if line.count(b"\0") > 1:
                raise ProtocolError("malformed capabilities in the advertisement")
            line, caps = extract_capabilities(line)
        count += 1
        oid, name = _ref_line(line)
        if name == HAVE:
            haves.append(oid)
        elif name == NO_REFS and count == 1:
            continue
        elif name.endswith(PEELED) and name != PEELED:
            if name[: -len(PEELED)] not in adv.refs or name[: -len(PEELED)] in adv.peeled:
                raise ProtocolError("a peeled line without its ref in the advertisement")
            adv.peeled[name[: -len(PEELED)]] = oid
        elif name in adv.refs:
            raise ProtocolError("a ref advertised twice")
        else:
            adv.refs[name] = oid
    return replace(adv, capabilities=tuple(caps), haves=tuple(haves), version=version)


def format_advertisement(adv: Advertisement) -> bytes:
    """The advertisement as git sends it (the inverse of `parse_advertisement`)."""
    lines = []
    for name, oid in adv.refs.items():
        lines.append(oid + b" " + name)
        if name in adv.peeled:
            lines.append(adv.peeled[name] + b" " + name + PEELED)
    lines += [oid + b" " + HAVE for oid in adv.haves]
    if not lines and adv.capabilities:
        lines.append(ZERO_SHA + b" " + NO_REFS)
    if lines:
        lines[0] += b"\0" + b" ".join(adv.capabilities)
    out = [pkt_line(b"# service=" + adv.service + b"\n"), FLUSH]
    if adv.version:
        out.append(pkt_line(b"version %d\n" % adv.version))
    out += [pkt_line(line + b"\n") for line in lines]
    out.append(FLUSH)
    return b"".join(out)


@dataclass(frozen=True)
class LsRef:
    """One line of a protocol v2 `ls-refs` answer."""

    oid: bytes
    name: bytes
    symref_target: bytes | None = None
    peeled: bytes | None = None


def parse_ls_ref(line: bytes) -> LsRef:
    """`<id> <name>[ symref-target:<ref>][ peeled:<id>]`; attributes git may add later are
    skipped, as git's own client does."""
    parts = line.rstrip(b"\n").split(b" ")
    if len(parts) < 2:
        raise ProtocolError("malformed ls-refs line: expected '<id> <name>'")
    oid, name = _ref_line(parts[0] + b" " + parts[1])
    target = peeled = None
    for attr in parts[2:]:
        if attr.startswith(b"symref-target:"):
            target = attr[len(b"symref-target:") :]
        elif attr.startswith(b"peeled:"):
            peeled = attr[len(b"peeled:") :]
            if not _ID.match(peeled):
                raise ProtocolError("malformed peeled id in an ls-refs line")
    return LsRef(oid, name, target, peeled)


def format_ls_ref(ref: LsRef) -> bytes:
    """One `ls-refs` pkt-line (the inverse of `parse_ls_ref`)."""
    line = ref.oid + b" " + ref.name
    if ref.symref_target is not None:
        line += b" symref-target:" + ref.symref_target
    if ref.peeled is not None:
        line += b" peeled:" + ref.peeled
    return pkt_line(line + b"\n")


def parse_git_protocol(value: str | None) -> list[tuple[str, str]]:
    """The `Git-Protocol` header (gitprotocol-http): colon-separated `key[=value]` items."""
    return [(k, v) for k, _, v in (i.partition("=") for i in (value or "").split(":") if i)]


def format_git_protocol(items: list[tuple[str, str]]) -> str:
    """A `Git-Protocol` header value (the inverse of `parse_git_protocol`)."""
    return ":".join(f"{k}={v}" if v else k for k, v in items)


def protocol_version(value: str | None) -> int:
    """The protocol version a client asks for: the highest `version=` it names that git
    knows (as git's own server decides, protocol.c), else 0. The answer's shape depends on
    it: v2 answers carry ls-refs lines and sections instead of an advertisement."""
    items = parse_git_protocol(value)
    known = [int(v) for k, v in items if k == "version" and v in ("0", "1", "2")]
    return max(known, default=0)


class UpstreamBody(Protocol):
    """What the rewriting reads from (gitgate.upstream.http.UpstreamResponse)."""

    def read_some(self, n: int) -> bytes: ...
    def iter_body(self) -> Iterator[bytes]: ...
    def close(self) -> None: ...


def rewrite_advertisement(
    body: UpstreamBody,
    on_tips: Callable[[list[bytes]], None] | None = None,
    own_tips: Callable[[list[bytes]], dict[bytes, bytes]] | None = None,
) -> Iterator[bytes]:
    """Pass the receive-pack advertisement with only the capabilities the gate implements.

    The branch and tag tips it lists go to `on_tips` before any of it is passed on, so an
    early mirror fetch overlaps the client building its pack. `own_tips` (the `mask` action,
    gitgate.mask.mapping): upstream id -> the id this caller pushed and the gate masked; such
    refs show the caller its own tip, so its next push is a fast-forward (the gate rebases it
    onto the masked commits)."""
    try:
        adv = parse_advertisement(body.read_some)
        if on_tips is not None and (tips := adv.tips()):
            on_tips(tips)
        swap: dict[bytes, bytes] = {}
        if own_tips is not None:
            try:
                swap = own_tips(list(adv.refs.values()))
            except Exception as ex:  # the database: the agent sees upstream as it is
                log.error("reading the mask map failed: %s", type(ex).__name__)
        yield format_advertisement(adv.for_client(swap))
        yield from body.iter_body()
    except ProtocolError as ex:
        log.warning("upstream advertisement was malformed: %s", ex)
        yield err_line("gitgate: upstream sent a malformed ref advertisement")
    finally:
        body.close()
