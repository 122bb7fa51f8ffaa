"""Rules and decisions: which rule governs an update, and what happens to it.

Rules are ordered; the first whose `repos`, `refs` and `groups` all match applies, and no
matching rule means no access (deny by default). Every decision carries the rule that made it,
so "why was this refused?" always has an answer (`gitgate explain`). `decide` is the only
place a decision is made, and a `Decision` is frozen: what carrying it out did is the ref's
status on the exchange (gitgate.exchange), never an edited decision.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from gitgate import globs
from gitgate.checks.base import UNSTORABLE_PATHS, Verdict
from gitgate.config import Rule
from gitgate.git.wire import Command
from gitgate.repos import repo_pattern

BREAK_GLASS_OPTION = "gitgate.reason="


class Action(enum.StrEnum):
    """What the gate does with a ref update, ordered by severity: `max()` of actions is the
    strictest, which is what an atomic push and a ref with several failing checks get.

    A str enum so that config values parse with `Action(value)` and records keep the plain
    strings; the order is the explicit `severity`, never the alphabetical one of the values.
    """

    ALLOW = "allow"
    MASK = "mask"  # relayed with its secrets replaced by markers: still lands, not a refusal
    QUEUE = "queue"
    REJECT = "reject"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]

    def __lt__(self, other: object) -> bool:
        return self.severity < Action(other).severity if isinstance(other, str) else NotImplemented

    def __le__(self, other: object) -> bool:
        return self.severity <= Action(other).severity if isinstance(other, str) else NotImplemented

    def __gt__(self, other: object) -> bool:
        return self.severity > Action(other).severity if isinstance(other, str) else NotImplemented

    def __ge__(self, other: object) -> bool:
        return self.severity >= Action(other).severity if isinstance(other, str) else NotImplemented


_SEVERITY = {Action.ALLOW: 0, Action.MASK: 1, Action.QUEUE: 2, Action.REJECT: 3}
LANDS = frozenset({Action.ALLOW, Action.MASK})  # the actions whose refs go upstream now


def repo_matches(rule: Rule, repo: str) -> bool:
    """Whether `rule.repos` covers the canonical `repo`: case-insensitively, as GitHub resolves
    names (see gitgate.repos), so no spelling of a name can reach a looser rule."""
    return any(globs.match(repo_pattern(p), repo.lower()) for p in rule.repos)


def groups_match(rule: Rule, groups: Iterable[str]) -> bool:
    return "*" in rule.groups or bool(set(rule.groups) & set(groups))


def rule_for(rules: Sequence[Rule], repo: str, ref: str, groups: Iterable[str]) -> Rule | None:
    """The first rule matching repo, ref and one of the identity's groups."""
    groups = list(groups)
    for rule in rules:
        if (
            repo_matches(rule, repo)
            and globs.match_any(rule.refs, ref)
            and groups_match(rule, groups)
        ):
            return rule
    return None


def repo_rule(rules: Sequence[Rule], repo: str, groups: Iterable[str]) -> Rule | None:
    """For clone/fetch (no ref): the first rule matching repo and groups, whatever its refs."""
    groups = list(groups)
    for rule in rules:
        if repo_matches(rule, repo) and groups_match(rule, groups):
            return rule
    return None


def can_push_somewhere(rules: Sequence[Rule], repo: str, groups: Iterable[str]) -> bool:
    """Whether any ref of `repo` could be written: decides if a push may start at all."""
    groups = list(groups)
    return any(
        r.access == "write" and repo_matches(r, repo) and groups_match(r, groups) for r in rules
    )


@dataclass(frozen=True)
class Decision:
    """The decision for one ref update, made by `decide` and never changed afterwards: what
    happened when it was carried out (the queue was unavailable, a mask could not be built,
    upstream refused) is the ref's status on the exchange (gitgate.exchange.RefStatus)."""

    command: Command
    rule: Rule | None
    action: Action  # what the checks and rule say
    effective: Action  # what the gate does after dry-run, break-glass, a floor and atomic
    reasons: tuple[str, ...] = ()
    verdicts: tuple[Verdict, ...] = ()
    dry_run: bool = False
    break_glass: bool = False

    @property
    def ref(self) -> str:
        return self.command.ref.decode("utf-8", "replace")

    @property
    def failed(self) -> list[Verdict]:
        return [v for v in self.verdicts if not v.passed]


