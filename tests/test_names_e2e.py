"""One repository, one name: every spelling GitHub resolves to a repo gets that repo's decision.

The upstream fixture resolves names as GitHub does (case-insensitively, `.git` optional), so a
spelling that reached a looser rule would really land in the strictly ruled repository.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fixtures.gate import GateServer
from tests.fixtures.upstream import UpstreamServer, commit, git, rev, upstream_ref

MakeGate = Callable[..., GateServer]

RULES = [
    {"name": "strict-app", "repos": ["acme/app"], "protected_paths": ["deploy/**"]},
    {"name": "private", "repos": ["Acme/Private.git"], "access": "none"},  # globs fold case too
    {"name": "rest", "repos": ["acme/*"]},
]
# Spellings of acme/app that GitHub (and git's URL handling) would send to the same repo.
SPELLINGS = [
    "acme/App",
    "ACME/app",
    "Acme/APP.git",
    "acme/app.GIT",
    "acme/app.git/",  # trailing slash
    "acme/App/",
    "acme/%41pp",  # percent-encoded 'A'
    "%61cme/app.git",  # percent-encoded 'a'
    "acme/%61%70%70",
]


def url(gate: GateServer, spelling: str) -> str:
    return f"{gate.url}/{spelling}"


@pytest.fixture
def gate(make_gate: MakeGate, seeded: tuple[Path, str]) -> GateServer:
    return make_gate(RULES)


@pytest.fixture
def private(upstream: UpstreamServer, tmp_path: Path) -> Path:
    bare = upstream.create_repo("acme/private")
    seed = tmp_path / "private-seed"
    git("clone", "-q", str(bare), str(seed))
    commit(seed, {"SECRET_PLANS.md": "plans\n"}, "plans")
    git("push", "-q", "origin", "HEAD:main", cwd=seed)
    return bare


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_protected_repo_gets_its_rule_under_every_spelling(
    gate: GateServer,
    seeded: tuple[Path, str],
    upstream: UpstreamServer,
    tmp_path: Path,
    spelling: str,
) -> None:
    bare, _ = seeded
    work = tmp_path / "w"
    git("clone", "-q", url(gate, spelling), str(work))  # reading is fine under any spelling
    before = upstream_ref(bare, "refs/heads/main")
    commit(work, {"deploy/prod.yaml": "replicas: 0\n"}, "scale to zero")
    result = git("push", "origin", "HEAD:main", cwd=work, check=False)
    assert result.returncode != 0
    assert "(rule strict-app: touches protected paths" in result.stderr
    assert "Everything up-to-date" not in result.stderr
    assert upstream_ref(bare, "refs/heads/main") == before  # nothing landed
    # the gate spoke to upstream under the canonical name only, and kept one mirror
    gate_requests = [path for _, path in upstream.requests if "/acme/app.git/" in path]
    assert any("git-receive-pack" in path for path in gate_requests)
    assert all(path.startswith("/acme/app.git/") for _, path in upstream.requests)
    mirrors = gate.config.data_path / "mirrors"
    assert sorted(p.name for p in (mirrors / "acme").glob("*.git")) == ["app.git"]
    assert not (mirrors / "Acme").exists() and not (mirrors / "ACME").exists()


def test_allowed_push_and_audit_use_the_canonical_name(
    gate: GateServer, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    from gitgate.store import sessions

    bare, _ = seeded
    work = tmp_path / "w"
    git("clone", "-q", url(gate, "ACME/App.git"), str(work))
    new = commit(work, {"src/ok.py": "OK = 1\n"}, "fine")
    result = git("push", "origin", "HEAD:main", cwd=work, check=False)
    assert result.returncode == 0, result.stderr
    assert upstream_ref(bare, "refs/heads/main") == new
    records = sessions.list_sessions()
    assert records and {r["repo"] for r in records} == {"acme/app"}
    assert gate.cli("sessions", "list", "--repo", "ACME/App.git") == 0


@pytest.mark.parametrize("spelling", ["acme/Private", "ACME/PRIVATE.git", "acme/%50rivate/"])
def test_no_access_repo_under_every_spelling(
    gate: GateServer, private: Path, tmp_path: Path, spelling: str
) -> None:
    result = git("clone", "-q", url(gate, spelling), str(tmp_path / "p"), check=False)
    assert result.returncode != 0
    assert "may not read acme/private: rule 'private' gives you no access" in result.stderr
    assert not (tmp_path / "p" / "SECRET_PLANS.md").exists()
    result = git("ls-remote", url(gate, spelling), check=False)
    assert result.returncode != 0 and "plans" not in result.stdout


@pytest.mark.parametrize(
    "spelling",
    ["acme/app.git.git", "acme/%2541pp", "acme/a..b", "acme/.app", "-acme/app", "acme/app.lock"],
)
def test_names_that_are_not_canonical_are_refused(gate: GateServer, spelling: str) -> None:
    result = git("ls-remote", url(gate, spelling), check=False)
    assert result.returncode != 0
    assert "remote: gitgate: invalid" in result.stderr
    assert "use http(s)://<gate>/<owner>/<repo>.git as the remote" in result.stderr


def test_gunicorn_decodes_spellings_the_same_way(
    upstream: UpstreamServer, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    """The deployed shape: gunicorn percent-decodes the path once, like the test server."""
    from tests.fixtures.gate import UPSTREAM_TOKEN_ENV, write_config
    from tests.fixtures.service import GateProcess, base_env, serve_argv

    bare, _ = seeded
    config = write_config(tmp_path / "g.toml", tmp_path / "data", upstream.url, RULES)
    gate = GateProcess(serve_argv(config), base_env(**{UPSTREAM_TOKEN_ENV: upstream.token or ""}))
    try:
        gate.start()
        work = tmp_path / "w"
        git("clone", "-q", f"{gate.url}/ACME/%41pp.git/", str(work))
        commit(work, {"deploy/prod.yaml": "replicas: 0\n"}, "scale to zero")
        result = git("push", "origin", "HEAD:main", cwd=work, check=False)
        assert "(rule strict-app: touches protected paths" in result.stderr
        result = git("ls-remote", f"{gate.url}/acme/%2541pp.git", check=False)
        assert result.returncode != 0 and "invalid repository name" in result.stderr
    finally:
        gate.stop()
    assert upstream_ref(bare, "refs/heads/main") != rev(work)  # the refused commit did not land
