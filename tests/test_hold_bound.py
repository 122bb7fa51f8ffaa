"""The bound on held pushes: a thread always stays free, whatever `queue.max_held` says."""

from __future__ import annotations

import threading

import pytest

from gitgate.audit.metrics import REGISTRY
from gitgate.config import QueueConfig
from gitgate.outcomes.hold import Holder


@pytest.mark.parametrize(
    ("max_held", "threads", "limit"), [(4, 8, 4), (4, 4, 3), (8, 2, 1), (4, 1, 0), (0, 8, 0)]
)
def test_held_pushes_never_take_every_thread(max_held: int, threads: int, limit: int) -> None:
    assert Holder(QueueConfig(max_held=max_held), threads).limit == limit


def test_past_the_bound_a_push_ends_queued_at_once_and_says_why() -> None:
    holder = Holder(QueueConfig(max_held=4), threads=1)  # one thread: nothing may be held
    said: list[list[str]] = []
    before = REGISTRY.get_sample_value("gitgate_held_pushes")
    held = holder.hold(12, 60.0, said.append, threading.Event())
    assert held.state == "pending" and held.waited_s == 0.0
    assert "still queued as #12" in (held.reason or "")
    assert any("not waiting for review" in line for line in held.lines)
    assert REGISTRY.get_sample_value("gitgate_held_pushes") == before  # not held: not counted
