"""SecretScanner through its worker processes: findings, cache, budget, threads."""

from __future__ import annotations

import hashlib
import inspect
import json
import textwrap
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from gitgate.scanning import ScanTimeout, SecretHit, SecretScanner
from tests.fixtures import secrets

BUDGET = 60.0
# detect-secrets' is_indirect_reference filter is cubic in the line length: ~4 s per such line.
# Unquoted, in a config file: the value is not written as a literal on the line, so the cubic
# `is_indirect_reference` filter runs on it (about 7 s here).
SLOW_LINE = "pass" + "word: Hunter2-abcdef" + " " * 900 + "=a("


def blob(data: bytes, path: str = "src/settings.py") -> tuple[bytes, str, bytes]:
    blob_id = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest().encode()
    return blob_id, path, data


def pairs(hits: list[SecretHit]) -> set[tuple[str, int]]:
    return {(h.type, h.line) for h in hits}


@pytest.fixture(scope="module")
def own_scanner() -> Iterator[SecretScanner]:
    """A scanner this module can count on (the shared one sees other modules' blobs)."""
    with SecretScanner(workers=2) as scanner:
        yield scanner


def test_each_fixture_secret_is_found_on_its_line(own_scanner: SecretScanner) -> None:
    data, planted = secrets.python_source()
    item = blob(data)
    hits = own_scanner.scan([item], budget_s=BUDGET)[item[0]]
    assert {(p.type, p.line) for p in planted} <= pairs(hits)
    assert {h.line for h in hits} <= {p.line for p in planted}  # nothing on the filler lines
    values = [secrets.AWS_ACCESS_KEY_ID, secrets.GITHUB_TOKEN, secrets.SLACK_TOKEN]
    assert not any(value in repr(hits) for value in values)
    assert all(len(hit.secret_hash) == 40 for hit in hits)


def test_hash_is_sha1_of_the_whole_token(own_scanner: SecretScanner) -> None:
    # detect-secrets itself hashes only "ghp", the same for every GitHub token.
    data, planted = secrets.python_source(["github_token"])
    item = blob(data)
    hits = own_scanner.scan([item], budget_s=BUDGET)[item[0]]
    token_hash = hashlib.sha1(secrets.GITHUB_TOKEN.encode()).hexdigest()
    assert ("GitHub Token", planted[0].line, token_hash) in {
        (h.type, h.line, h.secret_hash) for h in hits
    }


def test_clean_code_gives_nothing(own_scanner: SecretScanner) -> None:
    items = [
        blob(Path(secrets.__file__).read_bytes(), "tests/fixtures/secrets.py"),
        blob(inspect.getsource(textwrap).encode(), "textwrap.py"),
        blob(inspect.getsource(json).encode(), "json/__init__.py"),
        blob(b"", "empty.txt"),
    ]
    assert own_scanner.scan(items, budget_s=BUDGET) == {item[0]: [] for item in items}


def test_binary_blob_is_skipped(own_scanner: SecretScanner) -> None:
    item = blob(b"\x89PNG\r\n\x1a\n\0\0" + secrets.python_source()[0], "logo.png")
    before = own_scanner.blobs_scanned
    assert own_scanner.scan([item], budget_s=BUDGET) == {item[0]: []}
    assert own_scanner.blobs_scanned == before


def test_cached_blob_is_not_scanned_again(own_scanner: SecretScanner) -> None:
    item = blob(secrets.python_source(["keyword"], filler=7)[0])
    before = own_scanner.blobs_scanned
    first = own_scanner.scan([item, item], budget_s=BUDGET)
    assert own_scanner.blobs_scanned == before + 1
    hits_before = own_scanner.cache_hits
    assert own_scanner.scan([item], budget_s=0) == first  # no budget needed: no work
    assert own_scanner.blobs_scanned == before + 1
    assert own_scanner.cache_hits == hits_before + 1
    # Same blob under another extension: the keyword plugin may read it differently.
    own_scanner.scan([(item[0], "config/settings.yaml", item[2])], budget_s=BUDGET)
    assert own_scanner.blobs_scanned == before + 2


def test_allowlisted_hash_is_filtered_out() -> None:
    data, planted = secrets.python_source(["github_token", "keyword"])
    token_hash = hashlib.sha1(secrets.GITHUB_TOKEN.encode()).hexdigest()
    item = blob(data)
    with SecretScanner(workers=1, allowlist_hashes=[token_hash[:12].upper()]) as scanner:
        hits = scanner.scan([item], budget_s=BUDGET)[item[0]]
    assert token_hash not in {h.secret_hash for h in hits}
    assert pairs(hits) == {("Secret Keyword", planted[1].line)}


def test_allowlist_rejects_short_or_non_hex_entries() -> None:
    for bad in ["abc123", "z" * 40]:
        with pytest.raises(ValueError):
            SecretScanner(allowlist_hashes=[bad])


def test_only_the_first_max_blob_bytes_are_scanned() -> None:
    data, _ = secrets.python_source(["github_token"], filler=40)
    offset = data.index(secrets.GITHUB_TOKEN.encode())
    with SecretScanner(workers=1, max_blob_bytes=offset) as scanner:
        assert scanner.scan([blob(data)], budget_s=BUDGET) == {blob(data)[0]: []}


