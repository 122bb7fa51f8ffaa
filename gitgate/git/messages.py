"""What the agent reads: `remote:` lines that say what was found and what to do next.

Lines starting `error:`, `warning:` and `hint:` are coloured by git. Each finding shows the
commit, `path:line`, the rule and the check; a secret shows its type and a short hash, never
its value, and one line per path and secret hash however many commits carry it (with their
count), capped at `scan.max_findings_shown` lines and a summary of the rest. The
report-status reason stays one short line (`! [remote rejected] main -> main
(<reason>)`); the detail goes here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from gitgate.checks.base import Finding, short
from gitgate.exchange import RefStatus
from gitgate.policy import Action, Decision

if TYPE_CHECKING:
    from gitgate.store.changes import Enqueued

# What the lines explain: a decision, or (once carried out) the ref's final status.
Explained = Decision | RefStatus


def finding_line(f: Finding, commits: int = 1) -> str:
    """One finding; `commits` > 1 when the same secret at the same path is in more commits."""
    parts = [f.message]
    if f.location:
        parts.append(f"at {f.location}")
    extra = []
    if f.commit:
        more = commits - 1
        extra.append(f"commit {short(f.commit)}" + (f" and {more} more commit(s)" if more else ""))
    if f.hash:
        extra.append(f"secret hash {f.hash}")
    if f.confidence:
        extra.append(f"{f.confidence} confidence")
    line = "  - " + " ".join(parts)
    return line + (f" ({', '.join(extra)})" if extra else "")


def grouped(findings: Sequence[Finding]) -> list[tuple[Finding, int]]:
    """Findings worth a line, a secret once per (path, secret hash): its first finding (with
    every type a detector gave it) and the number of commits that carry it. A whole history
    with one leaked key that commits re-add would otherwise print it hundreds of times."""
    groups: dict[object, tuple[Finding, list[str], set[str | None]]] = {}
    for i, f in enumerate(findings):
        if not (f.location or f.commit):
            continue
        key: object = (f.check, f.path, f.hash) if f.hash else i
        _, types, commits = groups.setdefault(key, (f, [], set()))
        if f.message not in types:
            types.append(f.message)
        commits.add(f.commit)
    return [
        (replace(first, message=", ".join(types)), max(len(commits), 1))
        for first, types, commits in groups.values()
    ]


def ref_reason(d: Explained, queue_id: int | None = None, entry: Enqueued | None = None) -> str:
    """The one-line report-status reason for a refused or queued ref."""
    if d.effective == Action.QUEUE and queue_id is not None:
        if entry is not None and entry.duplicate:
            return f"already queued as #{queue_id}; no need to push again"
        if entry is not None and entry.superseded:
            old = ", ".join(f"#{i}" for i in entry.superseded)
            return f"queued for approval as #{queue_id} (supersedes {old})"
        return f"queued for approval as #{queue_id}"
    rule = f"rule {d.rule.name}: " if d.rule else ""
    first = d.reasons[0] if d.reasons else "refused"
    more = f" (+{len(d.reasons) - 1} more)" if len(d.reasons) > 1 else ""
    return f"{rule}{first}{more}"


def decision_lines(
    d: Explained, *, max_findings: int, queue_id: int | None = None, review_hint: str = ""
) -> list[str]:
    """The `remote:` lines explaining one ref's decision (nothing for a clean allow)."""
    failed = d.failed
    if d.effective == Action.ALLOW and not failed and not d.break_glass:
        return []
    rule = d.rule.name if d.rule else "-"
    lines: list[str] = []
    if d.rule is None or (not failed and d.effective == Action.REJECT):
        lines = [f"error: {d.ref}: {d.reasons[0] if d.reasons else 'refused'}"]
        if d.rule is None or d.rule.access != "write":
            lines.append("hint: push to a ref you may write to, or ask the gitgate admin")
        return lines
    if d.dry_run and d.action != Action.ALLOW:
        head = f"warning: {d.ref}: would {d.action} (rule {rule} is a dry run); relayed anyway"
    elif d.break_glass:
        head = f"warning: {d.ref}: break-glass used: {d.action} overridden (rule {rule}); recorded"
    elif d.effective == Action.QUEUE:
        head = f"error: {d.ref}: held for human approval (rule {rule})"
    elif d.effective == Action.REJECT:
        head = f"error: {d.ref}: refused by rule {rule}"
    elif d.effective == Action.MASK:
        head = f"warning: {d.ref}: secrets found; rule {rule} masks them"
    else:
        head = f"warning: {d.ref}: findings allowed by rule {rule}"
    lines.append(head)
    for v in failed:
        lines.append(f"  [{v.check}] {v.reason}")
        shown = grouped(v.findings)
        lines.extend(finding_line(f, n) for f, n in shown[:max_findings])
        hidden = shown[max_findings:]
        if hidden:
            total = sum(n for _, n in hidden)
            lines.append(f"  ... and {len(hidden)} more ({total} commit(s) carry them)")
        if v.hint and d.effective not in (Action.QUEUE, Action.MASK):
            lines.append(f"hint: {v.hint}")
    if not failed and d.reasons:
        lines.append(f"  {d.reasons[0]}")
    if d.effective == Action.QUEUE and queue_id is not None:
        lines.append(
            f"hint: queued as #{queue_id}. No need to push again: the gate pushes it "
            "when a reviewer approves it."
        )
        if review_hint:
            lines.append(f"hint: reviewers: {review_hint}")
    return lines


def summary_lines(
    decisions: Sequence[Explained],
    *,
    max_findings: int,
    queue_ids: dict[str, int] | None = None,
    review_hint: str = "",
) -> list[str]:
    queue_ids = queue_ids or {}
    out: list[str] = []
    # Hook output once per push (hooks run once per push, their verdict repeats per ref).
    shown: set[str] = set()
    for d in decisions:
        for v in d.verdicts:
            for line in v.output:
                if line not in shown:
                    shown.add(line)
                    out.append(line)
    for d in decisions:
        out.extend(
            decision_lines(
                d,
                max_findings=max_findings,
                queue_id=queue_ids.get(d.ref),
                review_hint=review_hint.format(id=queue_ids.get(d.ref, "")),
            )
        )
    if out:
        out.insert(0, "gitgate: push inspected")
    return out


def queue_lines(entry: Enqueued | None) -> list[str]:
    """What queueing did beyond "queued as #N": one entry per change (gitgate.store.changes)."""
    if entry is None:
        return []
    if entry.duplicate:
        return [
            f"hint: an identical push is already queued as #{entry.id}: nothing new was "
            "queued. No need to push again."
        ]
    lines = []
    for old in entry.superseded:
        lines.append(
            f"hint: #{entry.id} supersedes #{old} (it contains #{old}'s commits): one entry to "
            "review, approving it lands both"
        )
    for other in entry.conflicts:
        lines.append(
            f"warning: #{entry.id} conflicts with queued #{other} on the same ref (neither "
            f"repeats nor extends the other): approving one makes the other stale"
        )
    return lines
