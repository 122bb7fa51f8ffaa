"""`gitgate sessions list|show|export` against a real database (SQLite and PostgreSQL).

The subcommands are registered on a parser of the test's own, exactly as `gitgate.cli` does,
and run in-process with a config file naming the test's database.
"""

from __future__ import annotations

import argparse
import json
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gitgate.cli import load_config, sessions
from gitgate.cli.db import open_bound
from gitgate.db import bind
from gitgate.store import sessions as store

NOW = datetime.now(UTC).replace(microsecond=0)
OLD = datetime(2025, 12, 15, 9, 30, tzinfo=UTC)
FINDING = {
    "check": "secrets",
    "ref": "refs/heads/main",
    "commit": "a1b2c3d4e5f6" + "0" * 28,
    "path": "config/settings.py",
    "line": 12,
    "type": "AWS Access Key",
    "hash": "3f2a9c1b0d4e",
}


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="gitgate")
    sub = parser.add_subparsers(dest="command", required=True)
    sessions.register(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


@pytest.fixture
def config(tmp_path: Path, db_url: str) -> Iterator[str]:
    path = tmp_path / "gitgate.toml"
    path.write_text(
        f'[storage]\ndata_dir = "{tmp_path / "data"}"\n\n[database]\nurl = "{db_url}"\n',
        encoding="utf-8",
    )
    try:
        yield str(path)
    finally:
        bind(None)


def _record(config: str, **fields: Any) -> int:
    base: dict[str, Any] = {
        "duration_ms": 35,
        "subject": "agent-9",
        "repo": "acme/app",
        "service": "upload-pack",
        "decision": "allow",
    }
    with open_bound(load_config(config)):
        return store.record(**{**base, **fields})


@pytest.fixture
def seeded(config: str) -> dict[str, int]:
    return {
        "old": _record(config, started_at=OLD, subject="agent-old"),
        "push": _record(
            config,
            started_at=NOW - timedelta(days=1),
            duration_ms=1234,
            subject="agent-7",
            groups=["agents", "ci"],
            issuer="https://issuer.example",
            source_addr="10.0.0.7",
            service="receive-pack",
            decision="reject",
            ref_updates=[
                {"ref": "refs/heads/main", "old": "b" * 40, "new": "a1b2c3d4e5f6" + "0" * 28}
            ],
            verdicts=[
                {
                    "check": "secrets",
                    "ref": "refs/heads/main",
                    "passed": False,
                    "action": "reject",
                    "reason": "1 possible secret",
                }
            ],
            findings=[FINDING],
            bytes_in=2048,
            bytes_out=120,
            request_id="req-123",
            statuses=[{"ref": "refs/heads/main", "status": "ng rejected by gitgate"}],
        ),
        "other": _record(config, started_at=NOW - timedelta(days=10), repo="acme/other"),
    }


def _table(out: str) -> list[list[str]]:
    return [line.split() for line in out.splitlines()]


def test_list_shows_the_newest_first(
    config: str, seeded: dict[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("sessions", "list", "--config", config) == 0
    rows = _table(capsys.readouterr().out)
    assert " ".join(rows[0]) == "ID TIME (UTC) SUBJECT REPO SERVICE DECISION REFS DURATION"
    assert [int(r[0]) for r in rows[1:]] == [seeded["push"], seeded["other"], seeded["old"]]
    when = (NOW - timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")
    assert " ".join(rows[1][1:]) == f"{when} agent-7 acme/app receive-pack reject main 1.2s"
    assert (
        " ".join(rows[3][1:]) == "2025-12-15 09:30:00 agent-old acme/app upload-pack allow - 35ms"
    )


def test_list_filters_by_repo_since_and_limit(
    config: str, seeded: dict[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("sessions", "list", "-c", config, "--repo", "acme/other") == 0
    assert [r[0] for r in _table(capsys.readouterr().out)[1:]] == [str(seeded["other"])]
    assert run("sessions", "list", "-c", config, "--since", "7d") == 0
    assert [r[0] for r in _table(capsys.readouterr().out)[1:]] == [str(seeded["push"])]
    assert run("sessions", "list", "-c", config, "--since", "2026-01-01") == 0
    assert len(_table(capsys.readouterr().out)) == 3
    assert run("sessions", "list", "-c", config, "--limit", "1") == 0
    assert [r[0] for r in _table(capsys.readouterr().out)[1:]] == [str(seeded["push"])]
    assert run("sessions", "list", "-c", config, "--repo", "acme/none") == 0
    captured = capsys.readouterr()
    assert captured.out == "" and "no session records match" in captured.err


@pytest.mark.parametrize("argv", [("--since", "last week"), ("--since", "7w"), ("--limit", "0")])
def test_list_usage_errors_exit_2(
    config: str, argv: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("sessions", "list", "-c", config, *argv) == 2
    assert capsys.readouterr().err.startswith("gitgate: ")


def test_show_prints_every_field_and_findings(
    config: str, seeded: dict[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("sessions", "show", "-c", config, str(seeded["push"])) == 0
    out = capsys.readouterr().out
    lines = [line.strip() for line in out.splitlines()]
    assert lines[0] == f"session {seeded['push']}"
    for expected in (
        "subject:     agent-7",
        "issuer:      https://issuer.example",
        "source:      10.0.0.7",
        "repo:        acme/app",
        "service:     receive-pack",
        "decision:    reject",
        "request id:  req-123",
        "groups:      agents, ci",
        "bytes:       in 2048, out 120",
        "queued push: -",
        f"refs/heads/main  {'b' * 12}..a1b2c3d4e5f6",
        "secrets on refs/heads/main: failed -> reject: 1 possible secret",
        "refs/heads/main: ng rejected by gitgate",
        "findings (1):",
        "AWS Access Key at config/settings.py:12 (a1b2c3d4e5f6, 3f2a9c1b0d4e) [secrets]",
    ):
        assert expected in lines, expected
    assert "(1.2s)" in lines[1]


def test_show_unknown_id_exits_1(
    config: str, seeded: dict[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("sessions", "show", "-c", config, "999999") == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "no session record 999999" in captured.err


def test_terminal_output_strips_control_characters(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    record_id = _record(config, subject="agent\x1b]0;pwned\x07", repo="acme/app\r\n")
    assert run("sessions", "list", "-c", config) == 0
    assert run("sessions", "show", "-c", config, str(record_id)) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\r" not in out
    assert "agent?]0;pwned?" in out


def test_export_writes_json_lines_since_a_date(
    config: str, seeded: dict[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("sessions", "export", "-c", config, "--since", "2026-01-01") == 0
    captured = capsys.readouterr()
    records = [json.loads(line) for line in captured.out.splitlines()]
    assert [r["id"] for r in records] == sorted([seeded["push"], seeded["other"]])
    for r in records:
        started = datetime.fromisoformat(r["started_at"])
        assert started.utcoffset() == timedelta(0) and started >= datetime(2026, 1, 1, tzinfo=UTC)
    push = next(r for r in records if r["id"] == seeded["push"])
    assert push["findings"] == [FINDING]
    assert "exported 2 session record(s) since 2026-01-01T00:00:00+00:00" in captured.err


def test_export_to_a_file_with_an_age(
    config: str, seeded: dict[str, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "audit.jsonl"
    assert run("sessions", "export", "-c", config, "--since", "7d", "--output", str(target)) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "exported 1 session record(s) since" in captured.err and str(target) in captured.err
    (line,) = target.read_text(encoding="utf-8").splitlines()
    assert json.loads(line)["id"] == seeded["push"]
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600


def test_export_usage_errors(
    config: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("sessions", "export", "-c", config, "--since", "yesterday") == 2
    missing_dir = tmp_path / "nope" / "out.jsonl"
    assert run("sessions", "export", "-c", config, "--since", "1d", "-o", str(missing_dir)) == 2
    err = capsys.readouterr().err
    assert "--since 'yesterday'" in err and f"cannot write {missing_dir}" in err
    with pytest.raises(SystemExit) as ex:  # argparse: --since is required
        run("sessions", "export", "-c", config)
    assert ex.value.code == 2


def test_parse_since() -> None:
    now = datetime(2030, 5, 8, 12, 0, tzinfo=UTC)
    assert sessions.parse_since("7d", now) == datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
    assert sessions.parse_since("90m", now) == datetime(2030, 5, 8, 10, 30, tzinfo=UTC)
    assert sessions.parse_since("2026-01-01") == datetime(2026, 1, 1, tzinfo=UTC)
    assert sessions.parse_since("2026-01-01T10:00:00+02:00") == datetime(
        2026, 1, 1, 8, 0, tzinfo=UTC
    )
    with pytest.raises(ValueError, match="use an ISO date"):
        sessions.parse_since("30")
