"""Confidence through real git: per-level actions, messages, and secrets in ref names and push
options (refused, never relayed, never written down)."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

from gitgate.scanning.detectors.base import crc32_base62
from tests.fixtures.gate import GateServer
from tests.fixtures.secret_corpus import ALNUM
from tests.fixtures.upstream import commit, git, rev, upstream_ref
from tests.test_secrets_e2e import everything_written

MakeGate = Callable[..., GateServer]
LOW_LINE = 'DB_PASSWORD = "Zq8-vLm2!kT9x"\n'  # a keyword in code: low confidence
pytestmark = pytest.mark.slow


def npm_token(seed: int) -> str:
    rng = random.Random(seed)
    body = "".join(rng.choice(ALNUM) for _ in range(30))
    return "n" + "pm_" + body + crc32_base62(body)  # checksum holds: high confidence


def test_levels_map_to_actions_and_messages_show_them(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    bare, repo = seeded
    rules = [{"name": "levels", "secret_actions": {"low": "allow", "high": "reject"}}]
    gate = make_gate(rules)
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo), str(work))
    commit(work, {"src/db.py": LOW_LINE}, "db settings")
    result = git("push", "origin", "HEAD:main", cwd=work)
    assert "warning: refs/heads/main: findings allowed by rule levels" in result.stderr
    assert "Secret Keyword at src/db.py:1" in result.stderr
    assert "low confidence" in result.stderr
    assert upstream_ref(bare, "refs/heads/main") == rev(work)

    token = npm_token(1)
    commit(work, {"src/publish.py": f'NPM = "{token}"\n'}, "publish")
    result = git("push", "origin", "HEAD:main", cwd=work, check=False)
    assert result.returncode != 0
    assert "npm Token at src/publish.py:1" in result.stderr and "high confidence" in result.stderr
    assert upstream_ref(bare, "refs/heads/main") != rev(work)
    assert token not in result.stderr and token not in everything_written(gate)


def test_without_secret_actions_every_level_gets_actions_secrets(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    bare, repo = seeded
    gate = make_gate()
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo), str(work))
    before = upstream_ref(bare, "refs/heads/main")
    commit(work, {"src/db.py": LOW_LINE}, "db settings")
    result = git("push", "origin", "HEAD:main", cwd=work, check=False)
    assert result.returncode != 0 and "low confidence" in result.stderr
    assert upstream_ref(bare, "refs/heads/main") == before


def test_secret_in_branch_name_refuses_that_ref_and_is_withheld_from_records(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    bare, repo = seeded
    # Even a dry-run rule that allows every secret finding refuses it: relaying or queueing
    # the ref would store and send the value.
    rules = [{"name": "lenient", "dry_run": True, "actions": {"secrets": "allow"}}]
    gate = make_gate(rules)
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo), str(work))
    commit(work, {"ok.py": "ok = 1\n"}, "ok")
    token = npm_token(2)
    branch = f"refs/heads/fix/{token}"
    result = git("push", "origin", f"HEAD:{branch}", "HEAD:refs/heads/clean", cwd=work, check=False)
    assert result.returncode != 0
    assert "npm Token at ref name" in result.stderr and "high confidence" in result.stderr
    assert upstream_ref(bare, branch) is None
    assert upstream_ref(bare, "refs/heads/clean") == rev(work)  # the other ref went through
    written = everything_written(gate)
    assert token not in written
    assert "<ref name withheld: npm Token " in written


def test_secret_in_push_option_refuses_every_ref_and_is_not_relayed(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    bare, repo = seeded
    gate = make_gate()
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo), str(work))
    before = upstream_ref(bare, "refs/heads/main")
    commit(work, {"ok.py": "ok = 1\n"}, "ok")
    token = npm_token(3)
    result = git("push", "-o", f"ci.token={token}", "origin", "HEAD:main", cwd=work, check=False)
    assert result.returncode != 0
    assert "npm Token at push option" in result.stderr
    assert upstream_ref(bare, "refs/heads/main") == before
    assert token not in everything_written(gate)