def test_big_blob_is_split_and_line_numbers_stay_right(own_scanner: SecretScanner) -> None:
    data, planted = secrets.python_source(filler=30_000)  # ~4 MB: many pieces, both workers
    item = blob(data)
    scanner = SecretScanner(workers=2, max_blob_bytes=len(data))
    with scanner:
        hits = scanner.scan([item], budget_s=BUDGET)[item[0]]
    assert {(p.type, p.line) for p in planted} <= pairs(hits)


def test_slow_line_times_out_quickly_and_scanner_recovers() -> None:
    slow = blob(("\n".join([SLOW_LINE] * 5) + "\n").encode(), "slow.yaml")
    with SecretScanner(workers=1) as scanner:
        scanner.scan([blob(b"x = 1\n")], budget_s=BUDGET)  # pool started: time the scan only
        started = time.monotonic()
        with pytest.raises(ScanTimeout):
            scanner.scan([slow], budget_s=0.5)
        assert time.monotonic() - started < 3  # undefended, the blob stalls a worker ~20 s
        data, planted = secrets.python_source(["slack_token"])
        hits = scanner.scan([blob(data)], budget_s=BUDGET)[blob(data)[0]]
        assert ("Slack Token", planted[0].line) in pairs(hits)


def test_concurrent_scans_from_threads(own_scanner: SecretScanner) -> None:
    jobs = [secrets.python_source(secrets.NAMES[i:] + secrets.NAMES[:i], filler=i + 1)
            for i in range(len(secrets.NAMES))]  # fmt: skip

    def scan(job: tuple[bytes, list[secrets.Planted]]) -> bool:
        item = blob(job[0])
        hits = own_scanner.scan([item], budget_s=BUDGET)[item[0]]
        return {(p.type, p.line) for p in job[1]} <= pairs(hits)

    with ThreadPoolExecutor(max_workers=len(jobs)) as threads:
        assert all(threads.map(scan, jobs))


def test_closed_scanner_refuses_work() -> None:
    scanner = SecretScanner(workers=1)
    scanner.close()
    with pytest.raises(RuntimeError):
        scanner.scan([blob(b"x = 1\n")], budget_s=BUDGET)


def test_abort_stops_a_scan_in_progress_and_its_workers() -> None:
    """Shutdown (gitgate/ops/shutdown.py): a scan caught mid-way ends at once with ScanAborted,
    and its worker processes are gone, without waiting for the budget."""
    import threading

    from gitgate.scanning import ScanAborted

    slow = blob(("\n".join([SLOW_LINE] * 20) + "\n").encode(), "slow.py")
    scanner = SecretScanner(workers=1)
    scanner.scan([blob(b"x = 1\n")], budget_s=BUDGET)  # the pool is up
    assert scanner._pool is not None
    workers = list(scanner._pool._pool)  # type: ignore[attr-defined]
    outcome: list[BaseException] = []

    def scan() -> None:
        try:
            scanner.scan([slow], budget_s=BUDGET)
        except BaseException as ex:
            outcome.append(ex)

    thread = threading.Thread(target=scan)
    thread.start()
    while scanner._wake is None or scanner._wake.is_set():  # the scan has started waiting
        thread.join(0.01)
    started = time.monotonic()
    scanner.abort()
    thread.join(30)
    assert not thread.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], ScanAborted)
    assert time.monotonic() - started < 10  # undefended, the scan runs ~80 s
    assert all(not w.is_alive() for w in workers)
    with pytest.raises(ScanAborted):
        scanner.scan([blob(b"y = 2\n")], budget_s=BUDGET)


def test_abort_while_the_pool_starts_leaves_no_pool_running(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SIGTERM while the pool is being started (200 ms; at worker boot when it is
    prestarted): abort() found no pool to stop, and the new one was then published and left
    running. The abort now wins: the new pool is terminated and the scan is ScanAborted."""
    import multiprocessing
    from multiprocessing.context import BaseContext

    from gitgate.scanning import ScanAborted

    scanner = SecretScanner(workers=1)
    started: list[Any] = []

    def pool_then_sigterm(self: BaseContext, *args: Any, **kwargs: Any) -> Any:
        pool = BaseContext.Pool(self, *args, **kwargs)
        started.append(pool)
        scanner.abort()  # arrives while the pool is coming up
        return pool

    context_type = type(multiprocessing.get_context("forkserver"))
    monkeypatch.setattr(context_type, "Pool", pool_then_sigterm)
    try:
        with pytest.raises(ScanAborted):
            scanner.scan([blob(b"x = 1\n")], budget_s=BUDGET)
        [pool] = started
        with pytest.raises(ValueError):  # "Pool not running": it was terminated
            pool.apply(int)
    finally:
        for pool in started:
            pool.terminate()


def test_prestart_starts_the_pool_and_a_scan_uses_it() -> None:
    scanner = SecretScanner(workers=1)
    try:
        scanner.prestart().join(60)
        assert scanner._pool is not None
        pool = scanner._pool
        assert scanner.scan([blob(b"x = 1\n")], budget_s=BUDGET) != {}
        assert scanner._pool is pool  # not started again
    finally:
        scanner.close()


def test_prestart_after_abort_starts_nothing() -> None:
    scanner = SecretScanner(workers=1)
    scanner.abort()
    scanner.prestart().join(60)
    assert scanner._pool is None
