"""Two gates in one process share no state: each reads and writes its own database.

Tests, and anyone embedding the gate, build several apps in one process; a process-wide
database binding made the last app built receive every app's records and queue entries.
No process default is bound here, so anything the apps do outside their own context fails
instead of landing in the wrong database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gitgate import db
from gitgate.store import queue, sessions
from gitgate.web.links import page_url
from tests.fixtures.gate import GateServer
from tests.fixtures.upstream import commit, git

MakeGate = Callable[..., GateServer]
QUEUE_DEPLOY = [
    {
        "name": "prod-review",
        "protected_paths": ["deploy/**"],
        "reviewers": ["maintainers"],
        "actions": {"protected_paths": "queue"},
    }
]


@pytest.fixture
def gates(make_gate: MakeGate) -> Iterator[tuple[GateServer, GateServer]]:
    a = make_gate(QUEUE_DEPLOY, sections={"server": {"public_url": "https://a.example/"}})
    b = make_gate(QUEUE_DEPLOY, sections={"server": {"public_url": "https://b.example"}})
    previous = db.db_proxy.obj
    db.bind(None)  # the fixture binds the last gate's for tests that read it: not here
    yield a, b
    db.bind(previous)


def push(gate: GateServer, repo: str, work: Path, files: dict[str, str]) -> Any:
    git("clone", "-q", gate.remote(repo), str(work))
    commit(work, dict[str, str | bytes | None](files), "change")
    return git("push", "origin", "HEAD:main", cwd=work, check=False)


def test_each_gate_records_and_queues_in_its_own_database(
    gates: tuple[GateServer, GateServer], seeded: tuple[Path, str], tmp_path: Path
) -> None:
    a, b = gates
    _, repo = seeded
    queued = push(a, repo, tmp_path / "wa", {"deploy/prod.yaml": "replicas: 9\n"})
    assert "queued for approval as #1" in queued.stderr
    git("clone", "-q", b.remote(repo), str(tmp_path / "wb"))

    a_queue = a.runtime.services.run(queue.list_pushes)
    b_queue = b.runtime.services.run(queue.list_pushes)
    assert [p.id for p in a_queue] == [1] and b_queue == []
    a_services = {s["service"] for s in a.runtime.services.run(sessions.list_sessions)}
    b_services = {s["service"] for s in b.runtime.services.run(sessions.list_sessions)}
    assert "receive-pack" in a_services
    assert b_services and "receive-pack" not in b_services  # B saw the clone only
    assert db.db_proxy.obj is None  # the requests' contexts did not leak into this thread


def test_each_gate_links_to_its_own_review_pages(gates: tuple[GateServer, GateServer]) -> None:
    a, b = gates
    assert a.runtime.services.run(page_url, 3) == "https://a.example/-/review/push/3"
    assert b.runtime.services.run(page_url, 3) == "https://b.example/-/review/push/3"


def test_closing_one_gate_leaves_the_other_running(
    gates: tuple[GateServer, GateServer], seeded: tuple[Path, str], tmp_path: Path
) -> None:
    a, b = gates
    _, repo = seeded
    a.runtime.close()
    assert a.runtime.services.holder.stopping.is_set()
    assert not b.runtime.services.holder.stopping.is_set()
    assert not b.runtime.services.stopping.is_set()
    assert b.runtime.receive.stopping is b.runtime.services.stopping
    assert a.runtime.receive.stopping is not b.runtime.receive.stopping
    relayed = push(b, repo, tmp_path / "wb", {"src/b.py": "b = 1\n"})
    assert relayed.returncode == 0, relayed.stderr
