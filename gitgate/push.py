"""A push as one object: every ref update with its new commits, changed paths and new blobs.

Built from the quarantine (the pushed objects) and the mirror (what upstream already has):
- new commits: walk from the new tip, stop at commits upstream already has;
- changes: per new commit against its parent (root: against nothing; a merge: only paths that
  differ from *every* parent, git's combined-diff rule, so merging main into a branch does not
  look like the branch touched main's files); for a non-fast-forward update also the net change
  old tree -> new tree, because a force-push can drop or revert work without any new commit;
- new blobs: contents upstream does not have yet, with the commit that introduced them.
A missing object anywhere raises `MissingObjects`: the mirror is behind upstream, so the caller
fetches and builds again.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from dulwich.diff_tree import CHANGE_RENAME, RenameDetector, TreeChange, tree_changes
from dulwich.object_store import BaseObjectStore
from dulwich.objects import S_ISGITLINK, Blob, Commit, ObjectID, Tag, Tree

from gitgate.protocol import Command

MAX_COMMITS = 200_000


class MissingObjects(Exception):
    """An object the push refers to is neither in the pack nor in the mirror."""


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
    translate: Callable[[bytes], bytes] = bytes  # agent id -> upstream id (gitgate.mask)
    known: dict[bytes, bytes] = field(default_factory=dict)  # the same, as stored

    def blob(self, blob_id: bytes) -> Blob:
        obj = self.store[ObjectID(blob_id)]
        assert isinstance(obj, Blob)
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
    store: BaseObjectStore, tip: bytes, upstream_has: Callable[[bytes], bool]
) -> list[Commit]:
    """Commits reachable from `tip` that upstream does not have, tip first."""
    out: list[Commit] = []
    seen: set[bytes] = set()
    todo = [tip]
    while todo:
        oid = todo.pop()
        if oid in seen or upstream_has(oid):
            continue
        seen.add(oid)
        commit = _get(store, oid)
        if not isinstance(commit, Commit):
            raise MissingObjects(f"{oid.decode()} is not a commit")
        out.append(commit)
        if len(out) > MAX_COMMITS:
            raise ValueError(f"more than {MAX_COMMITS} new commits in one ref update")
        todo.extend(reversed(commit.parents))
    return out


def _decode(path: bytes | None) -> str | None:
    return None if path is None else path.decode("utf-8", "surrogateescape")


def _convert(ch: TreeChange, commit: bytes) -> FileChange | None:
    old, new = ch.old, ch.new
    if (new and new.mode and S_ISGITLINK(new.mode)) or (old and old.mode and S_ISGITLINK(old.mode)):
        new_blob = None  # a submodule pointer has no content to scan
    else:
        new_blob = new.sha if new and new.sha else None
    path = _decode(new.path if new and new.path else old.path if old else None)
    assert path is not None
    old_path = _decode(old.path) if old and old.path else None
    return FileChange(
        kind=ch.type,
        path=path,
        old_path=old_path if ch.type in (CHANGE_RENAME, "copy", "modify", "delete") else None,
        old_blob=old.sha if old and old.sha else None,
        new_blob=new_blob,
        new_mode=new.mode if new else None,
        commit=commit,
    )


RENAME_MAX_FILES = 100  # content renames: at most 100 x 100 add/delete pairs, like git's limit


def _diff(store: BaseObjectStore, old_tree: bytes | None, new_tree: bytes) -> Iterator[TreeChange]:
    """Tree changes, with renames detected only where a commit both adds and deletes.

    Rename detection compares file contents pairwise, which an agent could inflate on purpose,
    and it changes only labels (both sides of a rename are checked either way); so it runs
    only when there can be a rename, bounded like git's `diff.renameLimit`.
    """
    try:
        old, new = (ObjectID(old_tree) if old_tree else None), ObjectID(new_tree)
        plain = list(tree_changes(store, old, new))
        kinds = {c.type for c in plain}
        if "add" not in kinds or "delete" not in kinds:
            yield from plain
            return
        detector = RenameDetector(store, max_files=RENAME_MAX_FILES)  # type: ignore[arg-type]
        yield from tree_changes(store, old, new, rename_detector=detector)
    except KeyError as ex:
        raise MissingObjects(str(ex)) from None


def commit_changes(store: BaseObjectStore, commit: Commit) -> list[FileChange]:
    """What one commit changed; for a merge, only what differs from every parent."""
    parents = [_get(store, p) for p in commit.parents]
    first = parents[0].tree if parents else None  # type: ignore[attr-defined]
    changes = list(_diff(store, first, commit.tree))
    if len(parents) > 1:
        for parent in parents[1:]:
            touched = {c.new.path or c.old.path for c in _diff(store, parent.tree, commit.tree)}  # type: ignore[attr-defined,union-attr]
            changes = [c for c in changes if (c.new.path or c.old.path) in touched]  # type: ignore[union-attr]
    return [fc for c in changes if (fc := _convert(c, commit.id))]


def is_ancestor(git_dirs: tuple[str, str], old: bytes, new: bytes) -> bool:
    """`git merge-base --is-ancestor`: exact and fast (uses the commit-graph when present)."""
    mirror, quarantine_objects = git_dirs
    env = {
        "GIT_DIR": mirror,
        "GIT_OBJECT_DIRECTORY": quarantine_objects,
        "GIT_ALTERNATE_OBJECT_DIRECTORIES": f"{mirror}/objects",
        "PATH": "/usr/local/bin:/usr/bin:/bin",
    }
    proc = subprocess.run(
        ["git", "merge-base", "--is-ancestor", old.decode(), new.decode()],
        env=env,
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
    update.new_commits = new_commits(push.store, target, push.upstream_has)
    for commit in reversed(update.new_commits):  # oldest first: first introducer wins
        update.changes.extend(commit_changes(push.store, commit))
    if not command.is_create:
        old_kind, old_target = _peel(push.store, command.old)
        if old_kind != "commit":
            update.forced = True  # a ref that held a tree or blob cannot fast-forward
        elif old_target in {
            push.translate(p) for p in _boundary(update.new_commits, push.upstream_has)
        }:
            pass  # the usual fast-forward: a new commit's parent is the old tip
        elif not is_ancestor(push.git_dirs, old_target, target):
            update.forced = True
            old_tree = _get(push.store, old_target).tree  # type: ignore[attr-defined]
            new_tree = _get(push.store, target).tree  # type: ignore[attr-defined]
            update.changes.extend(
                fc for c in _diff(push.store, old_tree, new_tree) if (fc := _convert(c, target))
            )
    return update


def build_push(push: Push, commands: list[Command]) -> Push:
    push.updates = [build_update(push, c) for c in commands]
    return push
