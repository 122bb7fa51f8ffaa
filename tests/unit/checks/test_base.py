"""gitgate.checks.base: a Finding keeps whole ids and the secret's place; its record (what
the audit log, the queue and exports store) keeps the shape it always had."""

from __future__ import annotations

from gitgate.checks.base import Finding, Verdict, short
from gitgate.store.validation import FINDING_KEYS, check_findings

COMMIT = "0123456789abcdef0123456789abcdef01234567"
BLOB = "fedcba9876543210fedcba9876543210fedcba98"


def test_short_is_for_people() -> None:
    assert short(COMMIT) == short(COMMIT.encode()) == "0123456789ab"
    assert short(None) is None


def test_the_record_shortens_the_commit_and_leaves_blob_and_span_out() -> None:
    f = Finding(
        "secrets", "refs/heads/main", "AWS Access Key", commit=COMMIT, path="a.py", line=3,
        type="AWS Access Key", hash="1a2b3c4d5e6f", confidence="high", blob=BLOB, span=(10, 30),
    )  # fmt: skip
    assert (f.commit, f.blob, f.span) == (COMMIT, BLOB, (10, 30))  # whole, for the gate
    assert f.record() == {
        "check": "secrets",
        "ref": "refs/heads/main",
        "commit": "0123456789ab",
        "path": "a.py",
        "line": 3,
        "type": "AWS Access Key",
        "hash": "1a2b3c4d5e6f",
        "confidence": "high",
    }
    assert set(f.record()) <= FINDING_KEYS and check_findings([f.record()])
    assert f.location == "a.py:3"


def test_findings_without_a_type_record_their_message_and_odd_bytes_become_escapes() -> None:
    path = b"caf\xe9.txt".decode("utf-8", "surrogateescape")
    f = Finding("protected_paths", "refs/heads/main", f"modify of {path}", path=path)
    assert f.record() == {
        "check": "protected_paths",
        "ref": "refs/heads/main",
        "path": "caf\\xe9.txt",
        "type": "modify of caf\\xe9.txt",
    }
    assert Verdict("deny", "r", False, reason=f"no {path}").reason == "no caf\\xe9.txt"
