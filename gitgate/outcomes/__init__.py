"""What the gate does with each decision of a git push: the outcomes, as a table.

`table()` maps each action to the outcome that carries it out, in the order they are applied:
mask (rewrite what lands), relay (allow and mask: one upstream push), queue (and hold),
refuse. Each outcome first `prepare`s (it may still refuse a ref: the queue is unavailable,
a secret cannot be masked; it returns lines for the agent), then, once the agent was told,
`apply`s and returns the report-status reason of its refs. A new action is a new row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

from gitgate.exchange import Exchange
from gitgate.git.quarantine import Quarantine
from gitgate.git.wire import PushRequest
from gitgate.mask.apply import Masked
from gitgate.policy import Action


@dataclass
class Wire:
    """One push's git side: the request, its spooled body and quarantine, how to talk to the
    client, and what one outcome leaves for another (the rewrite, the hold)."""

    req: PushRequest
    spool: BinaryIO
    quarantine: Quarantine
    say: Callable[[list[str]], None]  # `remote:` lines
    forward: Callable[[bytes], None]  # upstream's own progress, passed through
    masked: Masked | None = None  # the relayed refs' rewrite (gitgate.outcomes.mask)
    wait: float = 0.0  # seconds to hold the queued push open (gitgate.outcomes.queue)
    # mirror upkeep that changes nothing the agent is told (gitgate.git.settle): the push
    # runs it once the agent has its answer (gitgate.git.receive)
    after: list[Callable[[], None]] = field(default_factory=list)


class Outcome:
    """One row of the table; the defaults do nothing."""

    def prepare(self, ex: Exchange, wire: Wire) -> list[str]:
        """Before the agent is told: may refuse refs (`ex.refuse`); lines to tell."""
        return []

    def apply(self, ex: Exchange, wire: Wire) -> dict[bytes, str | None]:
        """Carry it out: the report-status reason (None: ok) of each ref it handled."""
        return {}

    def holds(self, ex: Exchange, wire: Wire) -> bool:
        """Whether the push's answer waits for this outcome (`hold`) once the quarantine
        and the mirror's lock are let go."""
        return False

    def hold(self, ex: Exchange, wire: Wire) -> None:
        """Wait, then make `ex.statuses` say how the wait ended."""


Table = dict[Action, Outcome]


def carry_out(table: Table, ex: Exchange, wire: Wire, tell: Callable[[list[str]], None]) -> None:
    """Prepare every outcome, `tell` the agent (with the outcomes' lines), apply every
    outcome: `ex.statuses` then holds every ref's report-status, in the order of the push."""
    rows = list(table.values())
    tell([line for row in rows for line in row.prepare(ex, wire)])
    reasons: dict[bytes, str | None] = {}
    for row in rows:
        reasons |= row.apply(ex, wire)
    ex.statuses = [(s.command.ref, reasons[s.command.ref]) for s in ex.refs]
