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
    """Per repository, the pushes of this process whose mirror upkeep is still running."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._pending: dict[str, int] = {}

    @contextlib.contextmanager
    def running(self, repo: str) -> Iterator[None]:
        """Mark `repo`'s mirror as being settled for the length of the block."""
        with self._cond:
            self._pending[repo] = self._pending.get(repo, 0) + 1
        try:
            yield
        finally:
            with self._cond:
                left = self._pending[repo] - 1
                if left:
                    self._pending[repo] = left
                else:
                    del self._pending[repo]
                    self._cond.notify_all()

    def wait(self, repo: str, timeout: float) -> bool:
        """Wait (up to `timeout` s) until no upkeep of `repo` runs; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: repo not in self._pending, timeout)