@dataclass(frozen=True)
class Floor:
    """The least severe action a write may get, and why (an API merge's `api.merge`): an
    input of `decide`, so the decision that comes out is the final one."""

    action: Action
    reason: str


def access_refusal(rule: Rule | None, ref: str) -> str | None:
    if rule is None:
        return f"no rule gives you access to {ref} (deny by default)"
    if rule.access != "write":
        return f"rule {rule.name!r} gives you {rule.access} access to {ref}, not write"
    return None


def check_action(rule: Rule, v: Verdict) -> Action:
    """The action for a failed verdict: `actions.<check>`, or for secrets the strictest of
    its findings' `secret_actions.<confidence>` (each defaulting to `actions.secrets`)."""
    default = Action(getattr(rule.actions, v.check, Action.REJECT))
    if v.check != "secrets" or not v.findings:
        return default
    return max(
        Action.REJECT
        if f.path in UNSTORABLE_PATHS
        else Action(getattr(rule.secret_actions, f.confidence or "high", "") or default)
        for f in v.findings
    )


def break_glass_reason(push_options: Iterable[str]) -> str | None:
    for opt in push_options:
        if opt.startswith(BREAK_GLASS_OPTION) and opt[len(BREAK_GLASS_OPTION) :].strip():
            return opt[len(BREAK_GLASS_OPTION) :].strip()
    return None


def _glass_applies(rule: Rule, glass: str | None, groups: set[str]) -> bool:
    return (
        glass is not None
        and rule.allow_break_glass
        and ("*" in rule.break_glass_groups or bool(groups & set(rule.break_glass_groups)))
    )


def _decide_ref(
    cmd: Command,
    rule: Rule | None,
    mine: list[Verdict],
    *,
    glass: str | None,
    groups: set[str],
    floor: Floor | None,
) -> Decision:
    ref = cmd.ref.decode("utf-8", "replace")
    refusal = access_refusal(rule, ref)
    if refusal or rule is None:
        return Decision(cmd, rule, Action.REJECT, Action.REJECT, (refusal or "",))
    action = Action.ALLOW
    reasons: list[str] = []
    for v in mine:
        if v.passed:
            continue
        act = Action.REJECT if v.error else check_action(rule, v)
        if act > Action.ALLOW:
            reasons.append(v.reason)
        action = max(action, act)
    d = Decision(cmd, rule, action, action, tuple(reasons), tuple(mine), dry_run=rule.dry_run)
    if any(f.path in UNSTORABLE_PATHS for v in d.failed for f in v.findings):
        d = replace(d, action=Action.REJECT, effective=Action.REJECT)  # never kept
    elif action != Action.ALLOW and rule.dry_run:
        d = replace(d, effective=Action.ALLOW)
    elif (
        action != Action.ALLOW
        and _glass_applies(rule, glass, groups)
        and not any(v.error for v in d.failed)
    ):
        d = replace(d, effective=Action.ALLOW, break_glass=True)
    if floor is not None and floor.action > d.effective and not rule.dry_run:
        d = replace(
            d, action=floor.action, effective=floor.action, reasons=(*d.reasons, floor.reason)
        )
    return d


def decide(
    commands: Sequence[Command],
    rules_by_ref: dict[str, Rule | None],
    verdicts: Sequence[Verdict],
    *,
    groups: Iterable[str],
    push_options: Sequence[str],
    atomic: bool,
    floor: Floor | None = None,
) -> list[Decision]:
    """Turn verdicts into one decision per ref update: the only place a decision is made."""
    groups = set(groups)
    glass = break_glass_reason(push_options)
    out = [
        _decide_ref(
            cmd,
            rules_by_ref.get(cmd.ref.decode("utf-8", "replace")),
            [v for v in verdicts if v.ref == cmd.ref.decode("utf-8", "replace")],
            glass=glass,
            groups=groups,
            floor=floor,
        )
        for cmd in commands
    ]
    worst = max((d.effective for d in out), default=Action.ALLOW)
    if atomic and worst > Action.MASK:  # a masked ref still lands: not a refusal
        what = "refused" if worst == Action.REJECT else "queued for approval"
        out = [
            replace(d, effective=worst, reasons=(f"atomic push: another ref in it was {what}",))
            if d.effective in LANDS
            else d
            for d in out
        ]
    return out
