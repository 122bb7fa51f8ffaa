"""The audit trail: one SessionRecord per request, its export, and retention.

Records are plain dicts on the way out, with ISO 8601 UTC timestamps, so the same shape goes to
the admin API, the CLI and the JSON Lines export.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any, TextIO, cast

import peewee

from gitgate.db import connection, write_transaction
from gitgate.db.fields import as_utc, iso, utcnow
from gitgate.db.models import FINISHED_STATES, SERVICES, PayloadChunk, QueuedPush, SessionRecord
from gitgate.store.validation import check_findings

_FIELDS = frozenset(SessionRecord._meta.fields) - {"id"}
_EXPORT_BATCH = 500


def record(**fields: Any) -> int:
    """Store one request's record and return its id.

    Keyword names are SessionRecord's columns (``queued_push`` takes a push id). Unknown names
    are a TypeError rather than silently dropped, and findings are checked for their shape
    (APPSEC: a finding with a value-like key is refused, see :mod:`gitgate.store.validation`).
    """
    unknown = sorted(set(fields) - _FIELDS)
    if unknown:
        raise TypeError(f"unknown session record fields: {', '.join(unknown)}")
    if fields.get("service") not in SERVICES:
        raise ValueError(f"service must be one of {sorted(SERVICES)}")
    if "findings" in fields:
        fields["findings"] = check_findings(fields["findings"])
    with connection():
        row = SessionRecord.create(**fields)
    return int(row.id)


def complete(record_id: int, **fields: Any) -> int:
    """Fill in a record written when its request started (a push: see gitgate.git.routes), so a
    gate that crashes mid-push still leaves "started" behind. Same field rules as record()."""
    unknown = sorted(set(fields) - _FIELDS)
    if unknown:
        raise TypeError(f"unknown session record fields: {', '.join(unknown)}")
    fields.pop("started_at", None)  # the start was recorded when it happened
    if "findings" in fields:
        fields["findings"] = check_findings(fields["findings"])
    with connection():
        SessionRecord.update(**fields).where(SessionRecord.id == record_id).execute()
    return record_id


def get(record_id: int) -> dict[str, Any] | None:
    with connection():
        rows = _dicts(SessionRecord.select().where(SessionRecord.id == record_id))
    return _jsonable(rows[0]) if rows else None


def list_sessions(
    limit: int = 100, since: datetime | None = None, repo: str | None = None
) -> list[dict[str, Any]]:
    """The newest ``limit`` records, optionally only from ``since`` on and for one repo."""
    query = SessionRecord.select()
    if since is not None:
        query = query.where(SessionRecord.started_at >= as_utc(since))
    if repo is not None:
        query = query.where(SessionRecord.repo == repo)
    query = query.order_by(SessionRecord.started_at.desc(), SessionRecord.id.desc()).limit(limit)
    with connection():
        return [_jsonable(row) for row in _dicts(query)]


def export_jsonl(since: datetime, out: TextIO) -> int:
    """Write every record started at or after ``since`` to ``out``, oldest first, one JSON
    object per line; returns how many. Reads in batches so a year of records fits in memory."""
    written = 0
    last_id = 0
    with connection():
        while True:
            batch = _dicts(
                SessionRecord.select()
                .where(SessionRecord.started_at >= as_utc(since), SessionRecord.id > last_id)
                .order_by(SessionRecord.id)
                .limit(_EXPORT_BATCH)
            )
            for row in batch:
                out.write(json.dumps(_jsonable(row), sort_keys=True) + "\n")
            written += len(batch)
            if len(batch) < _EXPORT_BATCH:
                return written
            last_id = batch[-1]["id"]


def purge(retention_days: int, now: datetime | None = None) -> dict[str, int]:
    """Delete what is older than ``retention_days``: session records, and the stored bodies of
    queued pushes that are finished (relayed, rejected, expired, stale, failed).

    A pending or relaying push keeps its body whatever its age: it may still be relayed. The
    QueuedPush rows themselves (small: who, what, who decided) stay as the review history.
    """
    if retention_days < 0:
        raise ValueError("retention_days must be >= 0")
    cutoff = as_utc(now or utcnow()) - timedelta(days=retention_days)
    finished = QueuedPush.select(QueuedPush.id).where(
        QueuedPush.state.in_(sorted(FINISHED_STATES)), QueuedPush.created_at < cutoff
    )
    with write_transaction():
        sessions = SessionRecord.delete().where(SessionRecord.started_at < cutoff).execute()
        pushes = (
            PayloadChunk.select(peewee.fn.COUNT(PayloadChunk.push.distinct()))
            .where(PayloadChunk.push.in_(finished))
            .scalar()
        )
        chunks = PayloadChunk.delete().where(PayloadChunk.push.in_(finished)).execute()
    return {"sessions": int(sessions), "payload_chunks": int(chunks), "pushes": int(pushes or 0)}


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {key: iso(value) if isinstance(value, datetime) else value for key, value in row.items()}


def _dicts(query: peewee.ModelSelect[SessionRecord]) -> list[dict[str, Any]]:
    """Rows as plain dicts, column values already converted (JSON decoded, aware times)."""
    return cast(list[dict[str, Any]], list(query.dicts()))
