"""Paths that are not UTF-8 (real histories have them: Latin-1 file names from old systems)
through the gate: allowed ones land, protected ones are refused in-band, never an internal
error."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fixtures.gate import GateServer
from tests.fixtures.upstream import git, git_env, rev, upstream_ref

MakeGate = Callable[..., GateServer]


def commit_raw_path(work: Path, path: bytes, data: bytes, message: bytes) -> None:
    """A commit adding `path` (bytes, not UTF-8) on top of HEAD, via fast-import."""
    parent = rev(work).encode()
    stream = b"commit refs/heads/main\ncommitter A <a@example.com> 1700000000 +0000\n"
    stream += b"data %d\n%s\nfrom %s\n" % (len(message), message, parent)
    stream += b"M 100644 inline %s\ndata %d\n%s\n\n" % (path, len(data), data)
    subprocess.run(["git", "fast-import", "--quiet"], cwd=work, input=stream, env=git_env(),
                   check=True, capture_output=True)  # fmt: skip
    git("reset", "-q", "--hard", "main", cwd=work)


def test_non_utf8_paths(
    make_gate: MakeGate,
    seeded: tuple[Path, str],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    bare, repo = seeded
    gate = make_gate([{"name": "default", "protected_paths": ["deploy/**"]}])
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo), str(work))
    commit_raw_path(work, b"docs/caf\xe9.txt", b"latin-1 name\n", b"caf\xe9 \xff message")
    result = git("push", "origin", "HEAD:main", cwd=work, check=False)
    assert result.returncode == 0, result.stderr
    assert upstream_ref(bare, "refs/heads/main") == rev(work)
    before = rev(work)
    commit_raw_path(work, b"deploy/caf\xe9.yaml", b"replicas: 1\n", b"deploy")
    result = git("push", "origin", "HEAD:main", cwd=work, check=False)
    assert result.returncode != 0
    assert "internal error" not in result.stderr
    assert "deploy/caf\\xe9.yaml" in result.stderr and "protected" in result.stderr
    assert upstream_ref(bare, "refs/heads/main") == before
    assert "could not write the session record" not in caplog.text
    assert "failed inside the gate" not in caplog.text


def test_non_utf8_path_queued_for_review(
    make_gate: MakeGate,
    seeded: tuple[Path, str],
    tmp_path: Path,
    db_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The stored push's summary and diff name the path with \\xNN escapes (SQLite and
    PostgreSQL both refuse text that is not UTF-8)."""
    from gitgate.store import queue

    caplog.set_level(logging.INFO)
    _, repo = seeded
    rule = {"name": "review", "protected_paths": ["deploy/**"], "reviewers": ["maintainers"]}
    gate = make_gate([{**rule, "actions": {"protected_paths": "queue"}}], db_url=db_url)
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo), str(work))
    commit_raw_path(work, b"deploy/caf\xe9.yaml", b"replicas: 2\n", b"scale \xff")
    result = git("push", "origin", "HEAD:main", cwd=work, check=False)
    assert "queued for approval as #" in result.stderr, result.stderr
    stored = str([p.to_dict() for p in queue.list_pushes()])
    assert "deploy/caf\\\\xe9.yaml" in stored
    assert "could not write the session record" not in caplog.text
