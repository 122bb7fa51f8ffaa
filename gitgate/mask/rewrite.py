"""Rewrite one ref update so that no secret found in it reaches upstream.

Given the push's new commits (and annotated tags) and the secrets to mask, every object that
upstream does not have yet is rewritten bottom-up: blobs with the value replaced by its marker,
the trees above them, then commits (parents mapped first, so only commits from the first
affected one on change), then annotated tags pointing at rewritten objects. Author, committer,
dates, encoding and other headers are kept; messages are masked too. A rewritten commit or
tag loses its signature (it would not verify any more): the caller says so to the agent.
Objects upstream already has are never rewritten (they are public already). New objects go
into the push's quarantine as one pack; the relay packs from there (gitgate.git.relay.repack).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from dulwich.object_store import BaseObjectStore
from dulwich.objects import Blob, Commit, ObjectID, ShaFile, Tag, Tree

from gitgate.mask.values import Secret, apply

GENERIC = frozenset({"Base64 High Entropy String", "Hex High Entropy String", "Secret Keyword"})


@dataclass
class Rewritten:
    """What one rewrite produced: id maps (agent's id -> upstream's id) and what lost a
    signature."""

    commits: dict[bytes, bytes] = field(default_factory=dict)
    trees: dict[bytes, bytes] = field(default_factory=dict)
    blobs: dict[bytes, bytes] = field(default_factory=dict)
    tags: dict[bytes, bytes] = field(default_factory=dict)
    unsigned: list[bytes] = field(default_factory=list)  # rewritten objects that were signed
    originals: dict[bytes, ShaFile] = field(default_factory=dict)  # trees, commits: no secret
    objects: list[ShaFile] = field(default_factory=list)

    def new_id(self, oid: bytes) -> bytes:
        return self.tags.get(oid) or self.commits.get(oid) or oid

    def maps(self) -> dict[str, dict[bytes, bytes]]:
        """What changed, by kind, for the stored map (gitgate.mask.mapping)."""
        trees = {a: b for a, b in self.trees.items() if a != b}
        blobs = {a: b for a, b in self.blobs.items() if a != b}
        return {"commit": self.commits, "tree": trees, "blob": blobs, "tag": self.tags}


class Rewriter:
    """Rewrites objects of one push; memoizes per id, so refs sharing history share work."""

    def __init__(
        self,
        store: BaseObjectStore,
        upstream_has: Callable[[bytes], bool],
        secrets: Sequence[Secret],
        known: dict[bytes, bytes] | None = None,
    ) -> None:
        self.store = store
        self.upstream_has = upstream_has
        # longest first (a value inside another goes with it); for the same value, a named
        # type's marker over the generic entropy or keyword one
        self.secrets = sorted(secrets, key=lambda s: (-len(s.value), s.type in GENERIC))
        self.known = known or {}  # earlier masks of this repo: agent id -> upstream id
        self.out = Rewritten()

    def _add(self, obj: ShaFile) -> bytes:
        self.out.objects.append(obj)
        return obj.id

    def blob(self, oid: bytes) -> bytes:
        if oid in self.out.blobs:
            return self.out.blobs[oid]
        if oid in self.known:
            return self.known[oid]
        if self.upstream_has(oid):
            return oid
        data = self.store[ObjectID(oid)].as_raw_string()
        masked = apply(data, self.secrets)
        new = oid if masked == data else self._add(Blob.from_string(masked))
        self.out.blobs[oid] = new
        return new

    def tree(self, oid: bytes) -> bytes:
        if oid in self.out.trees:
            return self.out.trees[oid]
        if oid in self.known:
            return self.known[oid]
        if self.upstream_has(oid):
            return oid
        tree = self.store[ObjectID(oid)]
        assert isinstance(tree, Tree)
        new = Tree()
        changed = False
        for entry in tree.iteritems():
            sha: bytes = entry.sha
            if entry.mode & 0o170000 == 0o040000:
                sha = self.tree(entry.sha)
            elif entry.mode & 0o170000 in (0o100000, 0o120000):  # files and symlinks
                sha = self.blob(entry.sha)
            changed |= sha != entry.sha
            new.add(entry.path, entry.mode, ObjectID(sha))
        result = self._add(new) if changed else oid
        if changed:  # a tree holds names and ids, no content: the agent's own may be kept
            self.out.originals[oid] = tree
        self.out.trees[oid] = result
        return result

    def commits(self, commits: Sequence[Commit]) -> None:
        """Rewrite `commits` (any order): parents before children."""
        pending = {c.id: c for c in commits}
        order: list[Commit] = []
        seen: set[bytes] = set()
        for start in commits:  # iterative post-order: parents first
            stack: list[tuple[Commit, bool]] = [(start, False)]
            while stack:
                c, done = stack.pop()
                if done:
                    order.append(c)
                    continue
                if c.id in seen:
                    continue
                seen.add(c.id)
                stack.append((c, True))
                stack.extend((pending[p], False) for p in c.parents if p in pending)
        for c in order:
            self._commit(c)

    def _commit(self, c: Commit) -> None:
        parents = [self.out.commits.get(p) or self.known.get(p, p) for p in c.parents]
        tree = self.tree(c.tree)
        message = apply(c.message, self.secrets)
        if parents == c.parents and tree == c.tree and message == c.message:
            return
        new = c.copy()
        assert isinstance(new, Commit)
        new.parents = [ObjectID(p) for p in parents]
        new.tree = ObjectID(tree)
        new.message = message
        if message == c.message:  # kept for the agent's next thin pack (gitgate.mask.mapping)
            self.out.originals[c.id] = c
        if c.gpgsig:
            new.gpgsig = None
            self.out.unsigned.append(c.id)
        self.out.commits[c.id] = self._add(new)

    def tags(self, tags: Sequence[Tag]) -> None:
        """Rewrite annotated tags whose target or message changes (inner tags first)."""
        for tag in reversed(list(tags)):  # push.py lists a chain outermost first
            target_type, target = tag.object
            new_target = self.out.new_id(target)
            new_target = self.known.get(new_target, new_target)
            message = apply(tag.message, self.secrets)
            if new_target == target and message == tag.message:
                continue
            new = tag.copy()
            assert isinstance(new, Tag)
            new.object = (target_type, new_target)
            new.message = message
            if getattr(tag, "signature", None):
                new.signature = None
                self.out.unsigned.append(tag.id)
            self.out.tags[tag.id] = self._add(new)

    def flush(self) -> Rewritten:
        """Write the new objects into the quarantine, as one pack."""
        if self.out.objects:
            self.store.add_objects([(o, None) for o in self.out.objects])
        return self.out
