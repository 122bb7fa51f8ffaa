"""Hold a queued push open until its reviewer decides: `git push -o gitgate.wait=10m`.

Agents read only what git prints, and git exits 1 on a queued push, so agents retry. Held, the
push's response stays open (side-band keepalives from gitgate.git.receive, a progress line every
``PROGRESS_S``) and ends with the real outcome: relayed -> `ok` (git exits 0 and prints the
usual `a..b main -> main`), rejected/stale/failed/expired/superseded -> `ng` with the reason,
window over -> `ng ... still queued as #N; no need to push again`.

The state is polled from the database every ``POLL_S``: an approval on any instance sharing
the database (or the CLI) ends the hold, and nothing is lost when the waiting instance dies
(the entry stays queued). A held push occupies one request thread, so at most
``queue.max_held`` pushes per worker process (and never more than ``server.threads`` - 1)
are held; past that the push ends queued at once, and says why.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gitgate.audit.metrics import HELD_PUSHES
from gitgate.config import QueueConfig, Rule, parse_duration

if TYPE_CHECKING:
    from gitgate.exchange import Caller, Exchange
    from gitgate.store.queue_views import PushInfo

log = logging.getLogger("gitgate.hold")
WAIT_OPTION = "gitgate.wait="
POLL_S = 1.0
PROGRESS_S = 10.0
RELAY_GRACE_S = 120.0  # an approval that came in time: wait this much longer for its relay
WAITING = frozenset({"pending", "relaying"})


@dataclass(frozen=True)
class Held:
    """How a hold ended: ``state`` is the entry's state then (pending when the window ran out),
    ``reason`` the one-line `ng` reason (None: relayed), ``lines`` extra `remote:` lines."""

    state: str
    reason: str | None
    lines: list[str]
    waited_s: float


def requested_wait(
    options: Iterable[str], rules: Sequence[Rule | None], cfg: QueueConfig
) -> tuple[float, list[str]]:
    """Seconds to hold (0: don't), and warnings for the agent. The push option wins over the
    rules' ``wait``; either is capped by ``queue.max_wait``."""
    warnings: list[str] = []
    wait = float(max((r.wait for r in rules if r is not None), default=0))
    for opt in options:
        if opt.startswith(WAIT_OPTION):
            text = opt[len(WAIT_OPTION) :].strip()
            try:
                wait = float(parse_duration(text))
            except ValueError:
                warnings.append(
                    f"warning: push option gitgate.wait={text[:40]!r} is not a duration "
                    "(use e.g. 90s or 10m); not waiting"
                )
                return 0.0, warnings
    if wait > cfg.max_wait:
        warnings.append(
            f"warning: waiting at most {_dur(cfg.max_wait)} (the gate's queue.max_wait), "
            f"not {_dur(wait)}"
        )
        wait = float(cfg.max_wait)
    return max(wait, 0.0), warnings


class Holder:
    """Per worker process: the bound on held pushes and the waiting itself."""

    def __init__(self, cfg: QueueConfig, threads: int) -> None:
        self.cfg = cfg
        # APPSEC: a held push keeps a request thread; at least one thread always stays free
        # for clones and other pushes, whatever queue.max_held says
        self.limit = min(cfg.max_held, threads - 1)
        self._slots = threading.BoundedSemaphore(max(self.limit, 1))
        self.stopping = threading.Event()  # set on shutdown: holds end "still queued"

    def hold(
        self,
        push_id: int,
        seconds: float,
        say: Callable[[list[str]], None],
        cancelled: threading.Event,
    ) -> Held:
        still = (
            f"still queued as #{push_id}; no need to push again: the gate pushes it when a "
            "reviewer approves it"
        )
        if self.limit < 1 or not self._slots.acquire(blocking=False):
            return Held(
                "pending",
                still,
                [
                    f"hint: not waiting for review: this gate already holds {self.limit} "
                    f"pushes open. #{push_id} is queued; push again later (nothing new is "
                    "queued) or run `git fetch` after it is approved"
                ],
                0.0,
            )
        HELD_PUSHES.inc()  # livesum: a worker that dies mid-hold drops out of the sum
        try:
            return self._wait(push_id, seconds, say, cancelled, still)
        finally:
            HELD_PUSHES.dec()
            self._slots.release()

    def _wait(
        self,
        push_id: int,
        seconds: float,
        say: Callable[[list[str]], None],
        cancelled: threading.Event,
        still: str,
    ) -> Held:
        from gitgate.db import connection
        from gitgate.store import queue

        started = time.monotonic()
        deadline = started + seconds
        next_progress = started
        with connection():
            while True:
                info = queue.get(push_id)
                now = time.monotonic()
                if info is None:
                    return Held("unknown", f"queued push #{push_id} is gone", [], now - started)
                if info.state not in WAITING:
                    return _ended(info, now - started)
                over = now >= deadline and (
                    info.state == "pending" or now >= deadline + RELAY_GRACE_S
                )
                if over or cancelled.is_set() or self.stopping.is_set():
                    why = "the wait window is over" if over else "the gate is restarting"
                    return Held(info.state, still, [f"hint: {why}: {still}"], now - started)
                if now >= next_progress:
                    next_progress = now + PROGRESS_S
                    say([_progress(push_id, info, now - started)])
                left = deadline - now
                self.stopping.wait(min(POLL_S, left) if left > 0.05 else POLL_S)


def _progress(push_id: int, info: PushInfo, elapsed: float) -> str:
    approvals = len(info.approvers)
    required = info.approvals_required
    if info.state == "relaying":
        return f"gitgate: review #{push_id} approved; relaying — {_dur(elapsed)}"
    return (
        f"gitgate: waiting for review #{push_id} ({approvals} of {required} approvals) — "
        f"{_dur(elapsed)}"
    )


def _ended(info: PushInfo, waited: float) -> Held:
    from gitgate.outcomes.story import outcome_lines

    state = info.state
    lines, reason = outcome_lines(info)
    return Held(state, None if state == "relayed" else reason, lines, waited)


def _dur(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    return f"{seconds // 60}m{seconds % 60:02d}s"


def tell_story(caller: Caller, say: Callable[[list[str]], None]) -> list[int]:
    """Tell the agent what became of its earlier queued pushes to this repo; returns their
    ids, to be marked told once the answer is on its way (:func:`mark_told`)."""
    try:
        from gitgate.outcomes.story import story_lines

        lines, ids = story_lines(caller.repo, caller.subject)
    except Exception:  # never fail a push over the story of an earlier one
        log.exception("could not read the queue outcomes for %s", caller.subject)
        return []
    say(lines)
    return ids


def mark_told(ids: list[int]) -> None:
    if ids:
        try:
            from gitgate.store.changes import mark_told as store_mark_told

            store_mark_told(ids)
        except Exception:
            log.exception("could not record that queue outcomes were told")


def hold_statuses(
    holder: Holder,
    caller: Caller,
    wait: float,
    statuses: list[tuple[bytes, str | None]],
    say: Callable[[list[str]], None],
    outcome: Exchange,
) -> list[tuple[bytes, str | None]]:
    """Hold the push's queue entry open; its refs' statuses become the real outcome."""
    from gitgate.outcomes.approval import announce_hold

    assert outcome.enqueued is not None
    push_id = outcome.enqueued.id
    announce_hold(push_id, caller, wait)
    held = holder.hold(push_id, wait, say, outcome.cancelled)
    say(held.lines)
    outcome.events.append(
        {
            "event": "hold",
            "id": push_id,
            "waited_s": round(held.waited_s, 1),
            "outcome": held.state,
        }
    )
    if held.state not in WAITING:
        mark_told([push_id])
    mine = {ref.encode() for ref, i in outcome.queue_ids.items() if i == push_id}
    return [(ref, held.reason if ref in mine else reason) for ref, reason in statuses]
