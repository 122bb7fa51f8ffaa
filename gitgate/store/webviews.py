"""Read-only views for the web page and /metrics: queue searches, audit searches, queue depth.

Queue figures are computed at scrape time from the shared database, so every instance reports
the same queue whichever of them is scraped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any, cast

import peewee

from gitgate.db import connection, is_postgres
from gitgate.db.fields import as_utc, utcnow
from gitgate.db.models import PENDING, PUSH_STATES, QueuedPush, SessionRecord
from gitgate.store.queue_views import PushInfo, push_info
from gitgate.store.sessions import _jsonable


def queue_depth() -> tuple[dict[str, int], float]:
    """Pushes per state (every state present, zeros included) and the oldest pending age (s)."""
    counts = dict.fromkeys(PUSH_STATES, 0)
    with connection():
        rows = QueuedPush.select(
            QueuedPush.state, peewee.fn.COUNT(QueuedPush.id).alias("n")
        ).group_by(QueuedPush.state)
        for state, n in cast(list[tuple[str, int]], list(rows.tuples())):
            counts[str(state)] = int(n)
        oldest = (
            QueuedPush.select(QueuedPush.created_at)
            .where(QueuedPush.state == PENDING)
            .order_by(QueuedPush.created_at)
            .first()
        )
    age = (utcnow() - as_utc(oldest.created_at)).total_seconds() if oldest else 0.0
    return counts, max(age, 0.0)


def find_pushes(state: str | None, repo: str | None, limit: int) -> list[PushInfo]:
    """Queued pushes, newest first, filtered by state and repo (exact), at most ``limit``.

    For a list: each summary holds only its ``ref_updates``, extracted by the database. A
    whole summary (commits, paths, diffs) can be ~100 KB of JSON, and decoding a hundred of
    them made the queue page ten times slower (bench/bench_review.py).
    """
    from gitgate.store.queue import _decisions_of

    fields = [f for f in QueuedPush._meta.sorted_fields if f.name != "summary"]
    with connection() as db:
        refs: peewee.ColumnBase  # JSON text of the refs, undecoded (coerce off) on both engines
        if is_postgres(db):
            refs = peewee.SQL("(summary::json -> 'ref_updates')::text")
        else:
            refs = peewee.fn.json_extract(QueuedPush.summary, "$.ref_updates").coerce(False)
        query = QueuedPush.select(*fields, refs.alias("refs_json"))
        query = query.order_by(QueuedPush.id.desc()).limit(limit)
        if state:
            query = query.where(QueuedPush.state == state)
        if repo:
            query = query.where(QueuedPush.repo == repo)
        rows = list(query)
        decisions = _decisions_of([int(row.id) for row in rows])
    return [
        replace(
            push_info(row, decisions.get(int(row.id), [])),
            summary={"ref_updates": json.loads(getattr(row, "refs_json", None) or "[]")},
        )
        for row in rows
    ]


def _session_query(
    subject: str | None,
    repo: str | None,
    decision: str | None,
    since: datetime | None,
    until: datetime | None,
) -> peewee.ModelSelect[SessionRecord]:
    query = SessionRecord.select()
    if subject:
        query = query.where(SessionRecord.subject == subject)
    if repo:
        query = query.where(SessionRecord.repo == repo)
    if decision:
        query = query.where(SessionRecord.decision == decision)
    if since:
        query = query.where(SessionRecord.started_at >= as_utc(since))
    if until:
        query = query.where(SessionRecord.started_at < as_utc(until))
    return query


def search_sessions(
    *,
    subject: str | None = None,
    repo: str | None = None,
    decision: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """Session records matching every filter given, newest first (the auditor's page)."""
    query = _session_query(subject, repo, decision, since, until)
    query = query.order_by(SessionRecord.started_at.desc(), SessionRecord.id.desc()).limit(limit)
    with connection():
        return [_jsonable(cast(dict[str, Any], row)) for row in query.dicts()]


def export_sessions(
    *,
    subject: str | None = None,
    repo: str | None = None,
    decision: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Iterator[bytes]:
    """The same records as JSON Lines, oldest first, read in batches (any size of export)."""
    last_id = 0
    while True:
        query = _session_query(subject, repo, decision, since, until)
        query = query.where(SessionRecord.id > last_id).order_by(SessionRecord.id).limit(500)
        with connection():
            batch = cast(list[dict[str, Any]], list(query.dicts()))
        for row in batch:
            yield (json.dumps(_jsonable(row), sort_keys=True) + "\n").encode()
        if len(batch) < 500:
            return
        last_id = int(batch[-1]["id"])
