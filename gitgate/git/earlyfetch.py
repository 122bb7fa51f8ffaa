"""Mirror fetches started by the receive-pack advertisement, not inside the push.

When upstream moved (a PR merged on GitHub, a human's push, another instance's relay), a push
used to unpack, miss the new objects, fetch, and unpack again, all while the client waited.
The gate proxies the advertisement a moment before the push, so it sees the new tips first:
`gitgate.git.routes` starts the fetch then, overlapping the client building its pack, and the
push waits for that fetch instead of starting its own. Per worker process; a push that lands
on another worker (or arrives after a failed early fetch) still fetches on a miss, as before.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("gitgate.earlyfetch")


class EarlyFetches:
    """At most one early fetch per repo at a time in this process."""

    def __init__(self, fetch: Callable[[str], None]) -> None:
        self._fetch = fetch
        self._running: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def start(self, repo: str) -> bool:
        """Start fetching `repo` in a background thread; False if one is running already."""
        with self._lock:
            if repo in self._running:
                return False
            done = self._running[repo] = threading.Event()

        def run() -> None:
            try:
                self._fetch(repo)
            except Exception as ex:  # the push's own fetch reports it, to the right party
                log.info("early fetch of %s failed: %s", repo, type(ex).__name__)
            finally:
                with self._lock:
                    self._running.pop(repo, None)
                done.set()

        threading.Thread(target=run, name=f"early-fetch-{repo}", daemon=True).start()
        return True

    def wait(self, repo: str, timeout: float) -> None:
        """Wait (up to `timeout` s) for the early fetch of `repo`, if one is running."""
        with self._lock:
            done = self._running.get(repo)
        if done is not None:
            done.wait(timeout)
