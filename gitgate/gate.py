"""The transport-neutral gate: rule per ref -> run the checks (fail closed) -> decide.

A git push (gitgate.git.receive) and an API write (gitgate.api.writes) both come here with an
`Exchange` whose `push` is built, so a write is decided the same way whichever door it came
through; what is then done with each decision is the transport's (gitgate.outcomes for git).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from gitgate.checks.base import Check, CheckContext
from gitgate.config import Rule
from gitgate.exchange import Exchange
from gitgate.inspection.unpack import run_checks
from gitgate.policy import Decision, Floor, decide, rule_for


class Interrupted(Exception):
    """The gate is stopping and the checks were cut short: nothing is decided."""


def route(ex: Exchange, rules: Sequence[Rule]) -> dict[str, Rule]:
    """Find each ref's rule (on `ex.rules`); returns those the caller may write, the only
    refs worth unpacking and inspecting (any other is refused without walking its history)."""
    ex.rules = {
        ref: rule_for(rules, ex.repo, ref, ex.caller.groups)
        for ref in (c.ref.decode("utf-8", "replace") for c in ex.commands)
    }
    return {ref: r for ref, r in ex.rules.items() if r is not None and r.access == "write"}


def inspect(
    ex: Exchange,
    rules: Sequence[Rule],
    checks: Sequence[Check],
    ctx: CheckContext,
    *,
    floor: Floor | None = None,
    stopping: threading.Event | None = None,
) -> list[Decision]:
    """Decide every ref update of `ex` (its `push` built over the writable refs): the
    decisions are also `ex.decisions`, and each ref's status starts as its decision.

    `floor`: the least severe action this write may get (an API merge's `api.merge`).
    `stopping`: set on shutdown; scans then stop mid-way, so nothing half-checked is decided.
    """
    writable = route(ex, rules)
    started = time.monotonic()
    verdicts = run_checks(checks, ex.push, writable, ctx) if writable and ex.push else []
    ex.timings["checks"] = time.monotonic() - started
    if stopping is not None and stopping.is_set():
        raise Interrupted
    ex.settle(
        decide(
            ex.commands,
            ex.rules,
            verdicts,
            groups=ex.caller.groups,
            push_options=ex.push_options,
            atomic=ex.atomic,
            floor=floor,
        )
    )
    return ex.decisions
