"""Issue #8 §2: memory bounded by configuration. Real git pushes zip bombs through the gate;
each is refused in-band from the pack's object headers, before dulwich inflates anything."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gitgate.inspection import packindex
from tests.fixtures.gate import GateServer
from tests.fixtures.upstream import git, rev, upstream_ref

MakeGate = Callable[..., GateServer]
MiB = 1024 * 1024


@pytest.fixture
def unpacks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Every pack the gate hands to dulwich to index (its delta walker inflates objects whole,
    in memory): gitgate.packindex's step after the read that enforces the limits."""
    calls: list[Any] = []
    real = packindex._resolve

    def spy(outside: packindex.OutsideBases, path: Path, *args: Any, **kw: Any) -> Any:
        calls.append(path)
        return real(outside, path, *args, **kw)

    monkeypatch.setattr(packindex, "_resolve", spy)
    yield calls


def _clone(gate: GateServer, repo: str, dest: Path) -> Path:
    git("clone", "-q", gate.remote(repo), str(dest))
    return dest


def _commit_files(work: Path, files: dict[str, bytes], message: str) -> str:
    for name, data in files.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_bytes(data)
    git("add", ".", cwd=work)
    git("commit", "-q", "-m", message, cwd=work)
    return rev(work)


def test_inflation_bomb_refused_in_band_before_unpacking(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path, unpacks: list[Any]
) -> None:
    bare, repo = seeded
    before = upstream_ref(bare, "refs/heads/main")
    gate = make_gate(sections={"storage": {"max_object_bytes": MiB}})  # no rule sets a limit
    work = _clone(gate, repo, tmp_path / "w")
    _commit_files(work, {"assets/zeros.bin": bytes(64 * MiB)}, "a 64 MiB blob, 64 KB packed")
    result = git("push", "origin", "HEAD:main", cwd=work, check=False)
    assert result.returncode != 0
    err = result.stderr
    assert "a blob in the pack inflates to 67.1 MB" in err, err
    assert "over the gate's limit of 1.0 MB per object (storage.max_object_bytes)" in err
    assert "Git LFS" in err and "push again" in err  # what to do next
    assert "[remote rejected] HEAD -> main (a blob in the pack inflates" in err
    assert "corrupt" not in err
    assert unpacks == []  # refused from the header: dulwich never saw the pack
    assert upstream_ref(bare, "refs/heads/main") == before
    # an ordinary push on the same gate still goes through
    git("reset", "-q", "--hard", "HEAD~1", cwd=work)
    new = _commit_files(work, {"src/ok.py": b"x = 1\n"}, "small")
    assert git("push", "origin", "HEAD:main", cwd=work, check=False).returncode == 0
    assert upstream_ref(bare, "refs/heads/main") == new


def test_many_small_objects_refused_by_the_total_bound(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path, unpacks: list[Any]
) -> None:
    bare, repo = seeded
    before = upstream_ref(bare, "refs/heads/main")
    gate = make_gate(sections={"storage": {"max_inflated_bytes": 4 * MiB}})
    work = _clone(gate, repo, tmp_path / "w")
    files = {f"gen/f{i}.bin": bytes([i]) * (512 * 1024) for i in range(16)}  # 8 MiB, ~8 KB packed
    _commit_files(work, files, "many runs")
    result = git("push", "origin", "HEAD:main", cwd=work, check=False)
    assert result.returncode != 0
    assert "inflates to more than 4.2 MB in all" in result.stderr, result.stderr
    assert "storage.max_inflated_bytes" in result.stderr
    assert "split it into smaller pushes" in result.stderr
    assert unpacks == []
    assert upstream_ref(bare, "refs/heads/main") == before


@pytest.mark.slow
def test_default_object_limit_applies_without_any_rule(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path, unpacks: list[Any]
) -> None:
    """The default config (100 MiB per object): a 150 MiB blob of zeros, 150 KB on the wire."""
    bare, repo = seeded
    before = upstream_ref(bare, "refs/heads/main")
    gate = make_gate()
    work = _clone(gate, repo, tmp_path / "w")
    _commit_files(work, {"dump.bin": bytes(150 * MiB)}, "big")
    result = git("push", "origin", "HEAD:main", cwd=work, check=False)
    assert result.returncode != 0
    assert "inflates to 157.3 MB" in result.stderr, result.stderr
    assert "limit of 104.9 MB per object" in result.stderr
    assert unpacks == []
    assert upstream_ref(bare, "refs/heads/main") == before
