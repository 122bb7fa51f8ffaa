"""Branch and tag tips read from what upstream tells git, to start mirror fetches early.

Two places show upstream's refs before a push needs them: the receive-pack advertisement
(just before the push itself) and a protocol v2 `ls-refs` answer (the agent's fetch before
it rebases and pushes). Both pass through the gate unchanged; these helpers only read along.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator


def add_tip(tips: list[bytes], line: bytes) -> None:
    """The id of an advertised branch or tag (`<id> refs/heads/x`); peeled `^{}` lines and
    anything else (`capabilities^{}` of an empty repo, pull refs) are not the mirror's."""
    oid, _, ref = line.partition(b" ")
    if (
        ref.startswith((b"refs/heads/", b"refs/tags/"))
        and not ref.endswith(b"^{}")
        and len(oid) in (40, 64)
        and oid.strip(b"0")
    ):
        tips.append(oid)


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
        if not watching:
            continue
        buf += chunk
        while watching and len(buf) >= 4:
            try:
                size = int(buf[:4], 16)
            except ValueError:
                watching = False
                break
            if size == 0:  # the end of the ref list
                watching = False
                if tips:
                    on_tips(tips)
                break
            if size < 4 or len(buf) < size:
                watching = size >= 4  # a delimiter is not ls-refs; else wait for more
                break
            line, buf = buf[4:size].rstrip(b"\n"), buf[size:]
            oid, _, rest = line.partition(b" ")
            if len(oid) not in (40, 64) or len(tips) > limit:
                watching = False
                break
            add_tip(tips, oid + b" " + rest.split(b" ")[0])
        if len(buf) > 65536:
            watching = False  # no pkt-line of ls-refs is that long
