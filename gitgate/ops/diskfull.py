"""Recognising "the gate's disk is full", wherever it surfaces, and saying so.

A full data dir shows up as an OSError (ENOSPC, EDQUOT) from the gate's own writes (spool,
quarantine, dulwich's pack files), as a line of git's stderr when the mirror is fetched or
created, and as SQLite's "database or disk is full". None of those is the agent's fault, and
none is upstream's: every one of them becomes `DiskFull`, which the push path reports as
"the gate is out of disk space (request ...); try again later" and logs for the admin.
Nothing is retried: the push is refused whole, its quarantine removed, and the next push after
space is freed runs as usual.
"""

from __future__ import annotations

import errno
import logging

log = logging.getLogger("gitgate.diskfull")

ERRNOS = (errno.ENOSPC, errno.EDQUOT)
TEXTS = ("No space left on device", "Disk quota exceeded", "database or disk is full")


class DiskFull(Exception):
    """The gate's data dir (or its database) has no space left."""


def is_disk_full(ex: BaseException | None) -> bool:
    """Whether `ex`, or an exception it was raised from, is a full disk."""
    seen = 0
    while ex is not None and seen < 10:
        if isinstance(ex, DiskFull):
            return True
        if isinstance(ex, OSError) and ex.errno in ERRNOS:
            return True
        if type(ex).__name__ in ("OperationalError", "DiskFullError") and any(
            t in str(ex) for t in TEXTS
        ):
            return True
        ex = ex.__cause__ or ex.__context__
        seen += 1
    return False


def in_output(text: str) -> bool:
    """Whether a tool's (git's) error output says the disk is full."""
    return any(t in text for t in TEXTS)


def message(request_id: str) -> str:
    """What the agent reads: the gate's fault, the request id to quote, what to do."""
    return f"the gate is out of disk space (request {request_id}); try again later"


def report(where: str, request_id: str) -> None:
    """One log line for the admin (the agent's message names the request id)."""
    log.error(
        "out of disk space while %s (request %s): free space in the data dir", where, request_id
    )
