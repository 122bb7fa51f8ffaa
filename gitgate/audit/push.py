"""The push part of a request event, from a push's outcome (gitgate.exchange.Exchange).

APPSEC: ref names that carry a secret are replaced by markers here, before the part reaches
any record, log line or export (gitgate.checks.withheld).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

from gitgate.audit.events import EventFields, JsonObject
from gitgate.checks import withheld

if TYPE_CHECKING:
    from gitgate.exchange import Exchange


class _Command(Protocol):
    """One ref update of a push (gitgate.git.wire's Command)."""

    @property
    def ref(self) -> bytes: ...
    @property
    def old(self) -> bytes: ...
    @property
    def new(self) -> bytes: ...


def ref_updates(commands: Iterable[_Command]) -> list[JsonObject]:
    """The `ref_updates` of a push's commands (before inspection: the "started" row)."""
    return [
        {"ref": c.ref.decode("utf-8", "replace"), "old": c.old.decode(), "new": c.new.decode()}
        for c in commands
    ]


def push_fields(outcome: Exchange, commands: Iterable[_Command]) -> EventFields:
    """What a push's outcome adds to its event: the decision over all refs, and what each
    check said, with ref names that carry a secret withheld (APPSEC)."""
    decisions = outcome.refs  # each ref's final word: a refused queue or mask is a reject
    fields: EventFields = {
        "decision": push_decision(outcome),
        "ref_updates": ref_updates(commands),
        "verdicts": [
            {
                **v.to_dict(),
                "rule": d.rule.name if d.rule else None,
                "action": d.effective,
                "policy_action": d.action,  # before dry-run / break-glass
            }
            for d in decisions
            for v in d.verdicts
        ],
        "findings": [f.record() for d in decisions for v in d.verdicts for f in v.findings],
        "upstream_status": outcome.relay.status if outcome.relay else None,
        "error": outcome.error,
        "statuses": [
            {"ref": ref.decode("utf-8", "replace"), "status": "ok" if r is None else r}
            for ref, r in outcome.statuses
        ],
        "queue_ids": outcome.queue_ids,
        "events": outcome.events,
    }
    scrubbed: EventFields = withheld.scrub(fields, withheld.markers(decisions))
    return scrubbed


def push_decision(outcome: Exchange) -> str:
    """One word for a push over all its refs: the most severe outcome wins."""
    decisions = outcome.refs  # each ref's final word: a refused queue or mask is a reject
    effective = {d.effective for d in decisions}
    if outcome.error and not decisions:
        return "error"
    if "reject" in effective:
        return "reject"
    if "queue" in effective:
        return "queue"
    if "mask" in effective:
        return "mask"
    if any(d.break_glass for d in decisions):
        return "break-glass"  # relayed over a reject/queue outcome: stands out in audits
    if any(d.dry_run and d.action != "allow" for d in decisions):
        return "dry-run"
    return "allow"
