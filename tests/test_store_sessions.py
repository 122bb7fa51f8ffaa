"""gitgate.store.sessions: record, read, export, purge (SQLite and PostgreSQL)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import peewee
import pytest

from gitgate.db import connection
from gitgate.db.models import PayloadChunk, QueuedPush
from gitgate.store import queue, sessions

T0 = datetime(2030, 5, 1, 12, 0, 0, tzinfo=UTC)

FINDING = {
    "check": "secrets",
    "ref": "refs/heads/main",
    "commit": "a" * 40,
    "path": "config/settings.py",
    "line": 12,
    "type": "AWS Access Key",
    "hash": "3f2a9c1b0d4e",
}


def _record(**overrides: Any) -> int:
    fields: dict[str, Any] = {
        "started_at": T0,
        "duration_ms": 42,
        "subject": "agent-7",
        "groups": ["agents"],
        "issuer": "https://issuer.example",
        "source_addr": "127.0.0.1",
        "repo": "acme/widgets",
        "service": "receive-pack",
        "ref_updates": [{"ref": "refs/heads/main", "old": "0" * 40, "new": "a" * 40}],
        "decision": "reject",
        "verdicts": [
            {
                "check": "secrets",
                "ref": "refs/heads/main",
                "passed": False,
                "action": "reject",
                "reason": "1 secret",
            }
        ],
        "findings": [FINDING],
        "bytes_in": 2048,
        "bytes_out": 120,
        "upstream_status": None,
        "error": None,
    }
    fields.update(overrides)
    return sessions.record(**fields)


def test_record_and_get_round_trip_every_field(db: peewee.Database) -> None:
    record_id = _record()
    got = sessions.get(record_id)
    assert got is not None
    assert got["id"] == record_id
    assert got["started_at"] == "2030-05-01T12:00:00+00:00"
    assert got["groups"] == ["agents"]
    assert got["ref_updates"][0]["new"] == "a" * 40
    assert got["verdicts"][0]["passed"] is False
    assert got["findings"] == [FINDING]
    assert (got["bytes_in"], got["bytes_out"], got["duration_ms"]) == (2048, 120, 42)
    assert got["upstream_status"] is None and got["queued_push"] is None
    assert sessions.get(record_id + 1000) is None


def test_record_links_a_queued_push(db: peewee.Database) -> None:
    push_id = queue.enqueue(
        repo="acme/widgets",
        pusher_subject="agent-7",
        pusher_groups=[],
        rule_name="protected",
        reviewer_groups=[],
        approvals_required=1,
        expiry_s=60,
        summary={},
        payload=io.BytesIO(b"body"),
    )
    record_id = _record(decision="queue", queued_push=push_id, upstream_status=200)
    got = sessions.get(record_id)
    assert got is not None
    assert (got["queued_push"], got["upstream_status"]) == (push_id, 200)


REFUSED: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"secret_value": "x"}, TypeError, "unknown session record fields: secret_value"),
    ({"service": "ftp"}, ValueError, "service must be one of"),
    ({"findings": [{**FINDING, "value": "AKIA..."}]}, ValueError, "never a secret value"),
    ({"findings": [{**FINDING, "hash": "AKIAIOSFODNN7EXAMPLE"}]}, ValueError, "short"),
    ({"findings": [{**FINDING, "hash": "f" * 40}]}, ValueError, "at most 16"),
    ({"findings": "AKIA"}, ValueError, "must be a list"),
]


def test_record_refuses_what_could_write_a_secret_down(db: peewee.Database) -> None:
    for overrides, error, needle in REFUSED:  # one database for all cases: creating one is slow
        with pytest.raises(error) as info:
            _record(**overrides)
        assert needle in str(info.value)
    assert sessions.list_sessions(limit=10) == []


def test_list_sessions_newest_first_with_filters(db: peewee.Database) -> None:
    ids = [
        _record(started_at=T0 + timedelta(minutes=i), repo="acme/a" if i % 2 else "acme/b")
        for i in range(5)
    ]
    assert [r["id"] for r in sessions.list_sessions(limit=10)] == ids[::-1]
    assert [r["id"] for r in sessions.list_sessions(limit=2)] == ids[:2:-1]
    since = T0 + timedelta(minutes=2)
    assert [r["id"] for r in sessions.list_sessions(limit=10, since=since)] == ids[:1:-1]
    assert [r["id"] for r in sessions.list_sessions(limit=10, repo="acme/a")] == [ids[3], ids[1]]
    # A naive "since" is UTC, like everything else in the stores.
    naive = since.replace(tzinfo=None)
    assert len(sessions.list_sessions(limit=10, since=naive, repo="acme/b")) == 2


def test_export_jsonl_streams_every_record_since_in_order(
    db: peewee.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sessions, "_EXPORT_BATCH", 3)  # exercise the batch boundaries
    ids = [_record(started_at=T0 + timedelta(seconds=i), subject=f"s{i}") for i in range(8)]
    out = io.StringIO()
    assert sessions.export_jsonl(T0 + timedelta(seconds=1), out) == 7
    lines = out.getvalue().splitlines()
    rows = [json.loads(line) for line in lines]
    assert [r["id"] for r in rows] == ids[1:]
    assert rows[0]["started_at"] == "2030-05-01T12:00:01+00:00"
    assert rows[0]["subject"] == "s1" and rows[0]["findings"] == [FINDING]
    empty = io.StringIO()
    assert sessions.export_jsonl(T0 + timedelta(days=1), empty) == 0
    assert empty.getvalue() == ""


def _push(state: str, created_at: datetime) -> int:
    push_id = queue.enqueue(
        repo="acme/widgets",
        pusher_subject="agent-7",
        pusher_groups=[],
        rule_name="r",
        reviewer_groups=[],
        approvals_required=1,
        expiry_s=3600,
        summary={},
        payload=io.BytesIO(b"x" * 100),
        now=created_at,
    )
    with connection():
        QueuedPush.update(state=state).where(QueuedPush.id == push_id).execute()
    return push_id


def test_purge_drops_old_records_and_old_finished_payloads_only(db: peewee.Database) -> None:
    now = T0 + timedelta(days=100)
    old, recent = now - timedelta(days=31), now - timedelta(days=29)
    old_record, new_record = _record(started_at=old), _record(started_at=recent)
    keep_pending = _push("pending", old)
    keep_relaying = _push("relaying", old)
    keep_recent = _push("relayed", recent)
    drop = {state: _push(state, old) for state in ("relayed", "rejected", "expired", "stale")}
    drop["failed"] = _push("failed", old)

    result = sessions.purge(30, now=now)

    assert result == {"sessions": 1, "payload_chunks": 5, "pushes": 5}
    assert sessions.get(old_record) is None and sessions.get(new_record) is not None
    with connection():
        left = {row.push_id for row in PayloadChunk.select(PayloadChunk.push)}
    assert left == {keep_pending, keep_relaying, keep_recent}
    # The review history stays; only the body is gone, and opening it says so.
    purged = queue.get(drop["relayed"])
    assert purged is not None and purged.state == "relayed"
    with pytest.raises(queue.PayloadUnavailable, match="missing"):
        queue.open_payload(drop["relayed"])
    assert sessions.purge(30, now=now) == {"sessions": 0, "payload_chunks": 0, "pushes": 0}


def test_purge_refuses_negative_retention(db: peewee.Database) -> None:
    with pytest.raises(ValueError, match=">= 0"):
        sessions.purge(-1)
