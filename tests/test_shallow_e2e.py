"""Pushes from shallow clones (`git clone --depth 1`, what most agent sandboxes do).

git sends `shallow <id>` lines before the ref updates; the gate parses them, inspects the push
against its full mirror and relays them, so the commit lands exactly as a direct push would.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.fixtures import secrets
from tests.fixtures.gate import GateServer
from tests.fixtures.upstream import commit, git, rev, upstream_ref

MakeGate = Callable[..., GateServer]


def deepen(bare: Path, tmp_path: Path) -> None:
    """Two more commits upstream, so that a depth-1 clone really is cut short."""
    seed = tmp_path / "deepen"
    git("clone", "-q", str(bare), str(seed))
    commit(seed, {"src/two.py": "TWO = 2\n"}, "two")
    commit(seed, {"src/three.py": "THREE = 3\n"}, "three")
    git("push", "-q", "origin", "HEAD:main", cwd=seed)


def shallow_clone(gate: GateServer, repo: str, dest: Path) -> Path:
    git("clone", "-q", "--depth", "1", gate.remote(repo), str(dest))
    assert git("rev-parse", "--is-shallow-repository", cwd=dest).stdout.strip() == "true"
    return dest


def test_push_from_shallow_clone_lands(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    bare, repo = seeded
    deepen(bare, tmp_path)
    gate = make_gate()
    work = shallow_clone(gate, repo, tmp_path / "w")
    new = commit(work, {"src/four.py": "FOUR = 4\n"}, "four")
    result = git(
        "push", "origin", "HEAD:main", cwd=work, check=False, env={"GIT_TRACE_PACKET": "1"}
    )
    assert result.returncode == 0, result.stderr
    assert "git> shallow " in result.stderr  # git did send its shallow boundary
    assert upstream_ref(bare, "refs/heads/main") == new
    assert git("cat-file", "-p", f"{new}:src/four.py", cwd=bare).stdout == "FOUR = 4\n"
    # a new branch from the shallow clone, and a second push on top: both land
    topic = commit(work, {"src/five.py": "FIVE = 5\n"}, "five")
    result = git("push", "origin", "HEAD:refs/heads/topic", cwd=work, check=False)
    assert result.returncode == 0, result.stderr
    assert upstream_ref(bare, "refs/heads/topic") == topic
    # upstream's history is whole: nothing about the client's shallowness leaked into it
    assert not (bare / "shallow").exists()
    assert git("rev-list", "--count", "topic", cwd=bare).stdout.strip() == "5"


def test_shallow_push_is_inspected(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    """The shallow push is not just accepted: its content is checked like any other."""
    bare, repo = seeded
    deepen(bare, tmp_path)
    gate = make_gate(
        [{"name": "guarded", "protected_paths": ["deploy/**"]}],
    )
    work = shallow_clone(gate, repo, tmp_path / "w")
    before = upstream_ref(bare, "refs/heads/main")
    data, planted = secrets.python_source(["github_token"])
    tip = commit(work, {"config/keys.py": data.decode()}, "keys")
    result = git("push", "origin", "HEAD:main", cwd=work, check=False)
    assert result.returncode != 0
    assert f"GitHub Token at config/keys.py:{planted[0].line} (commit {tip[:12]}" in result.stderr
    assert "Everything up-to-date" not in result.stderr
    git("reset", "-q", "--hard", "HEAD~1", cwd=work)
    commit(work, {"deploy/prod.yaml": "replicas: 1\n"}, "scale down")
    result = git("push", "origin", "HEAD:main", cwd=work, check=False)
    assert result.returncode != 0
    assert "touches protected paths" in result.stderr and "deploy/prod.yaml" in result.stderr
    assert upstream_ref(bare, "refs/heads/main") == before
    assert rev(work, "HEAD~1") == before


def test_queued_shallow_push_is_relayed_on_approval(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path, db_url: str
) -> None:
    """The stored push keeps its shallow lines; the gate relays it itself after approval."""
    bare, repo = seeded
    deepen(bare, tmp_path)
    rule = {
        "name": "prod-review",
        "protected_paths": ["deploy/**"],
        "reviewers": ["maintainers"],
        "actions": {"protected_paths": "queue"},
    }
    gate = make_gate([rule], db_url=db_url)
    work = shallow_clone(gate, repo, tmp_path / "w")
    before = upstream_ref(bare, "refs/heads/main")
    tip = commit(work, {"deploy/prod.yaml": "replicas: 9\n"}, "scale up")
    result = git("push", "origin", "HEAD:main", cwd=work, check=False)
    assert "(queued for approval as #1)" in result.stderr
    assert upstream_ref(bare, "refs/heads/main") == before
    assert gate.cli("review", "approve", "1", "--as", "alice", "--group", "maintainers") == 0
    assert upstream_ref(bare, "refs/heads/main") == tip


def test_partly_refused_shallow_push_relays_the_rest(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    """The re-packed relay (only the allowed ref's objects) works with shallow lines too."""
    bare, repo = seeded
    deepen(bare, tmp_path)
    gate = make_gate([{"name": "guarded", "protected_paths": ["deploy/**"]}])
    work = shallow_clone(gate, repo, tmp_path / "w")
    before = upstream_ref(bare, "refs/heads/main")
    good = commit(work, {"src/ok.py": "OK = 1\n"}, "fine")
    git("checkout", "-q", "-b", "bad", cwd=work)
    bad = commit(work, {"deploy/prod.yaml": "replicas: 0\n"}, "scale to zero")
    result = git(
        "push", "origin", f"{good}:refs/heads/good", f"{bad}:refs/heads/main", cwd=work, check=False
    )
    assert result.returncode != 0
    assert "touches protected paths" in result.stderr
    assert upstream_ref(bare, "refs/heads/good") == good
    assert upstream_ref(bare, "refs/heads/main") == before
    assert git("cat-file", "-e", bad, cwd=bare, check=False).returncode != 0  # never sent
