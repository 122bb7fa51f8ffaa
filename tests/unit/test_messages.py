"""gitgate.git.messages: the `remote:` lines an agent reads. Ids are whole in findings and cut to
12 characters here, where they are written for people."""

from __future__ import annotations

from typing import Any

from gitgate.checks.base import Finding, Verdict
from gitgate.config import Rule
from gitgate.git.messages import (
    decision_lines,
    finding_line,
    grouped,
    queue_lines,
    ref_reason,
    summary_lines,
)
from gitgate.git.wire import Command
from gitgate.policy import Action, Decision
from gitgate.store.changes import Enqueued

REF = "refs/heads/main"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
BLOB = "fedcba9876543210fedcba9876543210fedcba98"


def secret(commit: str = COMMIT, path: str = "src/a.py", digest: str = "1a2b3c4d5e6f") -> Finding:
    return Finding(
        "secrets", REF, "GitHub Token", commit=commit, path=path, line=7, type="GitHub Token",
        hash=digest, confidence="high", blob=BLOB, span=(120, 160),
    )  # fmt: skip


def decision(action: str, *verdicts: Verdict, effective: str = "", **kw: Any) -> Decision:
    fields: dict[str, Any] = {
        "command": Command(b"0" * 40, b"1" * 40, REF.encode()),
        "rule": Rule(name="prod"),
        "action": Action(action),
        "effective": Action(effective or action),
        "verdicts": verdicts,
        "reasons": tuple(v.reason for v in verdicts if not v.passed),
    }
    return Decision(**(fields | kw))


def failed(*findings: Finding, check: str = "secrets", hint: str = "rotate it") -> Verdict:
    return Verdict(check, REF, False, f"{len(findings)} found", list(findings), hint)


def test_a_finding_line_shows_a_short_commit_and_never_the_blob_or_span() -> None:
    line = finding_line(secret())
    assert line == (
        "  - GitHub Token at src/a.py:7 (commit 0123456789ab, secret hash 1a2b3c4d5e6f, "
        "high confidence)"
    )
    assert BLOB[:12] not in line and "120" not in line
    assert finding_line(secret(), commits=3).count("and 2 more commit(s)") == 1
    assert finding_line(Finding("deny", REF, "push is too big")) == "  - push is too big"


def test_grouping_counts_commits_by_their_whole_ids() -> None:
    twins = [secret(COMMIT), secret(COMMIT[:12] + "f" * 28)]  # same 12-char prefix
    ((first, commits),) = grouped(twins)
    assert commits == 2 and first.commit == COMMIT
    assert grouped([Finding("hooks", REF, "hook x rejected the push")]) == []  # no place


def test_ref_reasons() -> None:
    v = failed(secret())
    assert ref_reason(decision("reject", v)) == "rule prod: 1 found"
    two = decision("reject", v, failed(check="deny"))
    assert ref_reason(two) == "rule prod: 1 found (+1 more)"
    assert ref_reason(decision("reject", rule=None)) == "refused"
    queued = decision("queue", v)
    assert ref_reason(queued, 7) == "queued for approval as #7"
    assert ref_reason(queued, 7, Enqueued(7, duplicate=True)) == (
        "already queued as #7; no need to push again"
    )
    assert ref_reason(queued, 8, Enqueued(8, superseded=(5, 6))) == (
        "queued for approval as #8 (supersedes #5, #6)"
    )


def test_the_head_line_says_what_the_gate_did() -> None:
    v = failed(secret())
    heads = {
        "reject": decision("reject", v),
        "queue": decision("queue", v),
        "mask": decision("mask", v),
        "allow": decision("allow", v),
        "dry": decision("reject", v, effective="allow", dry_run=True),
        "glass": decision("reject", v, effective="allow", break_glass=True),
    }
    assert {k: decision_lines(d, max_findings=5)[0] for k, d in heads.items()} == {
        "reject": f"error: {REF}: refused by rule prod",
        "queue": f"error: {REF}: held for human approval (rule prod)",
        "mask": f"warning: {REF}: secrets found; rule prod masks them",
        "allow": f"warning: {REF}: findings allowed by rule prod",
        "dry": f"warning: {REF}: would reject (rule prod is a dry run); relayed anyway",
        "glass": f"warning: {REF}: break-glass used: reject overridden (rule prod); recorded",
    }
    assert "hint: rotate it" in decision_lines(heads["reject"], max_findings=5)
    assert not any(x.startswith("hint:") for x in decision_lines(heads["mask"], max_findings=5))
    assert decision_lines(decision("allow"), max_findings=5) == []


def test_a_ref_without_a_rule_or_without_write_access() -> None:
    none = decision(
        "reject",
        rule=None,
        reasons=("no rule gives you access to refs/heads/main (deny by default)",),
    )
    assert decision_lines(none, max_findings=5) == [
        f"error: {REF}: no rule gives you access to refs/heads/main (deny by default)",
        "hint: push to a ref you may write to, or ask the gitgate admin",
    ]
    read_only = decision("reject", rule=Rule(name="ro", access="read"))
    assert decision_lines(read_only, max_findings=5)[1].startswith("hint: push to a ref")


def test_a_queued_ref_tells_its_id_and_how_reviewers_find_it() -> None:
    d = decision("queue", failed(secret()))
    lines = decision_lines(d, max_findings=5, queue_id=12, review_hint="gitgate review 12")
    assert lines[-2:] == [
        "hint: queued as #12. No need to push again: the gate pushes it when a reviewer "
        "approves it.",
        "hint: reviewers: gitgate review 12",
    ]


def test_summary_lines_hook_output_once_and_the_review_hint_per_ref() -> None:
    hook = Verdict("hooks", REF, True, output=["[scan] all good"])
    d1 = decision("queue", failed(secret()), hook)
    other = "refs/heads/dev"
    d2 = decision(
        "allow",
        Verdict("hooks", other, True, output=["[scan] all good"]),
        command=Command(b"0" * 40, b"2" * 40, other.encode()),
    )
    out = summary_lines(
        [d1, d2], max_findings=5, queue_ids={REF: 4}, review_hint="see /review/{id}"
    )
    assert out[:2] == ["gitgate: push inspected", "[scan] all good"]
    assert out.count("[scan] all good") == 1
    assert out[-1] == "hint: reviewers: see /review/4"
    assert summary_lines([decision("allow")], max_findings=5) == []


def test_queue_lines() -> None:
    assert queue_lines(None) == []
    assert queue_lines(Enqueued(3, duplicate=True)) == [
        "hint: an identical push is already queued as #3: nothing new was queued. No need to "
        "push again."
    ]
    lines = queue_lines(Enqueued(9, superseded=(4,), conflicts=(5,)))
    assert lines == [
        "hint: #9 supersedes #4 (it contains #4's commits): one entry to review, approving it "
        "lands both",
        "warning: #9 conflicts with queued #5 on the same ref (neither repeats nor extends the "
        "other): approving one makes the other stale",
    ]
