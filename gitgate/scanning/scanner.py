"""SecretScanner: blobs in, findings per blob out, within a hard time budget.

The scanning runs in worker processes because detect-secrets can be made to stall: one crafted
~900-character line costs its `is_indirect_reference` filter seconds (the regex is cubic), and a
thread cannot be stopped. A process can: on budget exceeded the pool is terminated, the caller
gets ScanTimeout (and fails closed), and the next scan starts a fresh pool.

The workers are started through a fork server, never by forking the caller: the caller is a
multi-threaded gunicorn worker, and a fork copies whatever locks its other threads hold.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import string
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from multiprocessing.pool import Pool

from gitgate.scanning import engine, paths
from gitgate.scanning.cache import LruCache
from gitgate.scanning.model import RawHit, ScanAborted, ScanTimeout, SecretHit

log = logging.getLogger(__name__)

# Work is cut into pieces of about this size, at line ends (scanning is line-local), so that one
# big blob keeps every worker busy and a batch of small blobs costs one round trip.
CHUNK_BYTES = 256 * 1024
BINARY_PROBE_BYTES = 8000  # git's rule: a NUL in the first 8000 bytes makes a file binary
MIN_HASH_PREFIX = 12  # what the gate shows in messages; shorter would allowlist too much

CacheKey = tuple[bytes, str]  # (blob id, pseudo file name: all of a path that matters, `paths`)


def is_binary(data: bytes) -> bool:
    return data.find(b"\0", 0, BINARY_PROBE_BYTES) != -1


def split_lines(data: bytes, size: int = CHUNK_BYTES) -> Iterator[tuple[int, bytes]]:
    """(number of its first line, piece) for pieces of at least `size` bytes cut at newlines.

    Cutting at b"\\n" is safe for decoding: in UTF-8 that byte is never part of another
    character, so decoding the pieces gives the same lines as decoding the whole.
    """
    start, line = 0, 1
    while True:
        cut = data.find(b"\n", start + size) if start + size < len(data) else -1
        if cut == -1:
            yield line, data[start:]
            return
        piece = data[start:cut]
        yield line, piece
        line += piece.count(b"\n") + 1
        start = cut + 1


def batches(
    items: Iterable[engine.WorkItem], size: int = CHUNK_BYTES
) -> list[list[engine.WorkItem]]:
    out: list[list[engine.WorkItem]] = []
    batch: list[engine.WorkItem] = []
    total = 0
    for item in items:
        if batch and total + len(item[3]) > size:
            out.append(batch)
            batch, total = [], 0
        batch.append(item)
        total += len(item[3])
    if batch:
        out.append(batch)
    return out


def _allowlist(hashes: Iterable[str]) -> dict[int, frozenset[str]]:
    """Allowlisted sha1 hex digests, or prefixes of at least MIN_HASH_PREFIX, by length."""
    by_length: dict[int, set[str]] = {}
    for raw in hashes:
        value = raw.strip().lower()
        if not (MIN_HASH_PREFIX <= len(value) <= 40) or set(value) - set(string.hexdigits):
            raise ValueError(
                f"allowlisted secret hash must be {MIN_HASH_PREFIX}-40 hex digits: {raw!r}"
            )
        by_length.setdefault(len(value), set()).add(value)
    return {length: frozenset(values) for length, values in by_length.items()}


class SecretScanner:
    """Thread-safe. One per process; it owns `workers` processes, started on first use.

    Choices the callers should know:
    - Binary blobs (a NUL in the first 8000 bytes, as git decides) are not scanned: [].
    - Only the first `max_blob_bytes` of a blob are scanned; the rest is not, and nothing marks
      it. Limit blob sizes in policy if that matters.
    - Results are cached per (blob id, `paths.scan_name(path)`), before the allowlist.
    - Scans are serialised (one at a time uses all workers); waiting for another scan counts
      against the budget.
    - `blobs_scanned` and `cache_hits` count work done, for tests and metrics.
    """

    def __init__(
        self,
        *,
        workers: int = 2,
        max_blob_bytes: int = 2_000_000,
        allowlist_hashes: Iterable[str] = (),
        cache_size: int = 100_000,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self._workers = workers
        self._max_blob_bytes = max_blob_bytes
        self._allowlist = _allowlist(allowlist_hashes)
        self._cache: LruCache[CacheKey, tuple[RawHit, ...]] = LruCache(cache_size)
        self._lock = threading.Lock()  # one scan at a time owns the pool
        # Guards publishing and taking the pool against abort(), which never waits for _lock
        self._state = threading.Lock()
        self._pool: Pool | None = None
        self._pool_pid = 0
        self._closed = False
        self._aborted = False
        self._wake: threading.Event | None = None  # set when the scan in progress may stop
        self._stats_lock = threading.Lock()
        self.blobs_scanned = 0
        self.cache_hits = 0

    def scan(
        self, blobs: Sequence[tuple[bytes, str, bytes]], *, budget_s: float
    ) -> dict[bytes, list[SecretHit]]:
        """Findings per blob id ([] when clean) for (blob id, path, data) triples.

        Raises ScanTimeout past `budget_s` seconds, ScanError if a worker failed.
        """
        deadline = time.monotonic() + budget_s
        found: dict[bytes, set[RawHit]] = {}
        todo: dict[CacheKey, bytes] = {}
        cache_hits = 0
        for blob_id, path, data in blobs:
            hits = found.setdefault(blob_id, set())
            key = (blob_id, paths.scan_name(path))
            cached = self._cache.get(key)
            if cached is not None:
                hits.update(cached)
                cache_hits += 1
            elif key not in todo and not is_binary(data):
                todo[key] = data
        with self._stats_lock:
            self.cache_hits += cache_hits
        if todo:
            from gitgate.audit.metrics import SCAN_SECONDS, SCANNER_BUSY, Timer

            with Timer(SCAN_SECONDS, SCANNER_BUSY):
                scanned = self._scan_uncached(todo, deadline)
            for key, raw in scanned.items():
                self._cache.put(key, raw)
                found[key[0]].update(raw)
        return {blob_id: self._hits(raw) for blob_id, raw in found.items()}

    def close(self) -> None:
        """Stop the workers (waits for a scan in progress). The scanner cannot be used after."""
        with self._lock:
            self._closed = True
            self._discard_pool()

    def prestart(self) -> threading.Thread:
        """Start the worker processes now, in the background, so that the first push does not
        wait for them (180-220 ms): a gunicorn worker calls it as it boots (gitgate.app). A
        scan arriving meanwhile waits for the pool as it would have started it itself; an
        abort() meanwhile ends it (see `_ensure_pool`)."""
        thread = threading.Thread(target=self._prestart, name="scanner-prestart", daemon=True)
        thread.start()
        return thread

    def abort(self) -> None:
        """Stop the workers now, for shutdown: a scan in progress raises ScanAborted at once
        (it does not wait for the lock it holds). The scanner cannot be used after."""
        with self._state:  # no pool is published after this (see _ensure_pool)
            self._aborted = self._closed = True
        wake = self._wake
        if wake is not None:
            wake.set()
        self._discard_pool()

    def __enter__(self) -> SecretScanner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _hits(self, raw: set[RawHit]) -> list[SecretHit]:
        return [
            SecretHit(kind, line, digest, level, start, end)
            for kind, line, digest, level, start, end in sorted(
                raw, key=lambda r: (r[1], r[0], r[2])
            )
            if not self._allowlisted(digest)
        ]

    def _allowlisted(self, digest: str) -> bool:
        return any(digest[:length] in values for length, values in self._allowlist.items())

    def _scan_uncached(
        self, todo: dict[CacheKey, bytes], deadline: float
    ) -> dict[CacheKey, tuple[RawHit, ...]]:
        keys = list(todo)
        items = (
            # The worker sees only the pseudo name, so the cache key says all it depends on.
            (index, key[1], first_line, piece)
            for index, key in enumerate(keys)
            for first_line, piece in split_lines(todo[key][: self._max_blob_bytes])
        )
        tasks = batches(items)
        if not self._lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise ScanTimeout("secret scan budget spent waiting for another scan")
        try:
            self._wake = done = threading.Event()
            if self._aborted:
                raise ScanAborted("the gate is shutting down")
            if self._closed:
                raise RuntimeError("the secret scanner is closed")
            try:
                pending = self._ensure_pool().map_async(
                    engine.scan_task,
                    tasks,
                    chunksize=1,
                    callback=lambda _: done.set(),
                    error_callback=lambda _: done.set(),
                )
            except ValueError:  # "Pool not running": abort() got there first
                if self._aborted:
                    raise ScanAborted("the gate is shutting down") from None
                raise
            finished = done.wait(timeout=max(0.0, deadline - time.monotonic()))
            if self._aborted:
                raise ScanAborted("the gate is shutting down")
            if not finished:
                log.warning("secret scan over budget: stopping its worker processes")
                self._discard_pool()
                raise ScanTimeout("secret scan exceeded its time budget")
            # the callbacks run just before the result is marked ready: wait for that too
            results = pending.get(timeout=max(1.0, deadline - time.monotonic()))
            with self._stats_lock:
                self.blobs_scanned += len(keys)
        finally:
            self._lock.release()
        raw: dict[CacheKey, set[RawHit]] = {key: set() for key in keys}
        for batch in results:
            for index, hits in batch:
                raw[keys[index]].update(hits)
        return {key: tuple(sorted(hits)) for key, hits in raw.items()}

    def _prestart(self) -> None:
        with self._lock:
            if self._closed:
                return
            try:
                self._ensure_pool()
            except ScanAborted:
                pass
            except Exception:  # the first scan will try again, and fail closed if it must
                log.exception("could not start the secret scanner's processes")

    def _ensure_pool(self) -> Pool:
        """The pool, started if need be; called with `_lock` held.

        Starting a pool takes 200 ms, and abort() (SIGTERM) does not wait for `_lock`: an
        abort during the start used to find no pool to stop, and the new one was then
        published and left running. Now the pool is published under `_state`, only if no
        abort came first; otherwise it is terminated here and the caller gets ScanAborted."""
        if self._aborted:  # abort() ran after the caller's check: start nothing new
            raise ScanAborted("the gate is shutting down")
        pool = self._pool
        if pool is not None and self._pool_pid == os.getpid():
            return pool
        # None, or inherited through a fork: its threads stayed in the parent
        context = multiprocessing.get_context("forkserver")
        # The fork server imports the engine once; each new worker is a cheap fork of it.
        context.set_forkserver_preload([engine.__name__])
        pool = context.Pool(self._workers, initializer=engine.init_worker, initargs=(os.getpid(),))
        with self._state:
            if not self._aborted:
                self._pool, self._pool_pid = pool, os.getpid()
                return pool
        pool.terminate()
        raise ScanAborted("the gate is shutting down")

    def _discard_pool(self) -> None:
        with self._state:
            pool, self._pool = self._pool, None
            mine = self._pool_pid == os.getpid()
        if pool is not None and mine:
            pool.terminate()
