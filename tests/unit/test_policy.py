"""gitgate.policy.decide, branch by branch: plain data in, frozen decisions out (no git, no DB)."""

from __future__ import annotations

import dataclasses

import pytest

from gitgate.checks.base import Finding, Verdict
from gitgate.config import Rule
from gitgate.git.wire import Command
from gitgate.policy import Action, Decision, Floor, check_action, decide

MAIN, DEV = "refs/heads/main", "refs/heads/dev"


def cmd(ref: str = MAIN) -> Command:
    return Command(b"1" * 40, b"2" * 40, ref.encode())


def failing(check: str, ref: str = MAIN, *, error: bool = False, **finding: str) -> Verdict:
    findings = [Finding(check, ref, "found", **finding)] if finding else []  # type: ignore[arg-type]
    return Verdict(
        check, ref, passed=False, reason=f"{check} failed", findings=findings, error=error
    )


def one(
    verdicts: list[Verdict],
    rule: Rule | None = None,
    *,
    options: tuple[str, ...] = (),
    groups: tuple[str, ...] = (),
    floor: Floor | None = None,
) -> Decision:
    rule = rule if rule is not None else Rule(name="r")
    (d,) = decide(
        [cmd()],
        {MAIN: rule},
        verdicts,
        groups=groups,
        push_options=list(options),
        atomic=False,
        floor=floor,
    )
    return d


def test_actions_order_by_severity_not_by_name() -> None:
    assert Action.ALLOW < Action.MASK < Action.QUEUE < Action.REJECT
    assert max(Action.REJECT, Action.ALLOW, Action.QUEUE) == Action.REJECT
    assert max(Action.MASK, Action.ALLOW) == Action.MASK  # alphabetically "allow" < "mask" too
    assert Action("queue") == "queue" and Action.QUEUE > "mask"
    assert sorted(Action) == [Action.ALLOW, Action.MASK, Action.QUEUE, Action.REJECT]


def test_no_rule_is_deny_by_default() -> None:
    (d,) = decide([cmd()], {}, [], groups=(), push_options=[], atomic=False)
    assert (d.rule, d.action, d.effective) == (None, Action.REJECT, Action.REJECT)
    assert d.reasons == (f"no rule gives you access to {MAIN} (deny by default)",)


def test_read_only_rule_refuses() -> None:
    d = one([], Rule(name="ro", access="read"))
    assert d.effective == Action.REJECT
    assert d.reasons == (f"rule 'ro' gives you read access to {MAIN}, not write",)


def test_clean_push_is_allowed_and_decisions_are_frozen() -> None:
    d = one([Verdict("secrets", MAIN, passed=True)])
    assert (d.action, d.effective, d.reasons) == (Action.ALLOW, Action.ALLOW, ())
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.effective = Action.REJECT  # type: ignore[misc]


@pytest.mark.parametrize("action", list(Action))
def test_each_failing_check_takes_its_rule_action(action: Action) -> None:
    rule = Rule(name="r")
    rule.actions.commits = action.value
    d = one([failing("commits"), failing("commits", DEV)], rule)
    assert (d.action, d.effective) == (action, action)
    assert d.reasons == (() if action == Action.ALLOW else ("commits failed",))
    assert [v.ref for v in d.verdicts] == [MAIN]  # only its own ref's verdicts


def test_the_strictest_failing_check_wins() -> None:
    rule = Rule(name="r")
    rule.actions.commits, rule.actions.deny = "queue", "allow"
    d = one([failing("deny"), failing("commits"), Verdict("hooks", MAIN, passed=True)], rule)
    assert d.effective == Action.QUEUE
    assert d.reasons == ("commits failed",)  # an allowed failure gives no reason
    assert [v.check for v in d.failed] == ["deny", "commits"]


def test_a_crashed_check_rejects_whatever_the_rule_says() -> None:
    rule = Rule(name="r")
    rule.actions.hooks = "allow"
    assert one([failing("hooks", error=True)], rule).effective == Action.REJECT


def test_unstorable_paths_are_rejected_even_in_dry_run() -> None:
    rule = Rule(name="r", dry_run=True)
    rule.actions.secrets = "allow"
    d = one([failing("secrets", path="ref name", confidence="low")], rule)
    assert (d.action, d.effective) == (Action.REJECT, Action.REJECT)


