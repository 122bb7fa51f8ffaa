"""A push as one object: every ref update with its new commits, changed paths and new blobs.

Built from the quarantine (the pushed objects) and the mirror (what upstream already has):
- new commits: walk from the new tip, stop at commits upstream already has;
- changes: per new commit against its parent (root: against nothing; a merge: only paths that
  differ from *every* parent, git's combined-diff rule, so merging main into a branch does not
  look like the branch touched main's files); for a non-fast-forward update also the net change
  old tree -> new tree, because a force-push can drop or revert work without any new commit.
  All of a ref's commits go through one `git diff-tree` run (gitgate.inspection.history), and a
  commit
  two refs share is diffed once;
- new blobs: contents upstream does not have yet, with the commit that introduced them.
A missing object anywhere raises `MissingObjects`: the mirror is behind upstream, so the caller
fetches and builds again.
"""

from __future__ import annotations

import subprocess
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from dulwich.object_store import BaseObjectStore
from dulwich.objects import Blob, Commit, ObjectID, Tag, Tree

from gitgate.git.wire import Command
from gitgate.inspection.history import (
    GitFailed,
    Job,
    RawChange,
    Unreadable,
    git_env,
    is_gitlink,
    path_changes,
)
from gitgate.inspection.packcache import PackCache
from gitgate.inspection.treediff import quick_changes

MAX_COMMITS = 200_000
BLOB_CACHE_BYTES = 16 * 1024 * 1024  # per push, whatever the push's size


class MissingObjects(Exception):
    """An object the push refers to is neither in the pack nor in the mirror."""


class History(Protocol):
    """Where a push's changed paths and ancestry come from, when not from git.

    In production a push has none and asks git over its `git_dirs` (gitgate.inspection.history): one
    `git diff-tree` for all of a push's commits. Unit tests build a Push over an in-memory
    object store, with no git dir to run git in, and pass one that diffs trees in Python
    (tests/unit/factories.py); it must keep gitgate.inspection.history's semantics and raise
    MissingObjects for an object it cannot read."""

    def changes(self, jobs: Sequence[Job]) -> Iterator[tuple[Job, list[RawChange]]]: ...

    def is_ancestor(self, old: bytes, new: bytes) -> bool: ...


@dataclass(frozen=True)
class FileChange:
    kind: str  # add | modify | delete | rename | copy
    path: str  # the path after the change (for a delete: the deleted path)
    old_path: str | None
    old_blob: bytes | None
    new_blob: bytes | None
    new_mode: int | None
    commit: bytes  # the commit that made the change

    @property
    def paths(self) -> tuple[str, ...]:
        """Every path the change touches: both sides of a rename."""
        if self.old_path and self.old_path != self.path:
            return (self.old_path, self.path)
        return (self.path,)


@dataclass
class RefUpdate:
    command: Command
    new_commits: list[Commit] = field(default_factory=list)
    changes: list[FileChange] = field(default_factory=list)
    forced: bool = False
    target_type: str = "commit"  # what the new id peels to: commit, tree, blob, (none: delete)
    new_tags: list[Tag] = field(default_factory=list)  # annotated tag objects upstream lacks

    @property
    def ref(self) -> str:
        return self.command.ref.decode("utf-8", "replace")

    @property
    def kind(self) -> str:
        if self.command.is_delete:
            return "delete"
        return "create" if self.command.is_create else "update"

    @property
    def is_tag(self) -> bool:
        return self.ref.startswith("refs/tags/")

    @property
    def new_blobs(self) -> dict[bytes, FileChange]:
        """New content per blob id, with the first change that introduced it."""
        out: dict[bytes, FileChange] = {}
        for ch in self.changes:
            if ch.new_blob and ch.new_blob not in out:
                out[ch.new_blob] = ch
        return out


