"""Branch and tag tips read from what upstream tells git, to start mirror fetches early.

Two places show upstream's refs before a push needs them: the receive-pack advertisement
(just before the push itself: `Advertisement.tips()`, gitgate.git.wire.advert) and a protocol
v2 `ls-refs` answer (the agent's fetch before it rebases and pushes, read along here). Both
pass through the gate unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from gitgate.git.wire import ProtocolError, is_tip, parse_ls_ref, split_pkts

MAX_LINE = 65536  # no pkt-line of ls-refs is that long


def watch_ls_refs(
    chunks: Iterator[bytes], on_tips: Callable[[list[bytes]], None], limit: int = 100_000
) -> Iterator[bytes]:
    """Pass a v2 upload-pack answer through unchanged; if it is an `ls-refs` answer (ref
    lines, then a flush), hand its branch and tag tips to `on_tips` at the flush. Anything
    else (a fetch's `acknowledgments`/`packfile` sections) stops the watching at its first
    line; the parse holds at most one pkt-line and never delays a byte."""
    buf, tips, watching = b"", list[bytes](), True
    for chunk in chunks:
        yield chunk
        if watching:
            buf += chunk
            watching, buf = _read_along(buf, tips, on_tips, limit)
            watching = watching and len(buf) <= MAX_LINE


def _read_along(
    buf: bytes, tips: list[bytes], on_tips: Callable[[list[bytes]], None], limit: int
) -> tuple[bool, bytes]:
    """Consume the whole ref lines in `buf`: (still an ls-refs answer?, what is left)."""
    used = 0
    try:
        for pkt in split_pkts(buf):
            if pkt.payload is None:
                if pkt.size == 0 and tips:  # the flush that ends the ref list
                    on_tips(tips)
                return False, b""  # a flush ends it; a delimiter is not ls-refs
            ref = parse_ls_ref(pkt.payload)
            if len(tips) > limit:
                return False, b""
            if is_tip(ref.oid, ref.name):
                tips.append(ref.oid)
            used = pkt.end
    except ProtocolError:
        return False, b""
    return True, buf[used:]
