"""Review actions on a queued push: approve (and claim the relay) and reject.

See :mod:`gitgate.store.queue` for the state machine and why it is race-free.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import peewee

from gitgate.db import write_transaction
from gitgate.db.fields import as_utc, iso, utcnow
from gitgate.db.models import (
    APPROVE,
    EXPIRED,
    PENDING,
    REJECT,
    REJECTED,
    RELAYING,
    QueuedPush,
    ReviewDecision,
)
from gitgate.store.queue_rows import EXPIRED_REASON, claimer_id, leave_pending, locked_push
from gitgate.store.queue_views import ApprovalOutcome, RejectionOutcome


def approve(
    push_id: int,
    reviewer: str,
    reviewer_groups: Iterable[str],
    comment: str = "",
    *,
    now: datetime | None = None,
    can_relay: str | None = None,
) -> ApprovalOutcome:
    """Record ``reviewer``'s approval; when enough distinct reviewers approved, claim the relay.

    Refusals come back as outcomes with ``recorded=False`` and a message for the reviewer.
    ``can_relay`` is None when the caller can relay now, else why it cannot (e.g. the gate's
    upstream credential is missing): the approval is recorded but nothing is claimed, so the
    push stays pending instead of sitting in "relaying" with nobody to relay it.
    """
    now = as_utc(now or utcnow())
    groups = list(reviewer_groups)
    with write_transaction():
        push = locked_push(push_id)
        required = int(push.approvals_required)
        approvals = _approval_count(push_id)

        def refuse(message: str) -> ApprovalOutcome:
            return ApprovalOutcome(False, approvals, required, False, message)

        problem = _state_problem(push, now)
        if problem:
            return refuse(problem)
        if reviewer == push.pusher_subject:
            return refuse("the pusher can never approve its own push")
        problem = _group_problem(push, reviewer, groups)
        if problem:
            return refuse(problem)
        already = _has_approved(push_id, reviewer)
        if already and approvals < required:
            return refuse(
                f"{reviewer} has already approved push #{push_id} "
                f"({approvals} of {required} approvals)"
            )
        if not already:
            ReviewDecision.create(
                push=push_id,
                reviewer=reviewer,
                reviewer_groups=groups,
                verdict=APPROVE,
                comment=comment,
                decided_at=now,
            )
            approvals = _approval_count(push_id)
        claimed = approvals >= required and can_relay is None and _claim(push_id, now)
        message = _approval_message(push_id, already, approvals, required, claimed)
        if approvals >= required and can_relay is not None:
            message = (
                f"approval recorded ({approvals} of {required}) but push #{push_id} was NOT "
                f"relayed: {can_relay}. It stays pending; once that is fixed, approve again "
                "(the same reviewer may) and it is relayed"
            )
        return ApprovalOutcome(
            recorded=not already,
            approvals=approvals,
            required=required,
            claimed=claimed,
            message=message,
        )


def reject(
    push_id: int,
    reviewer: str,
    reviewer_groups: Iterable[str],
    reason: str,
    *,
    now: datetime | None = None,
) -> RejectionOutcome:
    """One rejection ends the review. The pusher may reject (withdraw) their own push even
    outside the reviewer groups: withdrawing can only make things safer."""
    now = as_utc(now or utcnow())
    groups = list(reviewer_groups)
    if not reason.strip():
        return RejectionOutcome(False, "a rejection needs a reason")
    with write_transaction():
        push = locked_push(push_id)
        problem = _state_problem(push, now)
        if not problem and reviewer != push.pusher_subject:  # a withdrawal needs no group
            problem = _group_problem(push, reviewer, groups)
        if problem:
            return RejectionOutcome(False, problem)
        ReviewDecision.create(
            push=push_id,
            reviewer=reviewer,
            reviewer_groups=groups,
            verdict=REJECT,
            comment=reason,
            decided_at=now,
        )
        leave_pending(push_id, REJECTED, f"rejected by {reviewer}: {reason}", now)
    return RejectionOutcome(True, f"push #{push_id} rejected")


def _state_problem(push: QueuedPush, now: datetime) -> str | None:
    """Why nobody may decide on ``push`` now, or None. Marks an expired push expired."""
    if push.state != PENDING:
        detail = f" ({push.state_reason})" if push.state_reason else ""
        return f"push #{push.id} is {push.state}, not pending{detail}"
    if push.expires_at <= now:
        leave_pending(int(push.id), EXPIRED, EXPIRED_REASON, now)
        return f"push #{push.id} expired at {iso(push.expires_at)}; it can no longer be reviewed"
    return None


def may_review(reviewer_groups: Iterable[str], groups: Iterable[str]) -> bool:
    """A push's reviewer groups admit an identity: an empty list or "*" admits anyone;
    otherwise one shared group is needed (the CLI and the review page ask this)."""
    allowed = set(reviewer_groups)
    return not allowed or "*" in allowed or bool(allowed & set(groups))


def _group_problem(push: QueuedPush, reviewer: str, groups: list[str]) -> str | None:
    allowed = set(push.reviewer_groups or ())
    if not may_review(allowed, groups):
        return f"{reviewer} is in none of the reviewer groups of push #{push.id}: " + ", ".join(
            sorted(allowed)
        )
    return None


def _approval_count(push_id: int) -> int:
    count = (
        ReviewDecision.select(peewee.fn.COUNT(ReviewDecision.reviewer.distinct()))
        .where(ReviewDecision.push == push_id, ReviewDecision.verdict == APPROVE)
        .scalar()
    )
    return int(count or 0)


def _has_approved(push_id: int, reviewer: str) -> bool:
    return (
        ReviewDecision.select()
        .where(
            ReviewDecision.push == push_id,
            ReviewDecision.reviewer == reviewer,
            ReviewDecision.verdict == APPROVE,
        )
        .exists()
    )


def _claim(push_id: int, now: datetime) -> bool:
    """The one conditional UPDATE that decides who relays: only one caller sees a row change."""
    changed = (
        QueuedPush.update(
            state=RELAYING,
            state_reason="approved",
            claimed_at=now,
            claimed_by=claimer_id(),
            decided_at=now,
        )
        .where(QueuedPush.id == push_id, QueuedPush.state == PENDING)
        .execute()
    )
    return changed == 1


def _approval_message(
    push_id: int, already: bool, approvals: int, required: int, claimed: bool
) -> str:
    if claimed and already:
        return (
            f"push #{push_id} already had {approvals} of {required} approvals; "
            "claimed again for relaying"
        )
    if claimed:
        return f"approval recorded ({approvals} of {required}); push #{push_id} will be relayed"
    if approvals >= required:
        return f"approval recorded; push #{push_id} is no longer pending"
    return f"approval recorded ({approvals} of {required}) for push #{push_id}"