@dataclass
class Push:
    repo: str
    updates: list[RefUpdate]
    store: BaseObjectStore  # quarantine + mirror
    upstream_has: Callable[[bytes], bool]
    push_options: list[str]
    pack_bytes: int
    git_dirs: tuple[str, str] = ("", "")  # (mirror GIT_DIR, quarantine objects) for git runs
    seen: dict[bytes, list[FileChange]] = field(default_factory=dict)  # per commit, all refs
    translate: Callable[[bytes], bytes] = bytes  # agent id -> upstream id (gitgate.mask)
    known: dict[bytes, bytes] = field(default_factory=dict)  # the same, as stored
    queued_map: Any = None  # a queued masked push's gitgate.mask.apply.Masked (its map)
    history: History | None = None  # None: git over git_dirs (see History)
    # the pushed pack's blobs by id: their sizes, which the unpack read
    # (gitgate.inspection.packindex)
    blob_sizes: dict[bytes, int] = field(default_factory=dict)
    # the pack's small blobs and its commits, as the unpack read them (gitgate.inspection.packcache)
    pack_cache: PackCache | None = None

    _blobs: OrderedDict[bytes, Blob] = field(default_factory=OrderedDict, repr=False)
    _blob_bytes: int = 0

    def blob_data(self, blob_id: bytes) -> bytes:
        """A blob's bytes: from what the unpack kept when it has them (no second read of the
        pack), else through `blob`."""
        if self.pack_cache is not None and (data := self.pack_cache.blob(blob_id)) is not None:
            return data
        return self.blob(blob_id).as_raw_string()

    def blob(self, blob_id: bytes) -> Blob:
        """A blob, from a small cache first: the old side of a modification is usually the
        new side of an earlier one, and a whole history reads thousands of those."""
        if (hit := self._blobs.get(blob_id)) is not None:
            self._blobs.move_to_end(blob_id)
            return hit
        obj = self.store[ObjectID(blob_id)]
        assert isinstance(obj, Blob)
        size = len(obj.as_raw_string())
        if size <= BLOB_CACHE_BYTES // 16:
            self._blobs[blob_id] = obj
            self._blob_bytes += size
            while self._blob_bytes > BLOB_CACHE_BYTES:
                _, old = self._blobs.popitem(last=False)
                self._blob_bytes -= len(old.as_raw_string())
        return obj


def _get(store: BaseObjectStore, oid: bytes) -> object:
    try:
        return store[ObjectID(oid)]
    except KeyError:
        raise MissingObjects(oid.decode()) from None


def _peel(store: BaseObjectStore, oid: bytes, tags: list[Tag] | None = None) -> tuple[str, bytes]:
    obj = _get(store, oid)
    while isinstance(obj, Tag):
        if tags is not None:
            tags.append(obj)
        obj = _get(store, obj.object[1])
    if isinstance(obj, Commit):
        return "commit", obj.id
    if isinstance(obj, Tree):
        return "tree", obj.id
    return "blob", obj.id  # type: ignore[attr-defined]


def new_commits(
    store: BaseObjectStore,
    tip: bytes,
    upstream_has: Callable[[bytes], bool],
    cache: PackCache | None = None,
) -> list[Commit]:
    """Commits reachable from `tip` that upstream does not have, tip first; each from the
    commits the unpack parsed (`cache`) when it kept it, else read from `store`."""
    out: list[Commit] = []
    seen: set[bytes] = set()
    todo = [tip]
    while todo:
        oid = todo.pop()
        if oid in seen or upstream_has(oid):
            continue
        seen.add(oid)
        kept = cache.commit(oid) if cache is not None else None
        commit = kept if kept is not None else _get(store, oid)
        if not isinstance(commit, Commit):
            raise MissingObjects(f"{oid.decode()} is not a commit")
        out.append(commit)
        if len(out) > MAX_COMMITS:
            raise ValueError(f"more than {MAX_COMMITS} new commits in one ref update")
        todo.extend(reversed(commit.parents))
    return out


def _decode(path: bytes) -> str:
    """Exact, for matching (a byte that is not UTF-8 is one character, as `?` in a glob
    expects); `printable` turns it into text records and messages can carry."""
    return path.decode("utf-8", "surrogateescape")


