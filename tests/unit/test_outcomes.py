"""gitgate.outcomes.carry_out: every row prepares before the agent is told, then applies; a
ref a row could not carry out is reported by the refuse row (no git, no DB)."""

from __future__ import annotations

import io

from gitgate.config import Rule
from gitgate.exchange import Caller, Exchange
from gitgate.git.wire import Command, PushRequest
from gitgate.outcomes import Outcome, Table, Wire, carry_out
from gitgate.outcomes.refuse import Refuse
from gitgate.policy import Action, Decision

MAIN, DOCS = b"refs/heads/main", b"refs/heads/docs"


class Row(Outcome):
    """Reports `ok` for the refs of its action; `fails` them in prepare instead."""

    def __init__(self, action: Action, log: list[str], fails: bool = False) -> None:
        self.action, self.log, self.fails = action, log, fails

    def prepare(self, ex: Exchange, wire: Wire) -> list[str]:
        self.log.append(f"prepare {self.action}")
        for s in ex.decided(self.action) if self.fails else []:
            ex.refuse(s.ref, f"could not {self.action}")
        return [f"{self.action} lines"]

    def apply(self, ex: Exchange, wire: Wire) -> dict[bytes, str | None]:
        self.log.append(f"apply {self.action}")
        return {s.command.ref: None for s in ex.decided(self.action)}


def exchange(*actions: Action) -> Exchange:
    cmds = [Command(b"1" * 40, b"2" * 40, ref) for ref in (MAIN, DOCS)]
    ex = Exchange(Caller("o/r"), cmds)
    ex.settle([Decision(c, Rule(name="r"), a, a) for c, a in zip(cmds, actions, strict=True)])
    return ex


def run(table: Table, ex: Exchange, log: list[str]) -> None:
    wire = Wire(PushRequest(ex.commands, []), io.BytesIO(), None, log.extend, log.append)  # type: ignore[arg-type]
    carry_out(table, ex, wire, lambda lines: log.append(f"tell {lines}"))


def test_prepare_all_then_tell_then_apply_all_in_table_order() -> None:
    log: list[str] = []
    ex = exchange(Action.QUEUE, Action.ALLOW)
    table: Table = {
        Action.ALLOW: Row(Action.ALLOW, log),
        Action.QUEUE: Row(Action.QUEUE, log),
        Action.REJECT: Refuse(),
    }
    run(table, ex, log)
    assert log == [
        "prepare allow",
        "prepare queue",
        "tell ['allow lines', 'queue lines']",
        "apply allow",
        "apply queue",
    ]
    assert ex.statuses == [(MAIN, None), (DOCS, None)]  # in the push's order


def test_a_ref_that_could_not_be_carried_out_is_refused_not_redecided() -> None:
    log: list[str] = []
    ex = exchange(Action.QUEUE, Action.ALLOW)
    table: Table = {
        Action.ALLOW: Row(Action.ALLOW, log),
        Action.QUEUE: Row(Action.QUEUE, log, fails=True),
        Action.REJECT: Refuse(),
    }
    run(table, ex, log)
    assert ex.statuses == [(MAIN, "rule r: could not queue"), (DOCS, None)]
    assert ex.decisions[0].effective == Action.QUEUE  # the decision stands; its status moved
