"""Webhook events as typed values: a queued push's life, and a break-glass push.

The payload keys are what receivers (and gitgate.audit.slack.slack_text) read, so they are named in
one place, :func:`webhook_payload`. A QueueEvent always carries the queued push's id, repo,
pusher, rule, refs, reason and review link; what an event adds (the reviewer of an approval,
the wait of a hold, ...) is left out of the payload when the event does not say it.
APPSEC: names and reasons only, never a token or a secret value (gitgate.audit.notify).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypedDict

from gitgate.web.links import page_url


class QueueExtras(TypedDict, total=False):
    """What some queue events add to the queued push they are about."""

    reviewer: str  # approved, rejected
    approvals: int  # approved: how many so far
    required: int
    state: str  # relayed, stale, failed
    detail: str
    wait_s: int  # hold: the agent waits this long for the review
    waiting: str  # hold: who waits
    supersedes: tuple[int, ...]  # queued: the pending pushes this one replaces
    superseded_by: int  # superseded


@dataclass(frozen=True)
class QueueEvent:
    """An event about one queued push (or held API call)."""

    event: str  # queued, approved, rejected, relayed, stale, expired, failed, superseded, hold
    id: int
    repo: str
    pusher: str
    rule: str | None
    refs: tuple[str, ...]
    reason: str
    review: str  # the push's review page, else the CLI command that shows it
    reviewer: str | None = None
    approvals: int | None = None
    required: int | None = None
    state: str | None = None
    detail: str | None = None
    wait_s: int | None = None
    waiting: str | None = None
    supersedes: tuple[int, ...] | None = None
    superseded_by: int | None = None

    @classmethod
    def about(
        cls,
        event: str,
        push_id: int,
        repo: str,
        pusher: str,
        summary: Mapping[str, object],
        rule: str | None,
    ) -> QueueEvent:
        """`event` about queued push `push_id`, from its stored summary
        (gitgate.outcomes.queueing)."""
        updates = summary.get("ref_updates")
        reasons = summary.get("reasons")
        return cls(
            event,
            push_id,
            repo,
            pusher,
            rule,
            tuple(str(r["ref"]) for r in updates) if isinstance(updates, list) else (),
            "; ".join(str(r) for r in reasons)[:500] if isinstance(reasons, list) else "",
            page_url(push_id) or f"gitgate review show {push_id}",
        )

    def but(self, extras: QueueExtras) -> QueueEvent:
        return dataclasses.replace(self, **extras)


@dataclass(frozen=True)
class BreakGlassEvent:
    """A push relayed over a reject or queue outcome (`git push -o gitgate.break-glass=...`)."""

    repo: str
    pusher: str
    reason: str
    refs: Sequence[str]
    overridden: Sequence[str]  # the reasons the push would have been stopped for
    request_id: str
    event: str = "break_glass"


_EXTRAS = tuple(QueueExtras.__annotations__)


def webhook_payload(ev: QueueEvent | BreakGlassEvent) -> dict[str, object]:
    """The JSON body of `ev` (gitgate.audit.notify adds `event`, `text` and `delivery`)."""
    if isinstance(ev, BreakGlassEvent):
        return {
            "repo": ev.repo,
            "pusher": ev.pusher,
            "reason": ev.reason,
            "refs": list(ev.refs),
            "overridden": list(ev.overridden),
            "request_id": ev.request_id,
        }
    out: dict[str, object] = {
        "id": ev.id,
        "repo": ev.repo,
        "pusher": ev.pusher,
        "rule": ev.rule,
        "refs": list(ev.refs),
        "reason": ev.reason,
        "review": ev.review,
    }
    for key in _EXTRAS:
        value = getattr(ev, key)
        if value is not None:
            out[key] = list(value) if isinstance(value, tuple) else value
    return out
