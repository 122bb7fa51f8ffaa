"""gitgate.checks.hookrunner and the shipped sample hooks, against real git repositories.

The quarantine is built the way the gate builds it: a fresh objects directory whose
info/alternates points at the repository's objects, with the pushed pack unpacked into it, so
the pushed commits exist *only* there.
"""

from __future__ import annotations

import os
import select
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from gitgate.checks.hookrunner import HookResult, HookUpdate, discover_hooks, run_hooks

SAMPLES = Path(__file__).resolve().parent.parent / "hooks" / "samples"
ZERO = "0" * 40
# What the gate passes to every hook; the tests check it arrives.
GATE_ENV = {"GITGATE_SUBJECT": "agent-7", "GITGATE_REPO": "acme/widgets"}


def git(*args: str, cwd: Path | None = None, email: str = "dev@example.com", **kw) -> str:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(cwd or Path.cwd()),
        "LANG": "C",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "Dev",
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": "Dev",
        "GIT_COMMITTER_EMAIL": "dev@example.com",
    }
    out = subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, **kw
    ).stdout
    return out.decode().strip() if isinstance(out, bytes) else out


@dataclass
class Repo:
    """An upstream bare repository (the gate's mirror) and a work tree that pushes to it."""

    root: Path
    bare: Path
    work: Path

    def commit(self, files: dict[str, bytes], email: str = "dev@example.com") -> str:
        for name, data in files.items():
            (self.work / name).write_bytes(data)
        git("add", "-A", cwd=self.work)
        git("commit", "-q", "-m", f"add {', '.join(files)}", cwd=self.work, email=email)
        return git("rev-parse", "HEAD", cwd=self.work)

    def quarantine(self, new: str, *exclude: str) -> Path:
        """Unpack the objects of ``new`` (minus ``exclude``) into a fresh quarantine."""
        objects = self.root / f"quarantine-{new[:12]}" / "objects"
        (objects / "info").mkdir(parents=True)
        (objects / "info" / "alternates").write_text(f"{self.bare / 'objects'}\n")
        revs = f"{new}\n" + "".join(f"^{rev}\n" for rev in exclude)
        pack = subprocess.run(
            ["git", "-C", str(self.work), "pack-objects", "--revs", "--stdout", "-q"],
            input=revs.encode(),
            capture_output=True,
            check=True,
        ).stdout
        env = {**os.environ, "GIT_OBJECT_DIRECTORY": str(objects)}
        subprocess.run(
            ["git", "--git-dir", str(self.bare), "unpack-objects", "-q"],
            input=pack,
            env=env,
            check=True,
        )
        return objects

    def run(self, hooks: list[Path], objects: Path, updates: list[HookUpdate], **kw):
        kw.setdefault("push_options", [])
        kw.setdefault("extra_env", GATE_ENV)
        kw.setdefault("timeout_s", 30.0)
        return run_hooks(
            hooks,
            git_dir=self.bare,
            quarantine_objects=objects,
            alternates=[self.bare / "objects"],
            updates=updates,
            **kw,
        )

    def in_upstream(self, rev: str) -> bool:
        probe = subprocess.run(["git", "--git-dir", str(self.bare), "cat-file", "-e", rev])
        return probe.returncode == 0


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    bare, work = tmp_path / "upstream.git", tmp_path / "work"
    git("init", "-q", "--bare", "-b", "main", str(bare), cwd=tmp_path)
    git("init", "-q", "-b", "main", str(work), cwd=tmp_path)
    git("remote", "add", "origin", str(bare), cwd=work)
    r = Repo(tmp_path, bare, work)
    r.commit({"README": b"hello\n", "big-old.bin": b"x" * 3000})
    git("push", "-q", "origin", "main", cwd=work)
    return r


def hook(directory: Path, name: str, body: str, mode: int = 0o755) -> Path:
    directory.mkdir(exist_ok=True)
    path = directory / name
    path.write_text(body)
    path.chmod(mode)
    return path


def shell_hook(tmp_path: Path, name: str, script: str) -> Path:
    return hook(tmp_path / "hooks", name, "#!/bin/sh\n" + script)


