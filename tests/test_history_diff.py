"""The gate's changed paths against git itself, over random histories shaped like real ones.

The oracle is `git diff-tree -r --no-renames` of each commit against each of its parents
separately; the gate's documented rule for a merge (a path counts only if it differs from
every parent, with its change against the first parent) is applied here, in the test, to
those per-parent diffs. The gate's answer is compared as a set of (path, status, new blob):
a rename is its delete and its add, a type change (file <-> symlink <-> submodule) a delete
and an add of the same path. Hundreds of histories in a few seconds; bench/fuzz_history.py
runs thousands.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from dulwich.repo import Repo

from gitgate.history import Job, path_changes
from gitgate.protocol import ZERO_SHA, Command
from gitgate.push import Push, build_push
from tests.fixtures.histories import generate
from tests.fixtures.upstream import git, git_env

Change = tuple[bytes, str, bytes | None]  # path, A/M/D, new content id (None: gone/gitlink)


def make_repo(path: Path, stream: bytes) -> Path:
    git("init", "-q", "--bare", str(path))
    proc = subprocess.run(
        ["git", "fast-import", "--quiet"],
        cwd=path,
        input=stream,
        env=git_env(),
        check=False,
        capture_output=True,
    )
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")
    return path


def refs(repo: Path) -> dict[bytes, bytes]:
    out = git("for-each-ref", "--format=%(objectname) %(refname)", cwd=repo).stdout
    return {r.encode(): o.encode() for o, r in (line.split(" ", 1) for line in out.splitlines())}


def commits_with_parents(repo: Path) -> list[tuple[bytes, tuple[bytes, ...]]]:
    out = git("rev-list", "--all", "--parents", cwd=repo).stdout.split("\n")
    rows = [line.encode().split() for line in out if line]
    return [(row[0], tuple(row[1:])) for row in rows]


def _mode_kind(mode: bytes) -> int:
    return int(mode, 8) & 0o170000


def oracle(repo: Path) -> dict[bytes, set[Change]]:
    """Per commit: git's per-parent diffs combined by the gate's documented rule."""
    jobs = commits_with_parents(repo)
    lines = [c + b"\n" if not ps else b"".join(c + b" " + p + b"\n" for p in ps) for c, ps in jobs]
    proc = subprocess.run(
        ["git", "diff-tree", "--stdin", "-z", "-r", "--root", "--always", "--no-renames",
         "--no-abbrev", "--ignore-submodules=none"],
        cwd=repo, input=b"".join(lines), capture_output=True, env=git_env(), check=True,
    )  # fmt: skip
    tokens = proc.stdout.split(b"\0")
    blocks: list[list[tuple[bytes, bytes]]] = []
    i = 0
    while i < len(tokens) and tokens[i]:
        if tokens[i].startswith(b":"):
            blocks[-1].append((tokens[i], tokens[i + 1]))
            i += 2
        else:
            blocks.append([])
            i += 1
    out: dict[bytes, set[Change]] = {}
    k = 0
    for commit, parents in jobs:
        per_parent = []
        for _ in parents or (b"",):
            changes: dict[bytes, set[Change]] = {}
            for meta, path in blocks[k]:
                _, new_mode, _, new_sha, status = meta[1:].split(b" ")
                new = None if _mode_kind(new_mode) in (0, 0o160000) else new_sha
                if status == b"T":  # a type change: the gate's delete + add
                    changes[path] = {(path, "D", None), (path, "A", new)}
                else:
                    changes[path] = {(path, status.decode(), new)}
            per_parent.append(changes)
            k += 1
        common = set(per_parent[0]).intersection(*per_parent[1:])
        out[commit] = {c for p in common for c in per_parent[0][p]}
    assert k == len(blocks)
    return out


def gate_push(repo: Path, heads: dict[bytes, bytes], upstream: set[bytes]) -> Push:
    store = Repo(str(repo)).object_store
    push = Push(
        repo="r",
        updates=[],
        store=store,
        upstream_has=upstream.__contains__,
        push_options=[],
        pack_bytes=0,
        git_dirs=(str(repo), str(repo / "objects")),
    )
    return build_push(push, [Command(ZERO_SHA, new, ref) for ref, new in heads.items()])


def as_set(changes: list) -> set[Change]:  # type: ignore[type-arg]
    out: set[Change] = set()
    for ch in changes:
        path = ch.path.encode("utf-8", "surrogateescape")
        if ch.kind == "rename":
            old = ch.old_path.encode("utf-8", "surrogateescape")
            out |= {(old, "D", None), (path, "A", ch.new_blob)}
        else:
            out.add((path, {"add": "A", "modify": "M", "delete": "D"}[ch.kind], ch.new_blob))
    return out


@pytest.mark.parametrize("seed", range(4))
def test_changed_paths_match_git(tmp_path: Path, seed: int) -> None:
    """Every commit of 60 random histories: the gate's changes equal git's, and building the
    push (all refs at once, as an import or a mirror push would) never raises."""
    repo = make_repo(tmp_path / "r.git", generate(seed, histories=60))
    expected = oracle(repo)
    push = gate_push(repo, refs(repo), set())
    by_commit: dict[bytes, set[Change]] = {}
    merges = 0
    for update in push.updates:
        for commit in update.new_commits:
            merges += len(commit.parents) > 1
            by_commit[commit.id] = as_set(push.seen[commit.id])
        assert all(ch.commit in by_commit for ch in update.changes)
    assert set(by_commit) == set(expected)
    for commit, changes in expected.items():
        assert by_commit[commit] == changes, commit
    push.store.close()
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
        assert {p for p, _, _ in net} == (set(raw) - {b""} if not ancestor else set())
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