def printable(text: str) -> str:
    """A path as people and records take it: bytes that are not UTF-8 as `\\xNN` escapes."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _convert(raw: RawChange, commit: bytes) -> FileChange:
    gitlink = is_gitlink(raw.new_mode) or is_gitlink(raw.old_mode)
    return FileChange(
        kind=raw.kind,
        path=_decode(raw.path),
        old_path=_decode(raw.old_path) if raw.old_path is not None else None,
        old_blob=raw.old_sha,
        new_blob=None if gitlink else raw.new_sha,  # a submodule pointer has no content to scan
        new_mode=raw.new_mode or None,
        commit=commit,
    )


_MISSING = ("bad object", "could not read", "unable to read", "not a valid object", "bad tree")


def changes(push: Push, jobs: list[Job]) -> Iterator[tuple[Job, list[FileChange]]]:
    """What each job's commit changed (see gitgate.inspection.history): a few ordinary commits
    in-process (gitgate.inspection.treediff), else all jobs in one git run."""
    try:
        found: Iterable[tuple[Job, list[RawChange]]] | None = (
            push.history.changes(jobs)
            if push.history
            else quick_changes(push.store, push.git_dirs, jobs)  # a small push: no git
        )
        if found is None:
            found = path_changes(push.git_dirs, jobs)
        for job, raws in found:
            yield job, [_convert(r, job.commit) for r in raws]
    except GitFailed as ex:
        if isinstance(ex, Unreadable) or any(word in str(ex).lower() for word in _MISSING):
            raise MissingObjects(str(ex)[:200]) from None
        raise


def is_ancestor(git_dirs: tuple[str, str], old: bytes, new: bytes) -> bool:
    """`git merge-base --is-ancestor`: exact and fast (uses the commit-graph when present)."""
    proc = subprocess.run(
        ["git", "merge-base", "--is-ancestor", old.decode(), new.decode()],
        env=git_env(git_dirs),
        capture_output=True,
    )
    if proc.returncode in (0, 1):
        return proc.returncode == 0
    raise MissingObjects(proc.stderr.decode("utf-8", "replace").strip()[:200])


def _boundary(commits: list[Commit], upstream_has: Callable[[bytes], bool]) -> set[bytes]:
    """Parents of the new commits that upstream already has (where the new history starts)."""
    return {p for c in commits for p in c.parents if upstream_has(p)}


def build_update(push: Push, command: Command) -> RefUpdate:
    update = RefUpdate(command)
    if command.is_delete:
        update.target_type = "none"
        return update
    tags: list[Tag] = []
    kind, target = _peel(push.store, command.new, tags)
    update.new_tags = [t for t in tags if not push.upstream_has(t.id)]
    update.target_type = kind
    if kind != "commit":
        return update
    update.new_commits = new_commits(push.store, target, push.upstream_has, push.pack_cache)
    oldest_first = list(reversed(update.new_commits))  # first introducer of a blob wins
    jobs = [Job(c.id, tuple(c.parents)) for c in oldest_first if c.id not in push.seen]
    net_job: Job | None = None
    if not command.is_create:
        old_kind, old_target = _peel(push.store, command.old)
        if old_kind != "commit":
            update.forced = True  # a ref that held a tree or blob cannot fast-forward
        elif old_target in {
            push.translate(p) for p in _boundary(update.new_commits, push.upstream_has)
        }:
            pass  # the usual fast-forward: a new commit's parent is the old tip
        elif not (
            push.history.is_ancestor(old_target, target)
            if push.history
            else is_ancestor(push.git_dirs, old_target, target)
        ):
            update.forced = True  # and the net change old -> new counts, as a commit would
            net_job = Job(target, (old_target,))
            jobs.append(net_job)
    net: list[FileChange] = []
    for job, found in changes(push, jobs):
        if job is net_job:
            net = found
        else:
            push.seen[job.commit] = found
    for commit in oldest_first:
        update.changes.extend(push.seen[commit.id])
    update.changes.extend(net)
    return update


def build_push(push: Push, commands: list[Command]) -> Push:
    push.updates = [build_update(push, c) for c in commands]
    return push
