"""What the queue hands out: read-only views of a push and the outcomes of review actions."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from gitgate.db.fields import iso
from gitgate.db.models import APPROVE, QueuedPush, ReviewDecision


@dataclass(frozen=True)
class ApprovalOutcome:
    """What an approval did. ``claimed`` is True for exactly one caller per relay: that caller
    must now relay the stored push and then call ``queue.finish``."""

    recorded: bool
    approvals: int
    required: int
    claimed: bool
    message: str


@dataclass(frozen=True)
class RejectionOutcome:
    recorded: bool
    message: str


@dataclass(frozen=True)
class ReviewInfo:
    reviewer: str
    verdict: str
    comment: str
    decided_at: datetime
    reviewer_groups: tuple[str, ...]


@dataclass(frozen=True)
class PushInfo:
    id: int
    created_at: datetime
    expires_at: datetime
    state: str
    state_reason: str
    decided_at: datetime | None
    claimed_at: datetime | None
    repo: str
    pusher_subject: str
    pusher_groups: tuple[str, ...]
    rule_name: str
    reviewer_groups: tuple[str, ...]
    approvals_required: int
    summary: dict[str, Any]
    payload_size: int
    payload_sha256: str
    relay_report: str | None
    relayed_at: datetime | None
    decisions: tuple[ReviewInfo, ...]
    claimed_by: str | None = None
    superseded_by: int | None = None
    told_at: datetime | None = None

    @property
    def approvers(self) -> tuple[str, ...]:
        """Distinct reviewers who approved, in the order they did."""
        seen: dict[str, None] = {}
        for decision in self.decisions:
            if decision.verdict == APPROVE:
                seen.setdefault(decision.reviewer)
        return tuple(seen)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (ISO 8601 UTC times), for the web page, the API and the CLI."""
        data = asdict(self)
        data["approvers"] = list(self.approvers)
        return _isoformat(data)


def _isoformat(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, dict):
        return {key: _isoformat(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_isoformat(item) for item in value]
    return value


def review_info(row: ReviewDecision) -> ReviewInfo:
    return ReviewInfo(
        reviewer=row.reviewer,
        verdict=row.verdict,
        comment=row.comment,
        decided_at=row.decided_at,
        reviewer_groups=tuple(row.reviewer_groups or ()),
    )


def push_info(row: QueuedPush, decisions: Iterable[ReviewDecision]) -> PushInfo:
    return PushInfo(
        id=int(row.id),
        created_at=row.created_at,
        expires_at=row.expires_at,
        state=row.state,
        state_reason=row.state_reason,
        decided_at=row.decided_at,
        claimed_at=row.claimed_at,
        repo=row.repo,
        pusher_subject=row.pusher_subject,
        pusher_groups=tuple(row.pusher_groups or ()),
        rule_name=row.rule_name,
        reviewer_groups=tuple(row.reviewer_groups or ()),
        approvals_required=int(row.approvals_required),
        summary=dict(row.summary or {}),
        payload_size=int(row.payload_size),
        payload_sha256=row.payload_sha256,
        relay_report=row.relay_report,
        relayed_at=row.relayed_at,
        decisions=tuple(review_info(decision) for decision in decisions),
        claimed_by=row.claimed_by,
        superseded_by=row.superseded_by,
        told_at=row.told_at,
    )
