"""Large pushes through the gate: many commits, many megabytes (marked slow, never dropped)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fixtures.gate import GateServer
from tests.fixtures.upstream import git, rev, upstream_ref

MakeGate = Callable[..., GateServer]
pytestmark = pytest.mark.slow


def fast_import_commits(
    work: Path, count: int, branch: str = "main", base_time: int = 1_700_000_000
) -> None:
    """`count` commits on top of HEAD via git fast-import (seconds, not minutes)."""
    parent = rev(work)
    lines = []
    for i in range(count):
        body = f"value = {i}\n"
        msg = f"commit {i}\n"
        lines += [
            f"commit refs/heads/{branch}",
            f"committer Agent Seven <agent7@example.com> {base_time + i} +0000",
            f"data {len(msg)}",
            msg.rstrip("\n"),
        ]
        if i == 0:
            lines.append(f"from {parent}")
        lines += [
            f"M 100644 inline src/gen/file{i % 50}.py",
            f"data {len(body)}",
            body.rstrip("\n"),
            "",
        ]
    stream = "\n".join(lines) + "\n"
    git("fast-import", "--quiet", "--force", cwd=work, input=stream.encode())
    git("reset", "-q", "--hard", branch, cwd=work)


def test_thousand_commit_push(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    bare, repo = seeded
    gate = make_gate([{"name": "default", "protected_paths": ["deploy/**"]}])
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo), str(work))
    fast_import_commits(work, 1000)
    result = git("push", "origin", "HEAD:main", cwd=work, check=False)
    assert result.returncode == 0, result.stderr
    assert upstream_ref(bare, "refs/heads/main") == rev(work)
    count = git("rev-list", "--count", "main", cwd=bare).stdout.strip()
    assert int(count) == 1001


def test_hundred_megabyte_push(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    bare, repo = seeded
    gate = make_gate()
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo), str(work))
    for i in range(4):  # incompressible: the pack is really ~100 MB on the wire
        (work / "assets").mkdir(exist_ok=True)
        (work / "assets" / f"blob{i}.bin").write_bytes(os.urandom(25 * 1024 * 1024))
    git("add", "assets", cwd=work)
    git("commit", "-q", "-m", "big assets", cwd=work)
    result = git("push", "origin", "HEAD:main", cwd=work, check=False)
    assert result.returncode == 0, result.stderr
    assert upstream_ref(bare, "refs/heads/main") == rev(work)
    size = git("cat-file", "-s", f"{rev(work)}:assets/blob3.bin", cwd=bare).stdout.strip()
    assert int(size) == 25 * 1024 * 1024
