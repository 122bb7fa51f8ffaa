"""Send accepted ref updates upstream and read upstream's report back.

The gate always asks upstream for `report-status` and `side-band-64k`, whatever the client
asked for, so it knows the outcome of every relay (for the agent, the audit record and the
mirror). The body goes with a `Content-Length`: GitHub aborts uploads that stall mid-stream,
and the gate has the whole push spooled anyway.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from dulwich.protocol import (
    CAPABILITY_PUSH_OPTIONS,
    CAPABILITY_REPORT_STATUS,
    CAPABILITY_SIDE_BAND_64K,
    SIDE_BAND_CHANNEL_DATA,
    SIDE_BAND_CHANNEL_PROGRESS,
)

from gitgate.git.mirror import git_env
from gitgate.git.quarantine import Quarantine
from gitgate.git.wire import (
    Command,
    ProtocolError,
    PushRequest,
    Report,
    demux,
    encode_request_head,
    parse_advertisement,
    parse_report,
)
from gitgate.upstream.http import Upstream, UpstreamError

log = logging.getLogger("gitgate.relay")
COPY_CHUNK = 256 * 1024


@dataclass
class RelayResult(Report):
    """Upstream's report on a relayed push, with the HTTP status it came with."""

    status: int | None = None
    error: str | None = None


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


def _body(head: bytes, pack: BinaryIO | None) -> Callable[[], Iterator[bytes]]:
    """The request body, from the pack's current position, as often as it is asked for: a
    replayable body may go over a kept-alive connection (gitgate.upstream.http.Body)."""
    start = pack.tell() if pack is not None else 0

    def stream() -> Iterator[bytes]:
        yield head
        if pack is not None:
            pack.seek(start)
            while chunk := pack.read(COPY_CHUNK):
                yield chunk

    return stream


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
    try:
        for band, payload in demux(resp.read_some):
            if band == SIDE_BAND_CHANNEL_DATA:
                report += payload
            elif band == SIDE_BAND_CHANNEL_PROGRESS:
                on_progress(payload)
            else:
                text = payload.decode("utf-8", "replace").strip()
                raise UpstreamError(f"upstream failed: {text[:200]}")
    except ProtocolError as ex:
        raise UpstreamError(f"upstream's reply was cut short ({ex})") from None
    finally:
        resp.close()
    try:
        parsed = parse_report(bytes(report))
    except ProtocolError:
        raise UpstreamError("upstream sent a malformed report") from None
    result.unpack, result.refs = parsed.unpack, parsed.refs
    return result


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
    try:
        adv = parse_advertisement(resp.read_some)
    except ProtocolError:
        raise UpstreamError("upstream sent a malformed ref advertisement") from None
    finally:
        resp.close()
    return adv.refs, set(adv.capabilities)
