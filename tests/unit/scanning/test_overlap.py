"""Scanning one batch while the next is prepared (gitgate/scanning/overlap.py): the caller is
not held while a batch is scanned, at most one batch is scanned at a time, every batch's hits
come back, a scan's error reaches the caller, the one deadline bounds every scan call."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest

from gitgate.scanning.model import ScanError, ScanTimeout, SecretHit
from gitgate.scanning.overlap import Hits, Overlapped, Text

WAIT = 10.0  # s: only reached when the code under test is broken


def _hit(line: int) -> SecretHit:
    return SecretHit("Secret Keyword", line, "0" * 40)


class Scanner:
    """Returns one hit per text (its line: the batch's number); each call can be held."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Event()
        self.batches: list[list[bytes]] = []
        self.budgets: list[float] = []
        self.active = self.most_active = 0
        self.lock = threading.Lock()

    def scan(self, texts: Sequence[Text], budget: float) -> Hits:
        with self.lock:
            self.active += 1
            self.most_active = max(self.most_active, self.active)
            self.batches.append([key for key, _, _ in texts])
            self.budgets.append(budget)
        self.started.set()
        assert self.release.wait(WAIT)
        with self.lock:
            self.active -= 1
        return {key: [_hit(len(self.batches))] for key, _, _ in texts}


def test_the_caller_prepares_the_next_batch_while_one_is_scanned() -> None:
    scanner = Scanner()
    with Overlapped(scanner.scan, time.monotonic() + 60) as scans:
        scans.submit([(b"a", "a.py", b"x")])  # returns with the scan held in the background
        assert scanner.started.wait(WAIT) and scanner.batches == [[b"a"]]
        scanner.release.set()
        scans.submit([(b"b", "b.py", b"y"), (b"c", "c.py", b"z")])
        hits = scans.finish()
    assert scanner.batches == [[b"a"], [b"b", b"c"]] and scanner.most_active == 1
    assert hits == {b"a": [_hit(1)], b"b": [_hit(2)], b"c": [_hit(2)]}
    assert all(0 < budget <= 60 for budget in scanner.budgets)


def test_a_scan_error_reaches_the_caller() -> None:
    def failing(texts: Sequence[Text], budget: float) -> Hits:
        raise ScanError("a worker died")

    with pytest.raises(ScanError), Overlapped(failing, time.monotonic() + 60) as scans:
        scans.submit([(b"a", "a.py", b"x")])
        scans.finish()


def test_a_spent_budget_scans_nothing_more() -> None:
    scanner = Scanner()
    scanner.release.set()
    with pytest.raises(ScanTimeout), Overlapped(scanner.scan, time.monotonic() - 1) as scans:
        scans.submit([(b"a", "a.py", b"x")])
    assert scanner.batches == []


def test_leaving_waits_for_the_scan_in_progress() -> None:
    scanner = Scanner()
    done: list[bool] = []

    def leave_early() -> None:
        try:
            with Overlapped(scanner.scan, time.monotonic() + 60) as scans:
                scans.submit([(b"a", "a.py", b"x")])
                raise ValueError("the caller fails while a batch is scanned")
        except ValueError:
            done.append(scanner.active == 0)

    caller = threading.Thread(target=leave_early)
    caller.start()
    assert scanner.started.wait(WAIT)
    assert not done  # still inside: the scan is held
    scanner.release.set()
    caller.join(WAIT)
    assert done == [True]
