"""What the agent reads about findings: one line per secret, however many commits carry it."""

from __future__ import annotations

from gitgate.checks.base import Finding, Verdict
from gitgate.config import Rule
from gitgate.git.messages import decision_lines, grouped
from gitgate.git.wire import Command
from gitgate.policy import Action, Decision

REF = "refs/heads/main"


def secret(path: str, commit: str, hash_: str, type_: str = "GitHub Token") -> Finding:
    return Finding("secrets", REF, type_, commit=commit, path=path, line=3, type=type_, hash=hash_)


def test_one_line_per_path_and_hash_with_all_types_and_the_commit_count() -> None:
    findings = [secret("a.py", f"c{i:011d}", "h1") for i in range(40)]
    findings += [secret("a.py", "c00000000000", "h1", "Base64 High Entropy String")]
    findings += [secret("b.py", "c00000000001", "h1"), secret("a.py", "c00000000002", "h2")]
    findings += [Finding("protected_paths", REF, "modify of a protected path", "c1", "x.tf")] * 2
    lines = grouped(findings)
    assert [(f.path, f.hash, n) for f, n in lines] == [
        ("a.py", "h1", 40),
        ("b.py", "h1", 1),
        ("a.py", "h2", 1),
        ("x.tf", None, 1),  # findings without a secret hash are not merged
        ("x.tf", None, 1),
    ]
    assert lines[0][0].message == "GitHub Token, Base64 High Entropy String"


def test_capped_and_summarised() -> None:
    findings = [secret(f"f{j}.py", f"c{i:011d}", f"h{j}") for j in range(30) for i in range(j + 1)]
    verdict = Verdict("secrets", REF, passed=False, reason="465 secret(s)", findings=findings)
    rule = Rule(name="default")
    decision = Decision(
        Command(b"0" * 40, b"1" * 40, REF.encode()),
        rule,
        Action.REJECT,
        Action.REJECT,
        verdicts=(verdict,),
    )
    out = decision_lines(decision, max_findings=5)
    shown = [x for x in out if x.startswith("  - ")]
    assert len(shown) == 5
    assert shown[4] == (
        "  - GitHub Token at f4.py:3 (commit c00000000000 and 4 more commit(s), secret hash h4)"
    )
    hidden = sum(j + 1 for j in range(5, 30))
    assert f"  ... and 25 more ({hidden} commit(s) carry them)" in out