def test_discover_hooks_sorted_executable_files_only(tmp_path: Path) -> None:
    d = tmp_path / "pre-receive.d"
    for name in ("20-b", "10-a", "x.sample", ".hidden", "30-c~", "40-d.dpkg-old"):
        hook(d, name, "#!/bin/sh\n")
    hook(d, "50-not-executable", "#!/bin/sh\n", mode=0o644)
    (d / "60-directory").mkdir()
    assert [p.name for p in discover_hooks(d)] == ["10-a", "20-b"]
    assert discover_hooks(tmp_path / "missing") == []


def test_hook_sees_pushed_commits_only_in_quarantine(repo: Repo, tmp_path: Path) -> None:
    old = git("rev-parse", "HEAD", cwd=repo.work)
    repo.commit({"a.txt": b"a\n"}, email="agent@example.com")
    new = repo.commit({"b.txt": b"b\n"}, email="bob@example.org")
    objects = repo.quarantine(new, old)
    log_hook = shell_hook(
        tmp_path,
        "log",
        'while read -r old new ref; do echo "$ref"; git log --format=%ae "$old..$new"; done\n'
        'git rev-parse refs/heads/main\necho "objects=$GIT_OBJECT_DIRECTORY"\n',
    )
    [result] = repo.run([log_hook], objects, [HookUpdate(old, new, "refs/heads/main")])
    assert result.ok, result
    assert result.output == [
        "refs/heads/main",
        "bob@example.org",
        "agent@example.com",
        old,  # refs are not updated before the hooks pass
        f"objects={objects}",
    ]
    assert not repo.in_upstream(new)  # the hook found the commits through the quarantine


def test_exit_codes_and_stop_at_first_failure(repo: Repo, tmp_path: Path) -> None:
    marker = tmp_path / "third-ran"
    hooks = [
        shell_hook(tmp_path, "10-pass", "echo fine\n"),
        shell_hook(tmp_path, "20-fail", "echo 'error: no' >&2\nexit 3\n"),
        shell_hook(tmp_path, "30-after", f"touch {marker}\n"),
    ]
    results = repo.run(hooks, repo.bare / "objects", [])
    assert [(r.name, r.exit_code, r.ok) for r in results] == [
        ("10-pass", 0, True),
        ("20-fail", 3, False),
    ]
    assert results[1].output == ["error: no"]
    assert not marker.exists()


