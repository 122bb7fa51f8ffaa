"""Changed paths of many commits in one pass: `git diff-tree --stdin` over quarantine + mirror.

A whole-history push (an import, a mirror, a fork) brings thousands of commits. Diffing them
one by one in Python read every tree again for every commit and cost 10-26x the direct push;
git's own diff-tree compares trees by id, never enters an unchanged subtree and runs in C, so
the gate asks it once for all new commits of a push, streaming ids in and changes out.
dulwich stays the pack reader (it unpacks and indexes the push); git only reads the result.

Semantics (the contract the differential test checks against `git diff-tree` per parent):
- an ordinary commit: every path that differs from its parent (a root: from nothing);
- a merge: only paths that differ from *every* parent (git's combined diff, `-c`), each with
  its change against the first parent, so merging main into a branch does not look like the
  branch touched main's files, while an evil merge is still caught;
- a type change (file <-> symlink <-> submodule) is a delete and an add of the same path;
- renames are labels only: a second, bounded `-M` pass pairs a commit's own adds and deletes,
  and a rename always counts both of its paths.
"""

from __future__ import annotations

import subprocess
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from stat import S_IFMT
from typing import IO

RENAME_LIMIT = 100  # like git's diff.renameLimit: inexact rename search gives up beyond this
_GITLINK = 0o160000


class GitFailed(Exception):
    """git failed; its message (stderr, bounded) says why."""


class Unreadable(GitFailed):
    """git skipped a commit it could not read (`diff-tree --stdin` does that silently, with
    exit status 0): the mirror is behind upstream, or the push lacks the object."""


@dataclass(frozen=True)
class RawChange:
    """One path of one commit, against the first parent: add, delete or modify."""

    kind: str  # add | delete | modify | rename
    path: bytes
    old_path: bytes | None
    old_mode: int
    new_mode: int
    old_sha: bytes | None
    new_sha: bytes | None


@dataclass(frozen=True)
class Job:
    """Diff `commit` against `parents` (empty: its own parents, a root against nothing)."""

    commit: bytes
    parents: tuple[bytes, ...] = ()

    def line(self) -> bytes:
        return b" ".join((self.commit, *self.parents)) + b"\n"


def git_env(git_dirs: tuple[str, str]) -> dict[str, str]:
    """git over the quarantine (the pushed objects) with the mirror as its alternate."""
    mirror, quarantine_objects = git_dirs
    return {
        "GIT_DIR": mirror,
        "GIT_OBJECT_DIRECTORY": quarantine_objects,
        "GIT_ALTERNATE_OBJECT_DIRECTORIES": f"{mirror}/objects",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C",
    }


def _feed(stdin: IO[bytes], jobs: Sequence[Job]) -> None:
    try:
        for job in jobs:
            stdin.write(job.line())
        stdin.close()
    except (BrokenPipeError, ValueError, OSError):
        pass  # git died: its exit status and stderr say why


def _tokens(stdout: IO[bytes]) -> Iterator[bytes]:
    """NUL-terminated tokens of `-z` output, read in bounded chunks."""
    rest = b""
    while chunk := stdout.read(1 << 16):
        parts = (rest + chunk).split(b"\0")
        rest = parts.pop()
        yield from parts
    if rest:
        yield rest


def _diff_tree(
    git_dirs: tuple[str, str], jobs: Sequence[Job], options: Sequence[str]
) -> Iterator[tuple[Job, list[tuple[bytes, list[bytes]]]]]:
    """Per job, in order: its (meta, paths) records from one `git diff-tree --stdin -z` run."""
    args = ["git", "diff-tree", "--stdin", "-z", "-r", "--root", "--always", "--no-abbrev"]
    args += ["--ignore-submodules=none", "--no-ext-diff", *options]
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            args,
            env=git_env(git_dirs),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
        )
        assert proc.stdin is not None and proc.stdout is not None
        writer = threading.Thread(target=_feed, args=(proc.stdin, jobs), daemon=True)
        writer.start()
        skipped: Unreadable | None = None
        try:
            yield from _parse(_tokens(proc.stdout), jobs)
        except Unreadable as ex:
            skipped = ex
        finally:
            proc.stdout.close()
            code = proc.wait()
            writer.join()
        if code != 0:  # git's own failure first: it explains a short answer too
            err.seek(0)
            raise GitFailed(err.read(400).decode("utf-8", "replace").strip() or f"exit {code}")
        if skipped is not None:
            raise skipped


