"""gitgate.checks.secrets with the real detect-secrets engine (the session's SecretScanner):
what is scanned, and that a finding keeps the secret's exact place but never its value."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from gitgate.checks.base import Verdict
from gitgate.checks.secrets import Secrets, byte_span, line_starts
from gitgate.inspection.push import Push
from gitgate.scanning import ScanError, SecretHit, SecretScanner
from gitgate.store.validation import check_findings
from tests.fixtures.secrets import AWS_ACCESS_KEY_ID, GITHUB_TOKEN
from tests.unit.factories import REF, Repo, context, load_config, make_push, rules_for, update

TOKEN = GITHUB_TOKEN.encode()
CODE = b'import os\n\nURL = "https://api.github.com"\n'


def run(push: Push, scanner: Any, *, secrets: bool = True, **scan: Any) -> list[Verdict]:
    cfg = load_config([{"name": "r", "secrets": secrets}], scan=scan)
    return Secrets().run(push, rules_for(push, cfg.rule[0]), context(cfg, scanner))


def seeded(files: dict[str, bytes] | None = None) -> tuple[Repo, bytes]:
    repo = Repo()
    base = repo.commit(files or {"README.md": b"# app\n", "src/app.py": CODE})
    repo.publish(base)
    return repo, base


def found(verdicts: Sequence[Verdict]) -> list[tuple[str | None, str | None, int | None]]:
    return [(f.type, f.path, f.line) for v in verdicts for f in v.findings]


def test_a_new_file_names_commit_blob_line_and_the_byte_span(scanner: SecretScanner) -> None:
    repo, base = seeded()
    data = CODE + b'TOKEN = "' + TOKEN + b'"\n'
    tip = repo.commit({"src/client.py": data}, parents=[base])
    (v,) = run(make_push(repo, update(REF, base, tip)), scanner)
    assert not v.passed and v.reason == "1 secret(s) found in new content"
    (f,) = v.findings
    blob = repo.files[tip][b"src/client.py"][0]
    assert (f.type, f.path, f.line, f.confidence) == ("GitHub Token", "src/client.py", 4, "medium")
    assert (f.commit, f.blob) == (tip.decode(), blob.decode())
    assert f.span is not None and data[f.span[0] : f.span[1]] == TOKEN
    assert f.hash is not None and len(f.hash) == 12
    assert GITHUB_TOKEN not in repr(f)  # the value itself is never carried
    record = f.record()
    assert record["commit"] == tip.decode()[:12] and "span" not in record and "blob" not in record
    assert check_findings([record]) == [record]  # what the stores accept


def test_in_a_modified_file_only_added_lines_count_and_the_span_is_in_the_real_blob(
    scanner: SecretScanner,
) -> None:
    old = b"# settings\n" + b'OLD = "' + AWS_ACCESS_KEY_ID.encode() + b'"\n' + CODE
    repo, base = seeded({"settings.py": old})
    new = b"# settings, longer first line\n" + old.split(b"\n", 1)[1] + b'T = "' + TOKEN + b'"\n'
    tip = repo.commit({"settings.py": new}, parents=[base])
    (v,) = run(make_push(repo, update(REF, base, tip)), scanner)
    (f,) = v.findings  # the AWS key was upstream already: not reported again
    assert (f.type, f.line) == ("GitHub Token", 6)
    assert f.span is not None and new[f.span[0] : f.span[1]] == TOKEN


def test_commit_and_tag_messages_are_scanned(scanner: SecretScanner) -> None:
    repo, base = seeded()
    tip = repo.commit({"a.txt": b"a\n"}, parents=[base], message=b"add\n\nuse " + TOKEN + b"\n")
    tag = repo.tag("v1", tip, message=b"release key " + AWS_ACCESS_KEY_ID.encode() + b"\n")
    push = make_push(repo, update(REF, base, tip), update("refs/tags/v1", None, tag))
    by_ref = {v.ref: v for v in run(push, scanner)}
    (f,) = by_ref[REF].findings
    assert (f.path, f.line, f.commit, f.blob) == ("commit message", 3, tip.decode(), None)
    message = push.updates[0].new_commits[0].message
    assert f.span is not None and message[f.span[0] : f.span[1]] == TOKEN
    assert ("AWS Access Key", "tag message", 1) in found([by_ref["refs/tags/v1"]])
    assert [f.commit for f in by_ref["refs/tags/v1"].findings if f.path == "tag message"] == [
        tag.decode()
    ]


def test_a_secret_in_a_ref_name_or_push_option_keeps_no_place(scanner: SecretScanner) -> None:
    repo, base = seeded()
    tip = repo.commit({"a.txt": b"a\n"}, parents=[base])
    ref = "refs/heads/" + GITHUB_TOKEN
    push = make_push(repo, update(ref, None, tip), update(REF, base, tip))
    by_ref = {v.ref: v for v in run(push, scanner)}
    (f,) = by_ref[ref].findings
    assert (f.path, f.type, f.commit, f.line, f.blob, f.span) == (
        "ref name", "GitHub Token", None, None, None, None
    )  # fmt: skip
    assert by_ref[REF].passed
    optioned = make_push(repo, update(REF, base, tip), push_options=["token=" + GITHUB_TOKEN])
    (v,) = run(optioned, scanner)
    assert [(f.path, f.line, f.span) for f in v.findings] == [("push option", None, None)]


def test_allowlists_binary_files_and_rules_without_secrets(scanner: SecretScanner) -> None:
    repo, base = seeded()
    tip = repo.commit(
        {"fixtures/token.txt": TOKEN + b"\n", "bin.dat": b"\0\1" + TOKEN},
        parents=[base],
    )
    push = make_push(repo, update(REF, base, tip))
    (v,) = run(push, scanner)
    assert found([v]) == [("GitHub Token", "fixtures/token.txt", 1)]  # the binary is skipped
    assert run(push, scanner, allowlist_paths=["fixtures/**"])[0].passed
    digest = v.findings[0].hash or ""
    assert run(push, scanner, allowlist_hashes=[digest])[0].passed
    assert run(push, scanner, secrets=False) == []


def test_a_scan_that_fails_or_is_missing_fails_closed() -> None:
    class Broken:
        def scan(self, blobs: object, *, budget_s: float) -> dict[bytes, list[object]]:
            raise ScanError("worker died")

    repo, base = seeded()
    tip = repo.commit({"a.txt": b"a\n"}, parents=[base])
    push = make_push(repo, update(REF, base, tip))
    (v,) = run(push, Broken())
    assert (v.passed, v.error, v.reason) == (False, True, "the secret scanner failed")
    with pytest.raises(RuntimeError, match="no secret scanner"):
        run(push, None)


def test_line_starts_and_byte_spans() -> None:
    starts = line_starts(b"a\nbb\n\nccc")
    assert starts == [0, 2, 5, 6]
    assert byte_span(starts, SecretHit("T", 4, "h", start=1, end=3)) == (7, 9)
    assert byte_span(starts, SecretHit("T", 5, "h", start=0, end=1)) is None  # no such line
    assert byte_span(starts, SecretHit("T", 1, "h")) is None  # the scanner could not place it
