"""Rules and decisions: which rule governs an update, and what happens to it.

Rules are ordered; the first whose `repos`, `refs` and `groups` all match applies, and no
matching rule means no access (deny by default). Every decision carries the rule that made it,
so "why was this refused?" always has an answer (`gitgate explain`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from gitgate import globs
from gitgate.checks.base import UNSTORABLE_PATHS, Verdict
from gitgate.config import Rule
from gitgate.protocol import Command
from gitgate.routes import repo_pattern

SEVERITY = {"allow": 0, "mask": 1, "queue": 2, "reject": 3}
BREAK_GLASS_OPTION = "gitgate.reason="


def repo_matches(rule: Rule, repo: str) -> bool:
    """Whether `rule.repos` covers the canonical `repo`: case-insensitively, as GitHub resolves
    names (see gitgate.routes), so no spelling of a name can reach a looser rule."""
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


@dataclass
class RefDecision:
    """The outcome for one ref update."""

    command: Command
    rule: Rule | None
    action: str  # what the checks and rule say: allow | mask | queue | reject
    effective: str = ""  # what the gate does after dry-run, break-glass and atomic
    reasons: list[str] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    dry_run: bool = False
    break_glass: bool = False

    @property
    def ref(self) -> str:
        return self.command.ref.decode("utf-8", "replace")

    @property
    def failed(self) -> list[Verdict]:
        return [v for v in self.verdicts if not v.passed]


def access_refusal(rule: Rule | None, ref: str) -> str | None:
    if rule is None:
        return f"no rule gives you access to {ref} (deny by default)"
    if rule.access != "write":
        return f"rule {rule.name!r} gives you {rule.access} access to {ref}, not write"
    return None


def check_action(rule: Rule, v: Verdict) -> str:
    """The action for a failed verdict: `actions.<check>`, or for secrets the strictest of
    its findings' `secret_actions.<confidence>` (each defaulting to `actions.secrets`)."""
    default: str = getattr(rule.actions, v.check, "reject")
    if v.check != "secrets" or not v.findings:
        return default
    acts = [
        "reject"
        if f.path in UNSTORABLE_PATHS
        else getattr(rule.secret_actions, f.confidence or "high", "") or default
        for f in v.findings
    ]
    return max(acts, key=SEVERITY.__getitem__)


def break_glass_reason(push_options: Iterable[str]) -> str | None:
    for opt in push_options:
        if opt.startswith(BREAK_GLASS_OPTION) and opt[len(BREAK_GLASS_OPTION) :].strip():
            return opt[len(BREAK_GLASS_OPTION) :].strip()
    return None


def decide(
    commands: Sequence[Command],
    rules_by_ref: dict[str, Rule | None],
    verdicts: Sequence[Verdict],
    *,
    groups: Iterable[str],
    push_options: Sequence[str],
    atomic: bool,
) -> list[RefDecision]:
    """Turn verdicts into one decision per ref update."""
    groups = set(groups)
    glass = break_glass_reason(push_options)
    out = []
    for cmd in commands:
        ref = cmd.ref.decode("utf-8", "replace")
        rule = rules_by_ref.get(ref)
        refusal = access_refusal(rule, ref)
        if refusal or rule is None:
            out.append(RefDecision(cmd, rule, "reject", "reject", [refusal or ""]))
            continue
        mine = [v for v in verdicts if v.ref == ref]
        action = "allow"
        reasons = []
        for v in mine:
            if v.passed:
                continue
            act = "reject" if v.error else check_action(rule, v)
            if SEVERITY[act] > 0:
                reasons.append(v.reason)
            if SEVERITY[act] > SEVERITY[action]:
                action = act
        d = RefDecision(cmd, rule, action, action, reasons, mine, dry_run=rule.dry_run)
        if any(f.path in UNSTORABLE_PATHS for v in d.failed for f in v.findings):
            d.action = d.effective = "reject"  # a secret in its name or options: never kept
        elif action != "allow" and rule.dry_run:
            d.effective = "allow"
        elif (
            action != "allow"
            and glass
            and rule.allow_break_glass
            and ("*" in rule.break_glass_groups or groups & set(rule.break_glass_groups))
            and not any(v.error for v in d.failed)
        ):
            d.effective, d.break_glass = "allow", True
        out.append(d)
    if atomic:
        worst = max((d.effective for d in out), key=SEVERITY.__getitem__, default="allow")
        if SEVERITY[worst] > SEVERITY["mask"]:  # a masked ref still lands: not a refusal
            for d in out:
                if d.effective in ("allow", "mask"):
                    d.effective = worst
                    what = "refused" if worst == "reject" else "queued for approval"
                    d.reasons = [f"atomic push: another ref in it was {what}"]
    return out
