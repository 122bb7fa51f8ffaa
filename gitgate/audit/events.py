"""The request event: one `RequestEvent` per request, and its renderings.

- :func:`row` - the SessionRecord columns (gitgate.store.sessions)
- :func:`log_fields` / :func:`log_message` - the one `gitgate.request` log line per request
- gitgate.audit.metrics.observe_session reads the event itself (pushes by decision and rule)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypedDict

#: One JSON object of a record (a ref update, a verdict, a finding, a status, an event).
JsonObject = Mapping[str, object]


class Identified(Protocol):
    """What an event needs of gitgate.git.receive.Caller (the identity, filled by auth)."""

    repo: str
    subject: str
    groups: tuple[str, ...]
    issuer: str
    source_addr: str
    request_id: str


@dataclass(frozen=True)
class Who:
    """Who made the request, as authentication established it."""

    subject: str = "anonymous"
    groups: tuple[str, ...] = ()
    issuer: str = ""
    source_addr: str = ""

    @classmethod
    def of(cls, caller: Identified) -> Who:
        return cls(caller.subject, tuple(caller.groups), caller.issuer, caller.source_addr)


class EventFields(TypedDict, total=False):
    """What a request learns as it goes: RequestEvent's fields past who, where and what."""

    decision: str
    error: str | None
    upstream_status: int | None
    bytes_in: int | None
    bytes_out: int | None
    duration_ms: int | None
    ref_updates: Sequence[JsonObject]
    verdicts: Sequence[JsonObject]
    findings: Sequence[JsonObject]
    statuses: Sequence[JsonObject]
    queue_ids: Mapping[str, int]
    events: Sequence[JsonObject]
    record_id: int | None


@dataclass(frozen=True)
class RequestEvent:
    """One request's audit event. None means "not known": it is left out of the log line and
    left to the column's default in the row, so a refusal reads as it always did.

    `decision` is one of allow, reject, queue, mask, break-glass, dry-run (a push's outcome),
    probe, started (a push being inspected), unauthenticated, forbidden, error.
    `record_id` names the row written when the request started (a push), which this event
    completes."""

    who: Who
    repo: str | None
    service: str  # info-refs, upload-pack, receive-pack, rest, lfs
    request_id: str
    decision: str = ""
    error: str | None = None
    upstream_status: int | None = None
    bytes_in: int | None = None
    bytes_out: int | None = None
    duration_ms: int | None = None
    ref_updates: Sequence[JsonObject] = ()
    verdicts: Sequence[JsonObject] = ()
    findings: Sequence[JsonObject] = ()
    statuses: Sequence[JsonObject] = ()
    queue_ids: Mapping[str, int] = field(default_factory=dict)
    events: Sequence[JsonObject] = ()
    record_id: int | None = None

    def but(self, fields: EventFields) -> RequestEvent:
        """This event with `fields` learnt (a new event: events are values)."""
        return dataclasses.replace(self, **fields)


#: Writes an event (its session record, its log line); returns the record's id when known.
Recorder = Callable[[RequestEvent], "int | None"]


def row(event: RequestEvent) -> dict[str, object]:
    """The SessionRecord columns of `event` (without started_at, which the store's writer
    sets, nor queued_push, see :func:`queued_push`). Unknown values are left out."""
    out: dict[str, object] = {
        "subject": event.who.subject,
        "groups": list(event.who.groups),
        "issuer": event.who.issuer,
        "source_addr": event.who.source_addr,
        "repo": event.repo,
        "service": event.service,
        "request_id": event.request_id,
        "decision": event.decision,
        "error": event.error,
        "upstream_status": event.upstream_status,
        "bytes_in": event.bytes_in,
        "bytes_out": event.bytes_out,
        "duration_ms": event.duration_ms,
        "ref_updates": [dict(x) for x in event.ref_updates],
        "verdicts": [dict(x) for x in event.verdicts],
        "findings": [dict(x) for x in event.findings],
        "statuses": [dict(x) for x in event.statuses],
        "events": [dict(x) for x in event.events],
    }
    return {key: value for key, value in out.items() if value is not None}


def queued_push(event: RequestEvent) -> int | None:
    """The queued push a record links to: the first id the request queued under."""
    return min(event.queue_ids.values()) if event.queue_ids else None


_LOG_KEYS = (
    "request_id",
    "subject",
    "repo",
    "service",
    "decision",
    "duration_ms",
    "upstream_status",
    "bytes_in",
    "bytes_out",
    "source_addr",
    "error",
)


def log_fields(event: RequestEvent) -> dict[str, object]:
    """The fields of the `gitgate.request` log line, in this order, empty ones left out;
    `duration_ms` is always there (0, last, when the request was refused before timing)."""
    values: dict[str, object] = {
        "request_id": event.request_id,
        "subject": event.who.subject,
        "repo": event.repo,
        "service": event.service,
        "decision": event.decision,
        "duration_ms": event.duration_ms,
        "upstream_status": event.upstream_status,
        "bytes_in": event.bytes_in,
        "bytes_out": event.bytes_out,
        "source_addr": event.who.source_addr,
        "error": event.error,
    }
    out = {k: values[k] for k in _LOG_KEYS if values[k] not in (None, "")}
    out.setdefault("duration_ms", 0)
    return out


def log_message(event: RequestEvent) -> str:
    """The human part of the log line: service, repo, decision."""
    return f"{event.service} {event.repo} {event.decision}"
