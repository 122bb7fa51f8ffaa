"""The gate's changed paths against git itself, over random histories shaped like real ones.

tests/fixtures/differential.py holds the oracle (git's per-parent diffs, combined by the
gate's documented merge rule) and tests/fixtures/histories.py the generator: merges of two
and more parents, criss-cross merges, renames against edits, files becoming directories,
case-only renames, symlinks, gitlinks, mode changes, empty commits, binary, CRLF, non-UTF-8
and very long paths. Hundreds of histories in seconds; bench/fuzz_history.py runs thousands.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gitgate.git.wire import Command
from gitgate.inspection.history import Job, path_changes
from gitgate.inspection.push import build_push
from tests.fixtures.differential import (
    as_set,
    commits_with_parents,
    differences,
    gate_push,
    make_repo,
    refs,
)
from tests.fixtures.histories import generate
from tests.fixtures.upstream import git, git_env


@pytest.mark.parametrize("seed", range(4))
def test_changed_paths_match_git(tmp_path: Path, seed: int) -> None:
    """Every commit of 60 random histories: the gate's changes equal git's, and building the
    push (all refs at once, as an import or a mirror push would) never raises."""
    repo = make_repo(tmp_path / "r.git", generate(seed, histories=60))
    commits, merges, wrong = differences(repo)
    assert wrong == []
    assert commits > 800
    assert merges > 100  # the generator really made merges (octopus and criss-cross among them)


def test_net_change_of_a_force_push_matches_git(tmp_path: Path) -> None:
    """A non-fast-forward update also counts old tip -> new tip, as `git diff-tree old new`."""
    repo = make_repo(tmp_path / "r.git", generate(7, histories=30))
    heads = refs(repo)
    pairs = [
        (heads[b"refs/heads/h%d/main" % n], heads[b"refs/heads/h%d/b1" % n])
        for n in range(30)
        if b"refs/heads/h%d/b1" % n in heads
    ]
    forced = 0
    for old, new in pairs:
        ancestor = git("merge-base", "--is-ancestor", old.decode(), new.decode(), cwd=repo,
                       check=False).returncode == 0  # fmt: skip
        have = set(git("rev-list", old.decode(), cwd=repo).stdout.encode().split())
        push = gate_push(repo, {}, have)
        update = build_push(push, [Command(old, new, b"refs/heads/x")]).updates[0]
        push.store.close()
        assert update.forced == (not ancestor)
        walked = [ch for c in reversed(update.new_commits) for ch in push.seen[c.id]]
        assert update.changes[: len(walked)] == walked
        net = as_set(update.changes[len(walked) :])
        raw = subprocess.run(
            ["git", "diff-tree", "-z", "-r", "--no-renames", "--name-only", old, new],
            cwd=repo, capture_output=True, check=True, env=git_env(),
        ).stdout.split(b"\0")  # fmt: skip
        assert {p for p, *_ in net} == (set(raw) - {b""} if not ancestor else set())
        forced += not ancestor
    assert forced >= 5


def test_jobs_stream_in_order(tmp_path: Path) -> None:
    """The same commit twice (a walk and a net change) comes back twice, in order."""
    repo = make_repo(tmp_path / "r.git", generate(3, histories=2))
    (tip, parents), *_ = commits_with_parents(repo)
    jobs = [Job(tip, parents), Job(tip, parents[:1]), Job(tip, parents)]
    got = list(path_changes((str(repo), str(repo / "objects")), jobs))
    assert [j for j, _ in got] == jobs and all(a is b for (a, _), b in zip(got, jobs, strict=True))
    assert got[0][1] == got[2][1]


def test_merge_whose_second_parent_diff_adds_and_deletes(tmp_path: Path) -> None:
    """Issue #17's crash: main deletes `old.txt` and adds `main.txt`, a branch edits `b.txt`;
    merging the branch into main gives a merge whose diff against its *second* parent has a
    deleted and an added path. Only what differs from every parent counts (nothing here but
    the evil edit of `evil.txt`, which neither parent has)."""
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
    git("commit", "-q", "-m", "main deletes old, adds main", cwd=work)
    git("merge", "-q", "--no-ff", "--no-commit", "side", cwd=work)
    (work / "evil.txt").write_text("evil\n")
    git("add", "evil.txt", cwd=work)
    git("commit", "-q", "-m", "merge side", cwd=work)
    tip = git("rev-parse", "HEAD", cwd=work).stdout.strip().encode()
    push = gate_push(work / ".git", {b"refs/heads/main": tip}, set())
    update = push.updates[0]
    push.store.close()
    assert len(update.new_commits) == 4
    merge = [ch for ch in update.changes if ch.commit == tip]
    assert [(ch.kind, ch.path) for ch in merge] == [("add", "evil.txt")]
    assert {ch.path for ch in update.changes} == {"old.txt", "b.txt", "main.txt", "evil.txt"}


def test_missing_object_means_mirror_behind_other_failures_are_the_gates(tmp_path: Path) -> None:
    """A commit git cannot read is `MissingObjects` (the caller fetches and rebuilds); git
    failing for another reason is not blamed on the push."""
    from gitgate.inspection.history import GitFailed
    from gitgate.inspection.push import MissingObjects, changes
    from gitgate.inspection.treediff import SMALL_JOBS

    repo = make_repo(tmp_path / "r.git", generate(5, histories=1))
    push = gate_push(repo, {}, set())
    absent = b"1" * 40
    with pytest.raises(MissingObjects):
        list(changes(push, [Job(absent)]))
    push.git_dirs = (str(tmp_path / "not-a-repo"), str(tmp_path / "nothing"))
    (tip, _), *_ = commits_with_parents(repo)
    # more jobs than a small push: git's to diff (gitgate.inspection.treediff)
    with pytest.raises(GitFailed) as failed:
        list(changes(push, [Job(tip)] * (SMALL_JOBS + 1)))
    assert not isinstance(failed.value, MissingObjects)
    push.store.close()


def test_checks_and_messages_take_every_shape(tmp_path: Path) -> None:
    """Inspection never raises on these histories: path checks that match everything, their
    `remote:` lines and `ng` reasons, over non-UTF-8, very long and odd-typed paths."""
    from gitgate.checks.base import CheckContext
    from gitgate.checks.deny import Deny, DenyOptions
    from gitgate.checks.protected_paths import ProtectedPaths, ProtectedPathsOptions
    from gitgate.config import Config, Rule
    from gitgate.git.messages import decision_lines
    from gitgate.git.wire import status_line
    from gitgate.policy import Action, Decision

    repo = make_repo(tmp_path / "r.git", generate(11, histories=30))
    push = gate_push(repo, refs(repo), set())
    rule = Rule(
        name="all",
        checks={
            "protected_paths": ProtectedPathsOptions(["**"]),
            "deny": DenyOptions(delete_paths=["**"]),
        },
    )
    rules = {u.ref: rule for u in push.updates}
    ctx = CheckContext(config=Config())
    verdicts = ProtectedPaths().run(push, rules, ctx) + Deny().run(push, rules, ctx)
    push.store.close()
    assert sum(not v.passed for v in verdicts) > len(push.updates)
    escaped = 0
    for update in push.updates:
        mine = tuple(v for v in verdicts if v.ref == update.ref)
        decision = Decision(update.command, rule, Action.REJECT, Action.REJECT, verdicts=mine)
        text = "\n".join(decision_lines(decision, max_findings=1000))
        text.encode("utf-8")  # strict: what a record or a remote: line must take
        for v in decision.verdicts:
            status_line(update.command.ref, v.reason or "x").decode("utf-8")
        escaped += "\\x" in text
    assert escaped > 0  # non-UTF-8 paths were among them, shown escaped


@pytest.mark.parametrize("seed", range(3))
def test_the_in_process_diff_of_a_small_push_is_gits(tmp_path: Path, seed: int) -> None:
    """gitgate.inspection.treediff answers a small push's ordinary commits without git: over
    every ordinary commit of 60 random histories (renames against edits, type changes, files
    becoming directories, gitlinks, odd paths), in batches as pushes bring them, and each as a
    force-push's net change against an unrelated commit, it gives exactly git's changes."""
    from dulwich.object_store import DiskObjectStore

    from gitgate.inspection.treediff import SMALL_JOBS, quick_changes

    repo = make_repo(tmp_path / "r.git", generate(seed, histories=60))
    dirs = (str(repo), str(repo / "objects"))
    ordinary = [c for c, parents in commits_with_parents(repo) if len(parents) <= 1]
    jobs = [Job(c) for c in ordinary]
    jobs += [Job(a, (b,)) for a, b in zip(ordinary[::7], ordinary[3::7], strict=False)]
    store = DiskObjectStore(str(repo / "objects"))
    compared = renamed = 0
    try:
        for start in range(0, len(jobs), SMALL_JOBS):
            batch = jobs[start : start + SMALL_JOBS]
            quick = quick_changes(store, dirs, batch)
            assert quick is not None
            want = list(path_changes(dirs, batch))
            assert [j for j, _ in quick] == [j for j, _ in want]
            for (job, got), (_, expected) in zip(quick, want, strict=True):
                assert sorted(got, key=repr) == sorted(expected, key=repr), job
                compared += 1
                renamed += any(c.kind == "rename" for c in got)
    finally:
        store.close()
    assert compared > 600 and renamed > 10  # the histories really had renames to pair
    merge = next(c for c, parents in commits_with_parents(repo) if len(parents) > 1)
    assert quick_changes(DiskObjectStore(str(repo / "objects")), dirs, [Job(merge)]) is None
