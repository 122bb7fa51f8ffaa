"""Exactly one claim per relay when reviewers approve at the same moment.

Two threads (each with its own connection) and, separately, two *processes* (spawned, each
opening its own database connection, as two gate instances would) approve the same push behind
a barrier. With one approval required both race for the claim; with two required a lost update
would leave nobody claiming. Either way exactly one caller must get ``claimed=True``.
"""

from __future__ import annotations

import io
import multiprocessing
import threading
from collections.abc import Iterator
from multiprocessing.pool import Pool
from typing import Any

import peewee
import pytest

from gitgate.db import bind, open_database
from gitgate.store import queue

ROUNDS_THREADS = 10
ROUNDS_PROCESSES = 20

_worker_barrier: Any = None


def _enqueue(approvals_required: int) -> int:
    return queue.enqueue(
        repo="acme/widgets",
        pusher_subject="agent-7",
        pusher_groups=["agents"],
        rule_name="protected",
        reviewer_groups=["maintainers"],
        approvals_required=approvals_required,
        expiry_s=3600,
        summary={},
        payload=io.BytesIO(b"0000PACK"),
    )


def _check_one_claim(push_id: int, outcomes: list[queue.ApprovalOutcome], required: int) -> None:
    assert len(outcomes) == 2
    assert sum(o.claimed for o in outcomes) == 1, outcomes
    assert sum(o.recorded for o in outcomes) == required, outcomes
    push = queue.get(push_id)
    assert push is not None and push.state == "relaying"
    assert len(push.approvers) == required


@pytest.mark.parametrize("required", [1, 2])
def test_two_threads_approving_at_once_claim_once(db: peewee.Database, required: int) -> None:
    for _ in range(ROUNDS_THREADS):
        push_id = _enqueue(required)
        barrier = threading.Barrier(2, timeout=30)
        outcomes: list[queue.ApprovalOutcome] = []
        errors: list[BaseException] = []

        def approve(reviewer: str, push_id: int = push_id, barrier: Any = barrier) -> None:
            try:
                barrier.wait()
                outcomes.append(queue.approve(push_id, reviewer, ["maintainers"]))
            except BaseException as ex:
                errors.append(ex)

        threads = [threading.Thread(target=approve, args=(r,)) for r in ("alice", "bob")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == []
        _check_one_claim(push_id, outcomes, required)


def _init_worker(url: str, barrier: Any) -> None:
    global _worker_barrier
    _worker_barrier = barrier
    bind(open_database(url))


def _approve_in_worker(push_id: int, reviewer: str) -> queue.ApprovalOutcome:
    _worker_barrier.wait(timeout=60)
    return queue.approve(push_id, reviewer, ["maintainers"])


@pytest.fixture
def worker_pool(db_url: str, db: peewee.Database) -> Iterator[Pool]:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    with ctx.Pool(2, initializer=_init_worker, initargs=(db_url, barrier)) as pool:
        yield pool


def test_two_processes_approving_at_once_claim_once(worker_pool: Pool) -> None:
    for round_no in range(ROUNDS_PROCESSES):
        required = 1 + round_no % 2
        push_id = _enqueue(required)
        # Each worker blocks on the barrier inside its task, so the two tasks necessarily run
        # in the two different processes.
        pending = [
            worker_pool.apply_async(_approve_in_worker, (push_id, reviewer))
            for reviewer in ("alice", "bob")
        ]
        outcomes = [result.get(timeout=60) for result in pending]
        _check_one_claim(push_id, outcomes, required)