def test_dry_run_relays_and_says_what_it_would_do() -> None:
    d = one([failing("deny")], Rule(name="r", dry_run=True))
    assert (d.action, d.effective, d.dry_run) == (Action.REJECT, Action.ALLOW, True)


GLASS = Rule(name="g", allow_break_glass=True, break_glass_groups=["oncall"])


@pytest.mark.parametrize(
    ("rule", "groups", "options", "error", "used"),
    [
        (GLASS, ("oncall",), ("gitgate.reason=incident 42",), False, True),
        (GLASS, ("devs",), ("gitgate.reason=incident 42",), False, False),  # not in the group
        (GLASS, ("oncall",), ("gitgate.reason=  ",), False, False),  # no reason given
        (GLASS, ("oncall",), (), False, False),
        (Rule(name="n", break_glass_groups=["*"]), ("x",), ("gitgate.reason=y",), False, False),
        (
            dataclasses.replace(GLASS, break_glass_groups=["*"]),
            (),
            ("gitgate.reason=y",),
            False,
            True,
        ),
        (GLASS, ("oncall",), ("gitgate.reason=y",), True, False),  # a crash is never overridden
    ],
)
def test_break_glass(
    rule: Rule, groups: tuple[str, ...], options: tuple[str, ...], error: bool, used: bool
) -> None:
    d = one([failing("deny", error=error)], rule, options=options, groups=groups)
    assert d.action == Action.REJECT
    assert (d.effective, d.break_glass) == (
        (Action.ALLOW, True) if used else (Action.REJECT, False)
    )


def test_floor_is_an_input_not_an_afterthought() -> None:
    floor = Floor(Action.QUEUE, "api.merge = queue: every merge needs a reviewer")
    d = one([], floor=floor)
    assert (d.action, d.effective) == (Action.QUEUE, Action.QUEUE)
    assert d.reasons == (floor.reason,)
    assert one([failing("deny")], floor=floor).effective == Action.REJECT  # never loosens
    assert one([], Rule(name="r", dry_run=True), floor=floor).effective == Action.ALLOW


def _atomic(*actions: str) -> list[Decision]:
    rules = {}
    for i, action in enumerate(actions):
        rule = Rule(name=f"r{i}")
        rule.actions.secrets = action
        rules[f"refs/heads/b{i}"] = rule
    verdicts = [failing("secrets", ref) for ref in rules]
    return decide(
        [cmd(r) for r in rules], dict(rules), verdicts, groups=(), push_options=[], atomic=True
    )


@pytest.mark.parametrize(
    ("actions", "effective", "why"),
    [
        (("allow", "reject"), ["reject", "reject"], "refused"),
        (("mask", "queue"), ["queue", "queue"], "queued for approval"),
        (("allow", "queue", "reject"), ["reject", "queue", "reject"], "refused"),  # queued stays
        (("allow", "mask"), ["allow", "mask"], None),  # a masked ref lands: not a refusal
    ],
)
def test_atomic(actions: tuple[str, ...], effective: list[str], why: str | None) -> None:
    out = _atomic(*actions)
    assert [d.effective for d in out] == effective
    assert [d.action for d in out] == list(actions)  # what the rules said is kept
    for d, action in zip(out, actions, strict=True):
        if why and d.effective != action:
            assert d.reasons == (f"atomic push: another ref in it was {why}",)


def test_secret_actions_by_confidence() -> None:
    rule = Rule(name="r")
    rule.actions.secrets = "queue"
    rule.secret_actions.low, rule.secret_actions.high = "allow", "reject"
    low = failing("secrets", confidence="low")
    medium = failing("secrets", confidence="medium")
    assert check_action(rule, low) == Action.ALLOW
    assert check_action(rule, medium) == Action.QUEUE  # "" falls back to actions.secrets
    assert (
        check_action(
            rule, Verdict("secrets", MAIN, False, findings=[*low.findings, *medium.findings])
        )
        == Action.QUEUE
    )
    assert check_action(rule, failing("secrets", type="t")) == Action.REJECT  # no level: high
    assert (
        check_action(rule, failing("secrets", path="push option", confidence="low"))
        == Action.REJECT
    )
    assert check_action(rule, failing("secrets")) == Action.QUEUE  # no findings: actions.secrets
