"""Pushes for unit tests, built in memory: no git dir, no subprocess, no server.

    repo = Repo()
    base = repo.commit({"README.md": b"# app\\n"})
    repo.publish(base)                                  # upstream already has it
    tip = repo.commit({"src/app.py": b"x = 1\\n"}, parents=[base])
    push = make_push(repo, update("refs/heads/main", base, tip))

Commits, trees and blobs live in a dulwich MemoryObjectStore. The Push is built by the real
`gitgate.inspection.push.build_push` (new commits, forced, new tags, the per-commit and net
changes);
only where production asks git (`git diff-tree`, `git merge-base`) the factory's
`MemoryHistory` answers from the same store with the same semantics (gitgate.inspection.history): a
merge
counts only the paths that differ from every parent, a type change is a delete and an add, and
a delete paired with an add of the same content is a rename. (git also pairs similar content;
tests that need that belong with the real-git tests.)

Rules are built from their TOML shape through `gitgate.config.load`, as an admin writes them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dulwich.index import commit_tree
from dulwich.object_store import MemoryObjectStore
from dulwich.objects import Blob, Commit, ObjectID, ShaFile, Tag, Tree

from gitgate import config
from gitgate.checks.base import CheckContext
from gitgate.config import Config, Rule
from gitgate.git.wire import Command
from gitgate.inspection.history import Job, RawChange
from gitgate.inspection.push import MissingObjects, Push, build_push
from gitgate.inspection.treediff import tree_diff
from gitgate.scanning import SecretScanner

ZERO = b"0" * 40
REF = "refs/heads/main"
FILE = 0o100644
AGENT = b"Agent <agent@example.com>"

Files = dict[bytes, tuple[bytes, int]]  # path -> (blob id, mode)


@dataclass
class Repo:
    """An in-memory repository: what the agent pushes and what upstream already has."""

    store: MemoryObjectStore = field(default_factory=MemoryObjectStore)
    upstream: set[bytes] = field(default_factory=set)  # object ids upstream has
    files: dict[bytes, Files] = field(default_factory=dict)  # per commit, its whole tree
    clock: int = 1_700_000_000  # commit times advance so equal commits get distinct ids

    def add(self, obj: ShaFile) -> bytes:
        self.store.add_object(obj)
        return bytes(obj.id)

    def blob(self, data: bytes) -> bytes:
        return self.add(Blob.from_string(data))

    def commit(
        self,
        files: Mapping[str, bytes | None] | Mapping[bytes, bytes | None] | None = None,
        *,
        parents: Sequence[bytes] = (),
        message: str | bytes = "change",
        author: bytes = AGENT,
        committer: bytes | None = None,
        modes: Mapping[str, int] | None = None,
    ) -> bytes:
        """A commit whose tree is its first parent's with `files` applied (None deletes a
        path). Paths are str (UTF-8) or bytes (any bytes git allows)."""
        tree: Files = dict(self.files[parents[0]]) if parents else {}
        mode_of = {_path(p): m for p, m in (modes or {}).items()}
        for path, data in (files or {}).items():
            key = _path(path)
            if data is None:
                tree.pop(key, None)
            else:
                tree[key] = (self.blob(data), mode_of.get(key, FILE))
        c = Commit()
        c.tree = commit_tree(self.store, [(p, ObjectID(b), m) for p, (b, m) in tree.items()])
        c.parents = [ObjectID(p) for p in parents]
        c.author, c.committer = author, committer or author
        self.clock += 60
        c.author_time = c.commit_time = self.clock
        c.author_timezone = c.commit_timezone = 0
        c.message = message.encode() if isinstance(message, str) else message
        oid = self.add(c)
        self.files[oid] = tree
        return oid

    def tag(self, name: str, target: bytes, message: str | bytes = "release") -> bytes:
        """An annotated tag object pointing at `target`."""
        t = Tag()
        t.name = name.encode()
        t.object = (type(self.store[ObjectID(target)]), ObjectID(target))
        t.tagger = AGENT
        self.clock += 60
        t.tag_time, t.tag_timezone = self.clock, 0
        t.message = message.encode() if isinstance(message, str) else message
        return self.add(t)

    def publish(self, *oids: bytes) -> None:
        """Upstream has these objects and everything they reach."""
        todo = list(oids)
        while todo:
            oid = todo.pop()
            if oid in self.upstream:
                continue
            self.upstream.add(oid)
            obj = self.store[ObjectID(oid)]
            if isinstance(obj, Commit):
                todo += [obj.tree, *obj.parents]
            elif isinstance(obj, Tree):
                todo += [entry.sha for entry in obj.iteritems()]
            elif isinstance(obj, Tag):
                todo.append(obj.object[1])

    def has(self, oid: bytes) -> bool:
        return oid in self.upstream


@dataclass
class MemoryHistory:
    """gitgate.inspection.push.History over an object store: what `git diff-tree` and `git
    merge-base`
    answer in production, computed with dulwich's tree diff."""

    store: MemoryObjectStore

    def changes(self, jobs: Sequence[Job]) -> Iterator[tuple[Job, list[RawChange]]]:
        for job in jobs:
            commit = self._commit(job.commit)
            parents = list(job.parents or commit.parents)
            if not parents:
                yield job, _paired(self._diff(None, commit.tree))
                continue
            found = self._diff(self._commit(parents[0]).tree, commit.tree)
            for other in parents[1:]:  # a merge: only what differs from every parent
                differs = {c.path for c in self._diff(self._commit(other).tree, commit.tree)}
                found = [c for c in found if c.path in differs]
            yield job, _paired(found)

    def is_ancestor(self, old: bytes, new: bytes) -> bool:
        todo, seen = [new], set()
        while todo:
            oid = todo.pop()
            if oid == old:
                return True
            if oid not in seen:
                seen.add(oid)
                todo += self._commit(oid).parents
        return False

    def _commit(self, oid: bytes) -> Commit:
        try:
            obj = self.store[ObjectID(oid)]
        except KeyError:
            raise MissingObjects(oid.decode()) from None
        if not isinstance(obj, Commit):
            raise MissingObjects(f"{oid.decode()} is not a commit")
        return obj

    def _diff(self, old: bytes | None, new: bytes) -> list[RawChange]:
        return tree_diff(self.store, old, new)  # production's in-process diff (treediff)