def _parse(
    tokens: Iterator[bytes], jobs: Sequence[Job]
) -> Iterator[tuple[Job, list[tuple[bytes, list[bytes]]]]]:
    todo = iter(jobs)
    current: Job | None = None
    records: list[tuple[bytes, list[bytes]]] = []
    for token in tokens:
        if token.startswith(b":"):
            paths = [next(tokens, None)]
            if b" R" in token or b" C" in token:  # a rename or copy names two paths
                paths.append(next(tokens, None))
            if current is None or None in paths:
                raise GitFailed("git diff-tree gave a malformed answer")
            records.append((token, [p for p in paths if p is not None]))
            continue
        if current is not None:
            yield current, records
        expected, current, records = next(todo, None), None, []
        if expected is None:
            raise GitFailed("git diff-tree answered more than it was asked")
        if not token.startswith(expected.commit):
            raise Unreadable(f"git diff-tree could not read {expected.commit.decode()}")
        current = expected
    if current is not None:
        yield current, records
    if (left := next(todo, None)) is not None:
        raise Unreadable(f"git diff-tree could not read {left.commit.decode()}")


def _mode(text: bytes) -> int:
    return int(text, 8)


def _sha(text: bytes) -> bytes | None:
    return None if text.strip(b"0") == b"" else text


def _against_first_parent(meta: bytes, path: bytes) -> list[RawChange]:
    """A raw or combined (`::`) record as changes against the first parent."""
    n = len(meta) - len(meta.lstrip(b":"))
    fields = meta[n:].split(b" ")
    old_mode, new_mode = _mode(fields[0]), _mode(fields[n])
    old_sha, new_sha = _sha(fields[n + 1]), _sha(fields[2 * n + 1])
    if not old_mode:
        return [RawChange("add", path, None, 0, new_mode, None, new_sha)]
    if not new_mode:
        return [RawChange("delete", path, path, old_mode, 0, old_sha, None)]
    if S_IFMT(old_mode) != S_IFMT(new_mode):  # file <-> symlink <-> gitlink: not comparable
        return [
            RawChange("delete", path, path, old_mode, 0, old_sha, None),
            RawChange("add", path, None, 0, new_mode, None, new_sha),
        ]
    return [RawChange("modify", path, path, old_mode, new_mode, old_sha, new_sha)]


def path_changes(
    git_dirs: tuple[str, str], jobs: Sequence[Job]
) -> Iterator[tuple[Job, list[RawChange]]]:
    """Changes per job, in order, renames paired (see the module docstring)."""
    found: list[tuple[Job, list[RawChange]]] = []
    for job, records in _diff_tree(git_dirs, jobs, ["-c", "--no-renames"]):
        found.append((job, [c for meta, p in records for c in _against_first_parent(meta, p[0])]))
    needs = [i for i, (_, changes) in enumerate(found) if may_rename(changes)]
    pairs = dict(zip(needs, renames(git_dirs, [found[i][0] for i in needs]), strict=True))
    for i, (job, changes) in enumerate(found):
        yield job, relabel(changes, pairs.get(i, []))


def may_rename(changes: Iterable[RawChange]) -> bool:
    adds = {c.path for c in changes if c.kind == "add"}
    deletes = {c.path for c in changes if c.kind == "delete"}
    return bool(adds - deletes) and bool(deletes - adds)


def renames(git_dirs: tuple[str, str], jobs: list[Job]) -> list[list[tuple[bytes, bytes]]]:
    """(old, new) rename pairs per job, from one bounded `git diff-tree -M` run against the
    first parent (for a force-push's net change: against the old tip)."""
    if not jobs:
        return []
    first = [Job(j.commit, j.parents[:1]) for j in jobs]
    return [
        [(p[0], p[1]) for meta, p in records if len(p) == 2 and b" R" in meta]
        for _, records in _diff_tree(git_dirs, first, ["-M", f"-l{RENAME_LIMIT}"])
    ]


def relabel(changes: list[RawChange], pairs: list[tuple[bytes, bytes]]) -> list[RawChange]:
    """Merge a delete and an add into one rename where git paired them."""
    if not pairs:
        return changes
    deletes = {c.path: c for c in changes if c.kind == "delete"}
    adds = {c.path: c for c in changes if c.kind == "add"}
    merged: dict[bytes, RawChange] = {}
    dropped: set[int] = set()
    for old, new in pairs:
        d, a = deletes.get(old), adds.get(new)
        if d is None or a is None or old == new or id(d) in dropped or id(a) in dropped:
            continue
        dropped.update((id(d), id(a)))
        merged[new] = RawChange("rename", new, old, d.old_mode, a.new_mode, d.old_sha, a.new_sha)
    out = []
    for c in changes:
        if id(c) not in dropped:
            out.append(c)
        elif c.kind == "add":
            out.append(merged[c.path])
    return out


def is_gitlink(mode: int) -> bool:
    return S_IFMT(mode) == _GITLINK
