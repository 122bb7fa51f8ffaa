"""Site pre-receive hooks run inside the gate on a real push, with git seeing the quarantine."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.fixtures.gate import GateServer
from tests.fixtures.upstream import commit, git, rev, upstream_ref

MakeGate = Callable[..., GateServer]
SAMPLES = Path(__file__).resolve().parent.parent / "hooks" / "samples"


def hook(directory: Path, name: str, body: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(body)
    path.chmod(0o755)


def test_sample_hook_sees_quarantine_and_its_verdict_reaches_the_client(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    bare, repo = seeded
    hooks = tmp_path / "pre-receive.d"
    # the sample, unchanged, with its setting from [hooks] env
    hook(hooks, "20-author-domain", f"#!/bin/sh\nexec {SAMPLES / 'check-author-domain'}\n")
    hooks_cfg = {"dir": str(hooks), "env": {"ALLOWED_DOMAINS": "acme.com"}}
    gate = make_gate(sections={"hooks": hooks_cfg})
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo), str(work))
    bad = commit(work, {"a.txt": "a\n"}, "by an outsider")  # agent7@example.com
    result = git("push", "origin", "HEAD:main", cwd=work, check=False)
    assert result.returncode != 0
    # the hook's own words reach the agent, naming the commit only the quarantine holds
    assert f"remote: [20-author-domain] error: refs/heads/main: commit {bad[:7]}" in result.stderr
    assert "hint: fix the last commit: git commit --amend --no-edit --reset-author" in (
        result.stderr
    )
    assert "hook 20-author-domain rejected the push (exit 1)" in result.stderr
    assert upstream_ref(bare, "refs/heads/main") != bad

    acme = {"GIT_AUTHOR_EMAIL": "dev@acme.com", "GIT_COMMITTER_EMAIL": "dev@acme.com"}
    git("reset", "-q", "--hard", "HEAD~1", cwd=work)
    good = commit(work, {"b.txt": "b\n"}, "by an insider", env=acme)
    result = git("push", "origin", "HEAD:main", cwd=work, check=False)
    assert result.returncode == 0, result.stderr
    assert upstream_ref(bare, "refs/heads/main") == good == rev(work)


def test_hook_environment_and_push_options(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    _, repo = seeded
    hooks = tmp_path / "pre-receive.d"
    hook(
        hooks,
        "10-show",
        "#!/bin/sh\nread old new ref\n"
        'echo "repo=$GITGATE_REPO rule=$GITGATE_RULE opts=$GIT_PUSH_OPTION_COUNT:'
        '$GIT_PUSH_OPTION_0 ref=$ref"\n'
        'git cat-file -t "$new"\n'
        'test -z "$GITGATE_TEST_UPSTREAM_TOKEN" && echo "no gate secrets here"\n',
    )
    gate = make_gate(sections={"hooks": {"dir": str(hooks)}})
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo), str(work))
    commit(work, {"c.txt": "c\n"}, "c")
    result = git("push", "-o", "ci.skip", "origin", "HEAD:main", cwd=work, check=False)
    assert result.returncode == 0, result.stderr
    assert "repo=acme/app rule=default opts=1:ci.skip ref=refs/heads/main" in result.stderr
    assert "[10-show] commit" in result.stderr
    assert "no gate secrets here" in result.stderr


def test_hook_timeout_and_crash_fail_closed(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    bare, repo = seeded
    slow = tmp_path / "slow.d"
    hook(slow, "10-slow", "#!/bin/sh\nsleep 60\n")
    gate = make_gate(sections={"hooks": {"dir": str(slow), "timeout": 1}})
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo), str(work))
    before = upstream_ref(bare, "refs/heads/main")
    commit(work, {"d.txt": "d\n"}, "d")
    result = git("push", "origin", "HEAD:main", cwd=work, check=False)
    assert result.returncode != 0
    assert "hook 10-slow timed out after 1s" in result.stderr
    broken = tmp_path / "broken.d"
    hook(broken, "10-broken", "#!/nonexistent/interpreter\n")
    gate = make_gate(sections={"hooks": {"dir": str(broken)}})
    git("remote", "set-url", "origin", gate.remote(repo), cwd=work)
    result = git("push", "origin", "HEAD:main", cwd=work, check=False)
    assert result.returncode != 0 and "hook 10-broken could not run" in result.stderr
    assert upstream_ref(bare, "refs/heads/main") == before
