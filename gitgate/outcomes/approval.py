"""Just-in-time approval: hold a push for a human, and push it upstream once approved.

The stored body is the push itself (commands, options, pack), chunked into the database so any
gate instance or CLI sharing it can relay; the agent never pushes again. A relay happens at
most once: the store's conditional claim decides who relays. Before relaying, upstream's refs
are compared with the stored old ids: if a ref moved, the push is **stale** and nothing is
forced (upstream's receive-pack would refuse a mismatched old id anyway; checking first gives
the reviewer a clear reason).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Unpack

from gitgate.audit import notify
from gitgate.audit.webhooks import QueueEvent, QueueExtras
from gitgate.config import Rule
from gitgate.git.relay import advertised_refs, relay
from gitgate.git.wire import parse_push_request
from gitgate.upstream.http import Upstream, UpstreamError

log = logging.getLogger("gitgate.approval")
ZERO = b"0" * 40


class QueueRefused(Exception):
    """The refs cannot be queued together; the message says why (they are rejected)."""


def combined_review(rules: Sequence[Rule]) -> tuple[list[str], int, int]:
    """Reviewers allowed by every rule involved, the most approvals, the shortest expiry."""
    groups = set(rules[0].reviewers)
    for rule in rules[1:]:
        groups &= set(rule.reviewers)
    if not groups:
        raise QueueRefused("the queued refs need different reviewers: push them separately")
    return sorted(groups), max(r.approvals for r in rules), min(r.queue_expiry for r in rules)


def record_review(
    push_id: int,
    verdict: str,
    reviewer: str,
    groups: Sequence[str],
    text: str,
    can_relay: str | None = None,
) -> Any:
    """Record an approval or rejection and announce it in the same transaction.

    Returns the store's ApprovalOutcome (whose `claimed` says whether the caller must relay
    now) or RejectionOutcome; raises LookupError for an unknown push. ``can_relay``: see
    :func:`gitgate.store.review.approve`.
    """
    from gitgate.db import write_transaction
    from gitgate.store import queue

    outcome: Any
    extra: QueueExtras
    with write_transaction():
        if verdict == "approve":
            outcome = queue.approve(push_id, reviewer, list(groups), text, can_relay=can_relay)
            extra = {
                "reviewer": reviewer,
                "approvals": outcome.approvals,
                "required": outcome.required,
            }
        else:
            outcome = queue.reject(push_id, reviewer, list(groups), text)
            extra = {"reviewer": reviewer, "detail": text}
        info = queue.get(push_id)
        if outcome.recorded and info:
            event = "approved" if verdict == "approve" else "rejected"
            announce(event, info, **extra)
    return outcome


def announce_hold(push_id: int, caller: Any, wait_s: float) -> None:
    """A `hold` event: the agent is waiting live for this review (reviewers may hurry)."""
    from gitgate.db import connection
    from gitgate.store import queue

    with connection():
        info = queue.get(push_id)
        if info is not None:
            announce("hold", info, wait_s=int(wait_s), waiting=caller.subject)
    notify.wake()


def announce(event: str, info: Any, **extra: Unpack[QueueExtras]) -> None:
    """Queue a webhook event about a queued push (a gitgate.store PushInfo)."""
    about = QueueEvent.about(
        event, info.id, info.repo, info.pusher_subject, info.summary, info.rule_name
    )
    notify.announce(about.but(extra))


@dataclass
class RelayOutcome:
    state: str  # relayed | stale | failed
    reason: str
    report: str


def relay_stored(push_id: int, upstream: Upstream) -> RelayOutcome:
    """Relay a claimed push (state 'relaying') exactly as stored, then record the outcome."""
    from gitgate.store import queue

    info = queue.get(push_id)
    if info is None:
        raise LookupError(f"no queued push #{push_id}")
    if (info.summary or {}).get("kind") == "api":  # a held API call (gitgate.api.queued)
        from gitgate.api.queued import perform

        outcome = perform(push_id, upstream)
    else:
        outcome = _relay(info.repo, push_id, upstream)
        if outcome.state == "relayed":  # a masked push: its map, for the agent's next push
            from gitgate.mask.apply import remember_queued

            remember_queued(info.repo, push_id)
    from gitgate.audit.metrics import RELAYS

    RELAYS.labels("queued", "ok" if outcome.state == "relayed" else outcome.state).inc()
    queue.finish(push_id, outcome.state, outcome.reason, outcome.report)
    announce(outcome.state, info, state=outcome.state, detail=outcome.reason)
    return outcome


def _relay(repo: str, push_id: int, upstream: Upstream) -> RelayOutcome:
    from gitgate.store import queue

    with queue.open_payload(push_id) as body:
        req = parse_push_request(body)
        try:
            current = advertised_refs(upstream, repo)
        except UpstreamError as ex:
            return RelayOutcome("failed", f"upstream: {ex}", "")
        moved = [c for c in req.commands if current.get(c.ref, ZERO) != c.old]
        if moved:
            names = ", ".join(c.ref.decode() for c in moved)
            return RelayOutcome(
                "stale",
                f"upstream moved since the push was queued ({names}); nothing was forced: "
                "the agent must fetch, rebase and push again",
                "",
            )
        total = body.seek(0, 2)
        body.seek(req.pack_offset)
        progress: list[bytes] = []
        try:
            result = relay(
                upstream,
                repo,
                req,
                req.commands,
                body if req.needs_pack else None,
                total - req.pack_offset if req.needs_pack else 0,
                progress.append,
            )
        except UpstreamError as ex:
            return RelayOutcome(
                "failed", f"upstream: {ex}", b"".join(progress).decode("utf-8", "replace")
            )
    report = "\n".join(
        line.decode("utf-8", "replace") for lines in result.refs.values() for line in lines
    )
    if result.unpack == "ok" and all(result.ok(c.ref) for c in req.commands):
        return RelayOutcome("relayed", "upstream accepted every ref", report)
    return RelayOutcome("failed", f"upstream refused: unpack {result.unpack}; {report}", report)
