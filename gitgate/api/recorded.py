"""Objects agents create through the Git Data API, recorded so the ref update can be inspected.

GitHub creates blobs, trees and commits before any ref moves, and the gate cannot fetch
unreachable objects back. So the gate rebuilds each object from the request (and, for commits,
from upstream's answer: dates and the default identity are upstream's) and keeps it only if
its id equals the one upstream returned. These objects are NOT put in the mirror: the mirror
means "upstream's branches have it" and new-commit walks stop there, so a commit recorded here
and later pointed at by a ref update is copied into that update's quarantine and inspected in
full. An object the gate could not rebuild exactly is simply missing, and the ref update that
needs it is refused (fail closed).
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from pathlib import Path
from typing import Any

from dulwich.object_store import DiskObjectStore
from dulwich.objects import Blob, Commit, ObjectID, ShaFile, Tag, Tree

from gitgate.api.objects import BadInput, decode_content, set_path
from gitgate.git.mirror import Mirrors, file_lock
from gitgate.git.quarantine import Quarantine

MODES = {"100644", "100755", "040000", "160000", "120000"}
MAX_WALK = 100_000


class RecordedObjects:
    """`{data_dir}/api-objects/{owner}/{repo}.objects`, borrowing the mirror's objects."""

    def __init__(self, data_dir: Path, mirrors: Mirrors) -> None:
        self.root = data_dir / "api-objects"
        self.mirrors = mirrors

    def store(self, repo: str) -> DiskObjectStore:
        path = self.root / f"{repo}.objects"
        mirror = self.mirrors.ensure(repo) / "objects"
        with file_lock(self.root / f"{repo}.lock"):
            if not (path / "info").is_dir():
                path.parent.mkdir(parents=True, exist_ok=True)
                DiskObjectStore.init(str(path)).close()
                (path / "info" / "alternates").write_text(f"{mirror}\n")
        return DiskObjectStore(str(path))

    def build(self, repo: str, kind: str, request: dict[str, Any], answer: Any) -> bool:
        """Rebuild the object upstream created (`kind`: blobs, trees, commits, tags) and keep
        it when the ids agree; False when they do not (the object stays unrecorded)."""
        if not isinstance(answer, dict) or not isinstance(answer.get("sha"), str):
            return False
        store = self.store(repo)
        try:
            try:
                obj = _rebuild(store, kind, request, answer)
            except KeyError:  # a base tree the mirror has not fetched yet: fetch once
                self.mirrors.fetch(repo)
                obj = _rebuild(store, kind, request, answer)
            if obj is None or obj.id.decode() != answer["sha"]:
                return False
            store.add_object(obj)
            return True
        except (BadInput, KeyError, ValueError, TypeError, AttributeError):
            return False
        finally:
            with contextlib.suppress(Exception):
                store.close()

    def copy_into(self, repo: str, q: Quarantine, new: bytes) -> None:
        """Copy what `new` reaches and the mirror lacks from the record into quarantine `q`."""
        store = self.store(repo)
        try:
            todo: list[bytes] = [new]
            seen: set[bytes] = set()
            while todo and len(seen) < MAX_WALK:
                oid = todo.pop()
                if oid in seen or ObjectID(oid) in q.mirror_store:
                    continue
                seen.add(oid)
                if ObjectID(oid) not in store:
                    continue  # not recorded: build_push will find it missing and refuse
                obj = store[ObjectID(oid)]
                q.store.add_object(obj)
                if isinstance(obj, Commit):
                    todo.extend([obj.tree, *obj.parents])
                elif isinstance(obj, Tree):
                    todo.extend(e.sha for e in obj.iteritems() if e.mode != 0o160000)
                elif isinstance(obj, Tag):
                    todo.append(obj.object[1])
        finally:
            store.close()


def _rebuild(
    store: DiskObjectStore, kind: str, req: dict[str, Any], ans: dict[str, Any]
) -> ShaFile | None:
    if kind == "blobs":
        return Blob.from_string(decode_content(req.get("content"), req.get("encoding") or "utf-8"))
    if kind == "trees":
        return _tree(store, req)
    if kind == "commits":
        return _commit(ans)
    if kind == "tags":
        return _tag(ans)
    return None


def _tree(store: DiskObjectStore, req: dict[str, Any]) -> Tree:
    base = req.get("base_tree")
    tree_id: bytes | None = base.encode() if isinstance(base, str) else None
    if tree_id is None:
        empty = Tree()
        store.add_object(empty)
        tree_id = empty.id
    for entry in req.get("tree") or []:
        mode, path = str(entry["mode"]), str(entry["path"])
        if mode not in MODES:
            raise BadInput(f"mode {mode}")
        if "content" in entry and isinstance(entry["content"], str):
            blob = Blob.from_string(entry["content"].encode())
            store.add_object(blob)
            sha: bytes | None = blob.id
        else:
            sha = entry["sha"].encode() if entry.get("sha") else None
        tree_id = set_path(store, tree_id, path, sha, int(mode, 8))
    obj = store[ObjectID(tree_id)]
    assert isinstance(obj, Tree)
    return obj


def _when(value: str) -> int:
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())


def _tag(ans: dict[str, Any]) -> Tag:
    t = Tag()
    kinds = {"commit": Commit, "tree": Tree, "blob": Blob, "tag": Tag}
    t.object = (kinds[ans["object"]["type"]], ObjectID(ans["object"]["sha"].encode()))
    t.name = str(ans["tag"]).encode()
    who = ans["tagger"]
    t.tagger = f"{who['name']} <{who['email']}>".encode()
    t.tag_time, t.tag_timezone = _when(who["date"]), 0
    t.message = str(ans["message"]).encode()
    return t


def _commit(ans: dict[str, Any]) -> Commit:
    c = Commit()
    c.tree = ObjectID(ans["tree"]["sha"].encode())
    c.parents = [ObjectID(p["sha"].encode()) for p in ans.get("parents") or []]
    a, m = ans["author"], ans["committer"]
    c.author = f"{a['name']} <{a['email']}>".encode()
    c.committer = f"{m['name']} <{m['email']}>".encode()
    c.author_time, c.commit_time = _when(a["date"]), _when(m["date"])
    c.author_timezone = c.commit_timezone = 0
    c.message = str(ans["message"]).encode()
    return c
