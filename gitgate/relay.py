"""Send accepted ref updates upstream and read upstream's report back.

The gate always asks upstream for `report-status` and `side-band-64k`, whatever the client
asked for, so it knows the outcome of every relay (for the agent, the audit record and the
mirror). The body goes with a `Content-Length`: GitHub aborts uploads that stall mid-stream,
and the gate has the whole push spooled anyway.
"""

from __future__ import annotations

import io
import logging
import subprocess
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

from dulwich.errors import GitProtocolError, HangupException
from dulwich.protocol import (
    CAPABILITY_PUSH_OPTIONS,
    CAPABILITY_REPORT_STATUS,
    CAPABILITY_SIDE_BAND_64K,
    SIDE_BAND_CHANNEL_DATA,
    SIDE_BAND_CHANNEL_FATAL,
    SIDE_BAND_CHANNEL_PROGRESS,
    Protocol,
)

from gitgate.mirror import Quarantine, git_env
from gitgate.protocol import Command, PushRequest, encode_request_head
from gitgate.upstream import Upstream, UpstreamError

log = logging.getLogger("gitgate.relay")
COPY_CHUNK = 256 * 1024


@dataclass
class RelayResult:
    unpack: str = "ok"
    refs: dict[bytes, list[bytes]] = field(default_factory=dict)  # ref -> report lines
    status: int | None = None
    error: str | None = None

    def ok(self, ref: bytes) -> bool:
        lines = self.refs.get(ref) or []
        return bool(lines) and lines[0].startswith(b"ok ")


def upstream_request(
    req: PushRequest, commands: Sequence[Command], upstream_caps: set[bytes] | None = None
) -> PushRequest:
    """The request as the gate sends it: client's capabilities plus the two it relies on,
    without the gate's own `gitgate.*` push options, and without push options at all when
    upstream does not take them (the gate offers push-options to clients whatever upstream
    does, because it reads its own)."""
    caps = list(req.capabilities)
    for cap in (CAPABILITY_REPORT_STATUS, CAPABILITY_SIDE_BAND_64K):
        if cap not in caps:
            caps.append(cap)
    caps = [c for c in caps if not c.startswith(b"agent=")] + [b"agent=gitgate"]
    options = [o for o in req.push_options if not o.startswith(b"gitgate.")]
    if upstream_caps is not None and CAPABILITY_PUSH_OPTIONS not in upstream_caps:
        options = []
    if not options:
        caps = [c for c in caps if c != CAPABILITY_PUSH_OPTIONS]
    return PushRequest(list(commands), caps, options, req.pack_offset, list(req.shallow))


def _body(head: bytes, pack: BinaryIO | None) -> Iterator[bytes]:
    yield head
    if pack is not None:
        while chunk := pack.read(COPY_CHUNK):
            yield chunk


def relay(
    upstream: Upstream,
    repo: str,
    req: PushRequest,
    commands: Sequence[Command],
    pack: BinaryIO | None,
    pack_len: int,
    on_progress: Callable[[bytes], None],
) -> RelayResult:
    """POST the accepted commands and `pack` to upstream; forward band-2 text as it comes."""
    up = upstream_request(req, commands)
    if up.push_options:  # only then is it worth asking what upstream supports
        _, caps = advertisement(upstream, repo)
        up = upstream_request(req, commands, caps)
        if not up.push_options:
            on_progress(b"gitgate: upstream does not take push options; they were not sent\n")
    head = encode_request_head(up, commands)
    resp = upstream.request(
        "POST",
        repo,
        "git-receive-pack",
        headers={
            "Content-Type": "application/x-git-receive-pack-request",
            "Accept": "application/x-git-receive-pack-result",
        },
        body=_body(head, pack if pack_len else None),
        content_length=len(head) + pack_len,
    )
    result = RelayResult(status=resp.status)
    if resp.status != 200:
        resp.close()
        raise UpstreamError(f"upstream answered HTTP {resp.status} to the push", resp.status)
    report = bytearray()
    proto = Protocol(resp._resp.read, lambda _d: None)
    try:
        while (pkt := proto.read_pkt_line()) is not None:
            band, payload = pkt[0], pkt[1:]
            if band == SIDE_BAND_CHANNEL_DATA:
                report += payload
            elif band == SIDE_BAND_CHANNEL_PROGRESS:
                on_progress(payload)
            elif band == SIDE_BAND_CHANNEL_FATAL:
                text = payload.decode("utf-8", "replace").strip()
                raise UpstreamError(f"upstream failed: {text[:200]}")
    except (HangupException, GitProtocolError) as ex:
        raise UpstreamError(f"upstream's reply was cut short ({type(ex).__name__})") from None
    finally:
        resp.close()
    _parse_report(bytes(report), result)
    return result


