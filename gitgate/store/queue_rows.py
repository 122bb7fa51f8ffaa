"""Row-level building blocks shared by the queue's transitions (queue.py, review.py).

All of them run inside the caller's :func:`gitgate.db.write_transaction`.
"""

from __future__ import annotations

import functools
import os
import socket
from datetime import datetime

import peewee

from gitgate.db import for_update
from gitgate.db.models import PENDING, QueuedPush
from gitgate.store.errors import UnknownPush

EXPIRED_REASON = "expired before enough reviewers approved"
RELEASED = "released"  # a taker that could not resolve the claim gave it back: try again


def locked_push(push_id: int) -> QueuedPush:
    """The push row, locked until the end of the transaction (PostgreSQL; SQLite: the
    transaction already holds the database's write lock)."""
    row = for_update(QueuedPush.select().where(QueuedPush.id == push_id)).first()
    if row is None:
        raise UnknownPush(push_id)
    return row


def lock_ids(query: peewee.ModelSelect[QueuedPush]) -> list[int]:
    """The ids ``query`` selects, locked, in id order (one order for all: no deadlocks)."""
    return [int(row.id) for row in for_update(query.order_by(QueuedPush.id))]


def leave_pending(push_id: int, state: str, reason: str, now: datetime) -> bool:
    """Move a pending push to ``state``; False if it was not pending any more."""
    changed = (
        QueuedPush.update(state=state, state_reason=reason, decided_at=now)
        .where(QueuedPush.id == push_id, QueuedPush.state == PENDING)
        .execute()
    )
    return changed == 1


@functools.cache
def _machine() -> str:
    """This host and pid namespace: hostname, kernel boot id and pid namespace. Containers may
    share a hostname (or a kernel): only a claimer with the very same key is checked by pid."""
    parts = [socket.gethostname()]
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as boot:
            parts.append(boot.read().strip()[:8])
        parts.append(os.readlink("/proc/self/ns/pid").strip("pid:[]"))
    except OSError:
        pass
    return "/".join(parts)


def claimer_id() -> str:
    """Who claims a relay: ``host/boot/pidns:pid``. A claimer on this machine is known dead
    when its pid is gone (see :func:`claimer_alive`), which needs no timer."""
    return f"{_machine()}:{os.getpid()}"


def claimer_alive(claimed_by: str | None) -> bool | None:
    """True/False for a claimer on this machine (is its process still running?), None when it
    cannot be told from here (another machine, or a row claimed before claimers were kept)."""
    if claimed_by == RELEASED:
        return False
    machine, _, pid_text = (claimed_by or "").rpartition(":")
    if machine != _machine() or not pid_text.isdigit():
        return None
    pid = int(pid_text)
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed process not yet reaped by its parent is a zombie: it relays nothing
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return True
