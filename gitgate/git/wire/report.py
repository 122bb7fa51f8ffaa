"""report-status (v1 and v2): the per-ref answer to a push, formatted for the agent and parsed
from upstream.

One `Report` shape both ways: `unpack` and, per ref, its lines (`ok <ref>` or `ng <ref> <why>`,
then in v2 any `option <key> <value>` lines after an `ok`), so upstream's v2 options reach the
agent unchanged when the gate relays its answer.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from dulwich.protocol import CAPABILITY_REPORT_STATUS

from gitgate.git.wire.pkt import FLUSH, ProtocolError, pkt_line, read_one, reader
from gitgate.git.wire.push import CAPABILITY_REPORT_STATUS_V2, PushRequest
from gitgate.git.wire.sideband import wrap_report

Status = tuple[bytes, str | None]
"""A ref and why it was refused (None: accepted)."""


@dataclass
class Report:
    unpack: str = "ok"
    refs: dict[bytes, list[bytes]] = field(default_factory=dict)  # ref -> its report lines

    def ok(self, ref: bytes) -> bool:
        lines = self.refs.get(ref) or []
        return bool(lines) and lines[0].startswith(b"ok ")

    def reason(self, ref: bytes) -> str | None:
        """Why `ref` was refused (`ng <ref> <why>`), None when it was accepted or not
        reported at all (see `ok`)."""
        lines = self.refs.get(ref) or []
        if not lines or not lines[0].startswith(b"ng "):
            return None
        return lines[0][len(b"ng ") + len(ref) + 1 :].decode("utf-8", "replace")


def one_line(text: str, limit: int = 200) -> str:
    """A report-status reason: one line, no NUL/CR/LF, bounded."""
    text = re.sub(r"[\x00-\x1f]+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def status_line(ref: bytes, reason: str | None) -> bytes:
    """`ok <ref>` or `ng <ref> <reason>` as one pkt-line."""
    if reason is None:
        return pkt_line(b"ok " + ref + b"\n")
    return pkt_line(b"ng " + ref + b" " + one_line(reason).encode("utf-8", "replace") + b"\n")


def report(
    unpack: str,
    statuses: Iterable[Status],
    relayed: Mapping[bytes, list[bytes]] | None = None,
) -> bytes:
    """report-status body: `unpack <unpack>`, then a status per ref, then flush.

    An accepted ref with `relayed` lines (upstream's own report for it) gets those lines as
    they are, which keeps report-status-v2 `option` lines (e.g. a ref upstream renamed).
    """
    out = [pkt_line(f"unpack {unpack}\n".encode())]
    for ref, reason in statuses:
        lines = (relayed or {}).get(ref)
        if reason is None and lines:
            out.extend(pkt_line(line + b"\n") for line in lines)
        else:
            out.append(status_line(ref, reason))
    out.append(FLUSH)
    return b"".join(out)


def format_report(rep: Report) -> bytes:
    """A parsed report as git sends it (the inverse of `parse_report`)."""
    out = [pkt_line(f"unpack {rep.unpack}\n".encode())]
    out.extend(pkt_line(line + b"\n") for lines in rep.refs.values() for line in lines)
    out.append(FLUSH)
    return b"".join(out)


def parse_report(data: bytes) -> Report:
    """Parse report-status(-v2) lines: `unpack`, `ok`/`ng` per ref, `option` after a ref.

    `data` is band 1 of upstream's answer, whole. Lines git does not define are skipped, as
    git's own send-pack does; a malformed pkt-line raises ProtocolError.
    """
    rep = Report()
    stream = io.BytesIO(data)
    proto = reader(stream.read, strict=False)
    current: bytes | None = None
    while stream.tell() < len(data):
        pkt = read_one(proto, "report")
        if pkt is None:
            continue
        line = pkt.rstrip(b"\n")
        if line.startswith(b"unpack "):
            rep.unpack = line[7:].decode("utf-8", "replace")
        elif line.startswith((b"ok ", b"ng ")):
            current = line[3:].split(b" ", 1)[0]
            rep.refs[current] = [line]
        elif line.startswith(b"option ") and current is not None:
            rep.refs[current].append(line)
    return rep


def final_report(
    req: PushRequest,
    unpack: str,
    statuses: Iterable[Status],
    relayed: Mapping[bytes, list[bytes]] | None = None,
) -> bytes:
    """The end of a push's answer: its report on the channel the client asked for; nothing
    but the closing flush (with side-band) when it asked for no report at all."""
    if not req.has(CAPABILITY_REPORT_STATUS) and not req.has(CAPABILITY_REPORT_STATUS_V2):
        return FLUSH if req.sideband else b""
    return wrap_report(req, report(unpack, statuses, relayed))


__all__ = [
    "ProtocolError",
    "Report",
    "Status",
    "final_report",
    "format_report",
    "one_line",
    "parse_report",
    "report",
    "status_line",
]