def pid_exited(pid: int, within_s: float) -> bool:
    """Wait (on an event, not a sleep) for ``pid`` to exit; an already gone pid has exited."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([fd], [], [], within_s)
        return bool(readable)
    finally:
        os.close(fd)


def test_timeout_kills_the_whole_process_group(repo: Repo, tmp_path: Path) -> None:
    pidfile = tmp_path / "sleeper.pid"
    slow = shell_hook(tmp_path, "slow", f"echo started\nsleep 60 &\necho $! > {pidfile}\nwait\n")
    start = time.monotonic()
    [result] = repo.run([slow], repo.bare / "objects", [], timeout_s=1.0)
    elapsed = time.monotonic() - start
    assert result.timed_out and not result.ok
    assert result.exit_code is None
    assert result.output == ["started"]
    assert elapsed < 1.0 + 4.0
    assert pid_exited(int(pidfile.read_text()), within_s=5.0)


def test_background_children_do_not_outlive_a_finished_hook(repo: Repo, tmp_path: Path) -> None:
    pidfile = tmp_path / "sleeper.pid"
    quick = shell_hook(tmp_path, "quick", f"sleep 60 &\necho $! > {pidfile}\necho done\n")
    start = time.monotonic()
    [result] = repo.run([quick], repo.bare / "objects", [], timeout_s=30.0)
    assert result.ok and result.output == ["done"]
    assert time.monotonic() - start < 10.0  # did not wait for the sleeper's pipe
    assert pid_exited(int(pidfile.read_text()), within_s=5.0)


@pytest.mark.parametrize(
    ("body", "mode", "reason"),
    [
        ("#!/nonexistent/interpreter\n", 0o755, "interpreter was not found"),
        ("no shebang here\n", 0o755, "not a program"),
        ("#!/bin/sh\nexit 0\n", 0o644, "Permission denied"),
    ],
)
def test_hook_that_cannot_start_is_an_error(
    repo: Repo, tmp_path: Path, body: str, mode: int, reason: str
) -> None:
    broken = hook(tmp_path / "hooks", "broken", body, mode)
    after = shell_hook(tmp_path, "after", "echo ran\n")
    results = repo.run([broken, after], repo.bare / "objects", [])
    assert len(results) == 1  # fails closed: nothing after it runs
    [result] = results
    assert not result.ok and result.exit_code is None
    assert result.error is not None and reason in result.error


def test_hook_killed_by_a_signal_is_an_error(repo: Repo, tmp_path: Path) -> None:
    [result] = repo.run([shell_hook(tmp_path, "k", "kill -TERM $$\n")], repo.bare / "objects", [])
    assert result == HookResult("k", -15, [], False, "hook killed by signal SIGTERM")
    assert not result.ok


def test_environment_is_clean_and_complete(
    repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_notarealtokenbutsecret0123456789")
    monkeypatch.setenv("GITGATE_UPSTREAM_TOKEN", "file-token-value-9876")
    dump = shell_hook(tmp_path, "env", "env\n")
    objects = tmp_path / "q" / "objects"
    objects.mkdir(parents=True)
    [result] = repo.run([dump], objects, [])
    env = dict(line.split("=", 1) for line in result.output)
    text = "\n".join(result.output)
    assert "ghp_notarealtoken" not in text and "file-token-value" not in text
    assert "GITHUB_TOKEN" not in env and "GITGATE_UPSTREAM_TOKEN" not in env
    assert env["GIT_DIR"] == str(repo.bare)
    assert env["GIT_OBJECT_DIRECTORY"] == env["GIT_QUARANTINE_PATH"] == str(objects)
    assert env["GIT_ALTERNATE_OBJECT_DIRECTORIES"] == str(repo.bare / "objects")
    assert env["GIT_PUSH_OPTION_COUNT"] == "0"
    assert env["GITGATE_SUBJECT"] == "agent-7" and env["GITGATE_REPO"] == "acme/widgets"
    assert env["PWD"] == str(repo.bare)  # cwd is GIT_DIR, as in git
    allowed = {"PATH", "HOME", "LANG", "PWD", "SHLVL", "_", "OLDPWD"}
    assert {k for k in env if not k.startswith(("GIT_", "GITGATE_"))} <= allowed


def test_push_options_reach_the_hook(repo: Repo, tmp_path: Path) -> None:
    script = (
        'echo "count=$GIT_PUSH_OPTION_COUNT"\n'
        'i=0; while [ "$i" -lt "$GIT_PUSH_OPTION_COUNT" ]; do\n'
        '  eval "echo \\"$i=\\$GIT_PUSH_OPTION_$i\\""; i=$((i + 1)); done\n'
    )
    options = ["ci.skip", "reason=hotfix for prod"]
    [result] = repo.run(
        [shell_hook(tmp_path, "opts", script)], repo.bare / "objects", [], push_options=options
    )
    assert result.output == ["count=2", "0=ci.skip", "1=reason=hotfix for prod"]


def test_many_updates_on_stdin(repo: Repo, tmp_path: Path) -> None:
    # ~250 KB of stdin: more than a pipe buffer, for a hook that reads it and one that does not.
    updates = [HookUpdate(ZERO, "1" * 40, f"refs/heads/b{i}") for i in range(3000)]
    counter = shell_hook(tmp_path, "10-count", "wc -l\n")
    ignorer = shell_hook(tmp_path, "20-ignore", "exit 0\n")
    results = repo.run([counter, ignorer], repo.bare / "objects", updates)
    assert [r.ok for r in results] == [True, True]
    assert results[0].output == ["3000"]


def test_output_is_capped_and_cleaned(repo: Repo, tmp_path: Path) -> None:
    noisy = shell_hook(
        tmp_path,
        "noisy",
        "printf 'a\\033[31mred\\r\\tx\\n'\nhead -c 5000 /dev/zero | tr '\\0' y\necho\nseq 1 500\n",
    )
    [result] = repo.run([noisy], repo.bare / "objects", [], max_output_lines=10)
    assert result.output[0] == "a[31mred\tx"
    assert result.output[1] == "y" * 1000
    assert result.output[2:10] == [str(i) for i in range(1, 9)]
    assert result.output[10] == "[492 more lines of hook output not shown]"
    assert len(result.output) == 11


# --- the shipped samples -------------------------------------------------------------------

SIZE = SAMPLES / "check-size-and-extensions"
AUTHOR = SAMPLES / "check-author-domain"


def test_samples_are_shipped_executable() -> None:
    assert discover_hooks(SAMPLES) == [AUTHOR, SIZE]


def test_size_sample_rejects_big_blobs_and_blocked_extensions(repo: Repo) -> None:
    old = git("rev-parse", "HEAD", cwd=repo.work)
    new = repo.commit({"big.bin": b"z" * 2000, "ok.txt": b"fine\n", "tool.EXE": b"MZ"})
    objects = repo.quarantine(new, old)
    env = {**GATE_ENV, "MAX_BYTES": "1000"}
    [result] = repo.run([SIZE], objects, [HookUpdate(old, new, "refs/heads/main")], extra_env=env)
    assert result.exit_code == 1
    assert result.output[0] == "error: push rejected by check-size-and-extensions"
    assert "error: refs/heads/main: big.bin is 2000 bytes (limit 1000)" in result.output
    assert "error: refs/heads/main: tool.EXE has a blocked extension (.exe)" in result.output
    assert not any("ok.txt" in line for line in result.output)
    assert any(line.startswith("hint:") for line in result.output)


def test_size_sample_passes_clean_pushes_new_branches_and_deletions(repo: Repo) -> None:
    base = git("rev-parse", "HEAD", cwd=repo.work)
    new = repo.commit({"small.txt": b"s\n"})
    objects = repo.quarantine(new, base)
    updates = [
        HookUpdate(base, new, "refs/heads/main"),
        # a new branch: its history includes big-old.bin, which is already upstream
        HookUpdate(ZERO, new, "refs/heads/feature"),
        HookUpdate(base, ZERO, "refs/heads/old-branch"),
    ]
    env = {**GATE_ENV, "MAX_BYTES": "1000"}
    [result] = repo.run([SIZE], objects, updates, extra_env=env)
    assert result.ok, result.output
    assert result.output == []


def test_size_sample_fails_closed_when_git_fails(repo: Repo) -> None:
    missing = HookUpdate(ZERO, "1" * 40, "refs/heads/main")
    [result] = repo.run([SIZE], repo.bare / "objects", [missing])
    assert not result.ok and result.exit_code not in (0, None)


def test_author_sample_rejects_foreign_domains(repo: Repo) -> None:
    old = git("rev-parse", "HEAD", cwd=repo.work)
    repo.commit({"a.txt": b"a\n"}, email="Agent@Example.ORG")
    new = repo.commit({"b.txt": b"b\n"}, email="mallory@evil.test")
    objects = repo.quarantine(new, old)
    short = git("rev-parse", "--short", new, cwd=repo.work)
    env = {**GATE_ENV, "ALLOWED_DOMAINS": "example.com, example.org"}
    [result] = repo.run([AUTHOR], objects, [HookUpdate(old, new, "refs/heads/main")], extra_env=env)
    assert result.exit_code == 1
    expected = f"error: refs/heads/main: commit {short} has author <mallory@evil.test>, outside"
    errors = [line for line in result.output if line.startswith("error: refs/")]
    assert errors == [expected + " the allowed domains"]
    assert "hint: allowed author domains: example.com example.org" in result.output
    assert any("git commit --amend" in line for line in result.output)


def test_author_sample_accepts_allowed_domains_and_defaults(repo: Repo) -> None:
    old = git("rev-parse", "HEAD", cwd=repo.work)
    new = repo.commit({"c.txt": b"c\n"}, email="dev@example.com")
    objects = repo.quarantine(new, old)
    [result] = repo.run([AUTHOR], objects, [HookUpdate(old, new, "refs/heads/main")])
    assert result.ok and result.output == []
