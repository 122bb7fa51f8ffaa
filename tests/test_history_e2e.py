"""Whole histories through the gate with the real git client: imports, mirrors, old merges.

An agent that mirrors, forks or imports a real repository pushes thousands of commits with
merges at once; issue #17 found every such push refused with an internal error.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fixtures import secrets
from tests.fixtures.bighistory import generate
from tests.fixtures.gate import GateServer
from tests.fixtures.upstream import UpstreamServer, commit, git, git_env, rev, upstream_ref

MakeGate = Callable[..., GateServer]


def imported(path: Path, stream: bytes) -> Path:
    git("init", "-q", "-b", "main", str(path))
    proc = subprocess.run(
        ["git", "fast-import", "--quiet"], cwd=path, input=stream, env=git_env(), check=False,
        capture_output=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")
    return path


def test_merge_with_deletes_against_second_parent_lands(
    make_gate: MakeGate, upstream: UpstreamServer, tmp_path: Path
) -> None:
    """The exact shape of issue #17: main deletes and adds files, a branch edits another, the
    merge's diff against the branch has an added and a deleted path. It was refused with
    `gitgate internal error` on main; it lands."""
    bare = upstream.create_repo("acme/hist")
    gate = make_gate([{"name": "default", "protected_paths": ["deploy/**"]}])
    work = tmp_path / "w"
    git("init", "-q", "-b", "main", str(work))
    for name in ("old.txt", "b.txt"):
        (work / name).write_text(f"{name}\n")
    git("add", ".", cwd=work)
    git("commit", "-q", "-m", "base", cwd=work)
    git("checkout", "-q", "-b", "side", cwd=work)
    (work / "b.txt").write_text("b changed\n")
    git("commit", "-q", "-am", "side edits b", cwd=work)
    git("checkout", "-q", "main", cwd=work)
    git("rm", "-q", "old.txt", cwd=work)
    (work / "main.txt").write_text("main\n")
    git("add", "main.txt", cwd=work)
    git("commit", "-q", "-m", "main deletes old.txt, adds main.txt", cwd=work)
    git("merge", "-q", "--no-ff", "-m", "merge side", "side", cwd=work)
    result = git("push", gate.remote("acme/hist"), "main", cwd=work, check=False)
    assert result.returncode == 0, result.stderr
    assert "internal error" not in result.stderr
    assert upstream_ref(bare, "refs/heads/main") == rev(work)


@pytest.mark.slow
def test_five_thousand_commit_history_with_merges_lands(
    make_gate: MakeGate, upstream: UpstreamServer, tmp_path: Path
) -> None:
    """A generated 5,000-commit history with some 340 merges, into an empty upstream through
    the gate with the secret scan on: it lands with upstream's tip equal to the pusher's.
    (Its timing against the direct push is bench/bench_history.py's, in BENCHMARKS.md.)"""
    bare = upstream.create_repo("acme/big")
    gate = make_gate([{"name": "default", "protected_paths": ["deploy/**"], "secrets": True}])
    work = imported(tmp_path / "w", generate(5000))
    merges = git("rev-list", "--merges", "--count", "main", cwd=work).stdout.strip()
    assert int(merges) > 200
    result = git("push", gate.remote("acme/big"), "main", cwd=work, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert upstream_ref(bare, "refs/heads/main") == rev(work)
    count = git("rev-list", "--count", "main", cwd=bare).stdout.strip()
    assert int(count) == int(git("rev-list", "--count", "main", cwd=work).stdout) >= 5000


def test_secret_in_many_commits_is_one_line_with_its_count(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    """A history that re-creates the same leaked key in 12 commits, plus 25 other files with
    a secret each: one line per path and secret hash (the count of commits that carry it),
    capped at scan.max_findings_shown, the rest summarised, instead of 37 lines."""
    bare, repo = seeded
    gate = make_gate(sections={"scan": {"max_findings_shown": 10}})
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo), str(work))
    before = upstream_ref(bare, "refs/heads/main")
    token = f'TOKEN = "{secrets.GITHUB_TOKEN}"\n'
    for i in range(24):  # added, deleted, added again: each version is new and scanned whole
        commit(work, {"config/key.py": token + f"# revision {i}\n" if i % 2 == 0 else None})
    commit(work, {f"leaks/f{j}.py": f"# file {j}\n{token}" for j in range(25)}, "leaks")
    result = git("push", "origin", "HEAD:main", cwd=work, check=False)
    assert result.returncode != 0
    assert upstream_ref(bare, "refs/heads/main") == before
    lines = [x for x in result.stderr.splitlines() if "secret hash" in x]
    key_lines = [x for x in lines if "config/key.py" in x]
    assert len(key_lines) == 1, result.stderr
    assert "GitHub Token" in key_lines[0] and " at config/key.py:1 (commit " in key_lines[0]
    assert "and 11 more commit(s)" in key_lines[0]
    assert len(lines) == 10  # the cap
    assert "... and 16 more (16 commit(s) carry them)" in result.stderr
    assert "remote: hint: remove the secret" in result.stderr
    assert secrets.GITHUB_TOKEN not in result.stderr
