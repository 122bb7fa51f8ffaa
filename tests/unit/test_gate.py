"""gitgate.gate.inspect, the one entry of both transports, over a throwaway check (no git or DB)."""

from __future__ import annotations

import threading
from collections.abc import Mapping

import pytest
from dulwich.object_store import MemoryObjectStore

from gitgate.checks.base import CheckContext, Verdict
from gitgate.config import Config, Rule
from gitgate.exchange import Caller, Exchange
from gitgate.gate import Interrupted, inspect
from gitgate.git.wire import Command
from gitgate.inspection.push import Push
from gitgate.policy import Action, Floor

MAIN, DOCS, TAGS = "refs/heads/main", "refs/heads/docs", "refs/tags/v1"


class Flags:
    """A check that fails the refs it is told to, and remembers which refs it was shown."""

    name = "commits"

    def __init__(self, failing: set[str], crash: bool = False) -> None:
        self.failing, self.crash = failing, crash
        self.shown: list[str] = []

    def run(self, push: Push, rules: Mapping[str, Rule], ctx: CheckContext) -> list[Verdict]:
        self.shown = sorted(rules)
        if self.crash:
            raise ValueError("secret-looking content in the message")
        return [
            Verdict(self.name, ref, passed=ref not in self.failing, reason="bad message")
            for ref in rules
        ]


def exchange(*refs: str, groups: tuple[str, ...] = ("devs",)) -> Exchange:
    push = Push("o/r", [], MemoryObjectStore(), lambda oid: False, [], 0)
    commands = [Command(b"1" * 40, b"2" * 40, ref.encode()) for ref in refs]
    return Exchange(Caller("o/r", "agent", groups, request_id="r1"), commands, push=push)


RULES = [
    Rule(name="tags", refs=["refs/tags/**"], access="read"),
    Rule(name="queued", refs=[DOCS]),
    Rule(name="main"),
]
RULES[1].actions.commits = "queue"
CTX = CheckContext(Config(), request_id="r1")


def test_rules_per_ref_then_checks_on_writable_refs_then_decide() -> None:
    ex, check = exchange(MAIN, DOCS, TAGS), Flags({MAIN, DOCS})
    decisions = inspect(ex, RULES, [check], CTX)
    assert check.shown == [DOCS, MAIN]  # a ref the caller may not write is never inspected
    assert [d.effective for d in decisions] == [Action.REJECT, Action.QUEUE, Action.REJECT]
    assert [r.name if r else None for r in ex.rules.values()] == ["main", "queued", "tags"]
    assert ex.decisions == decisions
    assert [s.effective for s in ex.refs] == [d.effective for d in decisions]
    assert "checks" in ex.timings


def test_a_crashing_check_fails_closed() -> None:
    ex = exchange(MAIN)
    (d,) = inspect(ex, RULES, [Flags(set(), crash=True)], CTX)
    assert d.effective == Action.REJECT
    assert d.reasons == ("internal error in check commits",)
    assert "secret-looking" not in " ".join(v.hint for v in d.verdicts)


def test_floor_goes_into_the_decision() -> None:
    floor = Floor(Action.QUEUE, "every merge needs a reviewer")
    (d,) = inspect(exchange(MAIN), RULES, [Flags(set())], CTX, floor=floor)
    assert (d.action, d.effective, d.reasons) == (Action.QUEUE, Action.QUEUE, (floor.reason,))


def test_stopping_decides_nothing() -> None:
    ex, stopping = exchange(MAIN), threading.Event()
    stopping.set()
    with pytest.raises(Interrupted):
        inspect(ex, RULES, [Flags(set())], CTX, stopping=stopping)
    assert ex.decisions == [] and ex.refs == []


def test_carrying_out_changes_the_status_never_the_decision() -> None:
    ex = exchange(MAIN, DOCS)
    inspect(ex, RULES, [Flags({DOCS})], CTX)
    ex.refuse(DOCS, "the approval queue is not available on this gate")
    masked = Command(b"1" * 40, b"3" * 40, MAIN.encode())
    ex.rewrite(MAIN, masked)
    assert [d.effective for d in ex.decisions] == [Action.ALLOW, Action.QUEUE]
    assert [s.effective for s in ex.refs] == [Action.ALLOW, Action.REJECT]
    assert ex.status(DOCS).reasons == (
        "the approval queue is not available on this gate",
        "bad message",
    )
    assert ex.status(MAIN).command == masked and ex.decisions[0].command != masked
    assert ex.decided(Action.REJECT) == [ex.status(DOCS)]
    ex.refuse(MAIN, "atomic push: another ref in it was refused", only=True)
    assert ex.status(MAIN).reasons == ("atomic push: another ref in it was refused",)
