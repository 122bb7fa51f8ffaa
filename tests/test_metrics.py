"""/metrics in one process: upstream failures and refused requests are counted, and a scrape
tells when it cannot read the queue (the in-process gate: no multiprocess directory)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.gate import UPSTREAM_TOKEN_ENV, GateServer, write_config
from tests.fixtures.jwks import closed_port_url
from tests.fixtures.upstream import git
from tests.test_metrics_e2e import scrape, value

MakeGate = Callable[..., GateServer]


def test_upstream_down_is_counted(
    tmp_path: Path, scanner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(UPSTREAM_TOKEN_ENV, "unused")
    down = closed_port_url().split("/.well-known")[0]
    config = write_config(tmp_path / "gate.toml", tmp_path / "gate", down)
    gate = GateServer(config, scanner=scanner).start()
    try:
        before = scrape(gate.url)
        clone = git("clone", gate.remote("acme/app"), str(tmp_path / "w"), check=False)
        after = scrape(gate.url)
    finally:
        gate.stop()
    assert clone.returncode != 0 and "unreachable" in clone.stderr
    assert value(after, "gitgate_upstream_errors_total", kind="connection") > value(
        before, "gitgate_upstream_errors_total", kind="connection"
    )
    key = {"service": "info-refs", "status": "502"}
    assert (
        value(after, "gitgate_requests_total", **key)
        == value(before, "gitgate_requests_total", **key) + 1
    )
    assert value(after, "gitgate_database_up") == 1


def test_database_down_is_reported_not_raised(make_gate: MakeGate, tmp_path: Path) -> None:
    import peewee

    gate = make_gate()
    services = gate.runtime.services
    database = services.database
    # no database: the scrape must still answer, saying so
    services.database = peewee.SqliteDatabase(str(tmp_path / "missing-dir" / "gitgate.db"))
    try:
        m = scrape(gate.url)
    finally:
        services.database = database
    assert value(m, "gitgate_database_up") == 0
    assert ("gitgate_queue_depth", (("state", "pending"),)) not in m
