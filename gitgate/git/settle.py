"""Mirror upkeep that runs after the agent has its answer, and the pushes that wait for it.

A relayed push leaves the mirror two things to do: adopt the pack upstream took and record
the refs upstream accepted; then its quarantine goes. None of it changes what the agent is
told, and together it cost a small push about 8 ms between upstream's report and the agent's
`ok`. So the push answers first and settles after (gitgate.git.receive), in the same thread.

The next push to the same repo must see the mirror settled, or it would miss the adopted
objects and fetch them from upstream (slower than waiting a few ms): the mirror's readers in
this process (`Mirrors.lacks_any`, the unpack) wait here first. Another worker process never
saw this push's pack anyway until it was adopted; it fetches on a miss, as before. A worker
killed mid-settle leaves a consistent cache: packs are linked before their index and refs are
written by rename, and the quarantine is removed by `gitgate purge`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator


class Settling:
    """Per repository, the pushes of this process whose mirror upkeep is still running.

    A reader waits only for the upkeep that had started when it began to wait: with many
    agents pushing to one repo at once, some upkeep is nearly always running, and waiting
    for none would queue every push behind all the others."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._next = 0
        self._running: dict[str, set[int]] = {}

    @contextlib.contextmanager
    def running(self, repo: str) -> Iterator[None]:
        """Mark `repo`'s mirror as being settled for the length of the block."""
        with self._cond:
            ticket = self._next
            self._next += 1
            self._running.setdefault(repo, set()).add(ticket)
        try:
            yield
        finally:
            with self._cond:
                tickets = self._running[repo]
                tickets.discard(ticket)
                if not tickets:
                    del self._running[repo]
                self._cond.notify_all()

    def wait(self, repo: str, timeout: float) -> bool:
        """Wait (up to `timeout` s) until the upkeep of `repo` running now has ended (not
        upkeep that starts meanwhile); False on timeout."""
        return self.wait_since(self.now(), repo, timeout)

    def now(self) -> int:
        """A mark: upkeep started before it is what `wait_since` waits for."""
        with self._cond:
            return self._next

    def wait_since(self, mark: int, repo: str, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(
                lambda: not any(t < mark for t in self._running.get(repo, ())), timeout
            )