def _paired(changes: list[RawChange]) -> list[RawChange]:
    """Exact renames: a delete and an add of the same content become one rename."""
    adds = {c.new_sha: c for c in changes if c.kind == "add"}
    out, used = [], set()
    for c in changes:
        a = adds.get(c.old_sha) if c.kind == "delete" else None
        if a is not None and a.path != c.path and id(a) not in used:
            used.add(id(a))
            out.append(
                RawChange("rename", a.path, c.path, c.old_mode, a.new_mode, c.old_sha, a.new_sha)
            )
        elif id(c) not in used:
            out.append(c)
    return [c for c in out if id(c) not in used]


def _path(path: str | bytes) -> bytes:
    return path if isinstance(path, bytes) else path.encode("utf-8", "surrogateescape")


def update(ref: str, old: bytes | None, new: bytes | None) -> Command:
    """A ref update command; None for a create's old or a delete's new id."""
    return Command(old or ZERO, new or ZERO, ref.encode("utf-8", "surrogateescape"))


def make_push(
    repo: Repo,
    *commands: Command,
    push_options: Sequence[str] = (),
    pack_bytes: int = 0,
    name: str = "acme/app",
) -> Push:
    """A Push of `commands` over `repo`, built as the gate builds one from a pack."""
    push = Push(
        name,
        [],
        repo.store,
        repo.has,
        list(push_options),
        pack_bytes,
        history=MemoryHistory(repo.store),
    )
    return build_push(push, list(commands))


def load_config(rules: Sequence[Mapping[str, Any]] = ({"name": "r"},), **sections: Any) -> Config:
    """A validated Config with `rules` as `[[rule]]` tables (TOML shape) and other sections."""
    data: dict[str, Any] = {"storage": {"data_dir": "/nonexistent/gitgate-unit"}, **sections}
    data["rule"] = [dict(r) for r in rules]
    return config.load(overrides=data)


def rules_for(push: Push, rule: Rule) -> dict[str, Rule]:
    """Every ref of `push` governed by `rule`."""
    return {u.ref: rule for u in push.updates}


def context(cfg: Config, scanner: SecretScanner | None = None) -> CheckContext:
    return CheckContext(cfg, scanner=scanner, request_id="unit-test")
