"""Scan one batch while the next is prepared (issue #17).

The secrets check prepares its texts in the gate's process (blob reads, unchanged lines
blanked: ~0.6 s for the 5,000-commit history) and the scanner's workers scan them (~0.6 s on
2 cores). One after the other, the workers idle while the texts are prepared and the gate's
thread idles while they scan. Here each batch is handed to the scanner on a thread of its own
as soon as it is full, and the caller goes on preparing the next one.

Bounds kept: at most one batch is being scanned while one more is filled (memory stays at
two batches whatever the push's size); every scan call gets what is left of the one
deadline, so a scan stays killable within the push's budget (the scanner terminates its
workers past it); an error of a scan (ScanTimeout, ScanError) is raised to the caller at
its next hand-over or at `finish`, and the caller never leaves while a scan still runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType

from gitgate.scanning.model import ScanTimeout, SecretHit

Text = tuple[bytes, str, bytes]  # (key, path, data), as SecretScanner.scan takes them
Hits = dict[bytes, list[SecretHit]]
ScanCall = Callable[[Sequence[Text], float], Hits]  # (texts, budget in s) -> hits


class Overlapped:
    """Use as a context manager: `submit` each batch, then `finish` for every batch's hits."""

    def __init__(self, scan: ScanCall, deadline: float) -> None:
        self._scan = scan
        self._deadline = deadline
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gitgate-scan")
        self._running: Future[Hits] | None = None
        self.hits: Hits = {}

    def _left(self) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise ScanTimeout("the push's scan budget is spent")
        return left

    def _collect(self) -> None:
        running, self._running = self._running, None
        if running is not None:
            self.hits.update(running.result())

    def submit(self, batch: list[Text]) -> None:
        """Scan `batch` in the background, once the batch before it is scanned."""
        self._collect()
        self._running = self._pool.submit(self._scan, batch, self._left())

    def finish(self) -> Hits:
        """Every submitted batch's hits, once the last scan is done."""
        self._collect()
        return self.hits

    def __enter__(self) -> Overlapped:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # a scan still running ends within its budget: wait for it, so no scan outlives the
        # check (and the scanner's lock is free for the next push)
        self._pool.shutdown(wait=True)