def _parse_report(data: bytes, result: RelayResult) -> None:
    """Parse report-status(-v2) lines: `unpack`, `ok`/`ng` per ref, `option` after an ok."""
    stream = io.BytesIO(data)
    proto = Protocol(stream.read, lambda _d: None)
    current: bytes | None = None
    while stream.tell() < len(data):
        try:
            pkt = proto.read_pkt_line()
        except (HangupException, GitProtocolError):
            raise UpstreamError("upstream sent a malformed report") from None
        if pkt is None:
            continue
        line = pkt.rstrip(b"\n")
        if line.startswith(b"unpack "):
            result.unpack = line[7:].decode("utf-8", "replace")
        elif line.startswith((b"ok ", b"ng ")):
            current = line[3:].split(b" ", 1)[0]
            result.refs[current] = [line]
        elif line.startswith(b"option ") and current is not None:
            result.refs[current].append(line)


def repack(quarantine: Quarantine, mirror_dir: str, commands: Sequence[Command]) -> BinaryIO:
    """A thin pack with only what `commands` need, for relaying part of a push.

    Used when some refs of a non-atomic push are refused: the client's pack also holds the
    refused refs' objects (perhaps the very secret that was refused), and those must not reach
    upstream even unreferenced. Excludes what the mirror's refs have (fetched just before).
    """
    import tempfile

    revs = [c.new.decode() for c in commands if not c.is_delete]
    refs = (
        subprocess.run(
            ["git", "for-each-ref", "--format=%(objectname)"],
            env=git_env({"GIT_DIR": mirror_dir}),
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split()
    )
    stdin = "\n".join([*revs, "--not", *refs]) + "\n"
    out = tempfile.TemporaryFile(dir=quarantine.dir)  # noqa: SIM115 - the caller closes it
    proc = subprocess.run(
        ["git", "pack-objects", "--revs", "--thin", "--stdout", "--delta-base-offset", "-q"],
        input=stdin.encode(),
        stdout=out,
        stderr=subprocess.PIPE,
        env=git_env(
            {
                "GIT_DIR": mirror_dir,
                "GIT_OBJECT_DIRECTORY": str(quarantine.objects),
                "GIT_ALTERNATE_OBJECT_DIRECTORIES": f"{mirror_dir}/objects",
            }
        ),
    )
    if proc.returncode != 0:
        out.close()
        raise RuntimeError("git pack-objects failed: " + proc.stderr.decode()[-200:])
    out.seek(0)
    return out


def advertised_refs(upstream: Upstream, repo: str) -> dict[bytes, bytes]:
    """Upstream's refs now (its receive-pack advertisement): ref name -> id."""
    return advertisement(upstream, repo)[0]


def advertisement(upstream: Upstream, repo: str) -> tuple[dict[bytes, bytes], set[bytes]]:
    """Upstream's receive-pack advertisement: its refs and its capabilities."""
    resp = upstream.request("GET", repo, "info/refs?service=git-receive-pack")
    if resp.status != 200:
        resp.close()
        raise UpstreamError(f"upstream answered HTTP {resp.status} for {repo}", resp.status)
    proto = Protocol(resp._resp.read, lambda _d: None)
    refs: dict[bytes, bytes] = {}
    caps: set[bytes] = set()
    try:
        proto.read_pkt_line()  # "# service=git-receive-pack"
        proto.read_pkt_line()  # flush
        while (line := proto.read_pkt_line()) is not None:
            oid, _, rest = line.rstrip(b"\n").partition(b" ")
            name, _, cap_text = rest.partition(b"\0")
            caps.update(cap_text.split())
            if name != b"capabilities^{}":
                refs[name] = oid
    except (HangupException, GitProtocolError):
        raise UpstreamError("upstream sent a malformed ref advertisement") from None
    finally:
        resp.close()
    return refs, caps
