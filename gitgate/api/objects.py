"""Git objects for API writes, built with dulwich exactly as GitHub builds them.

A Contents API write becomes blob + trees + one commit on the branch tip; the push checks then
see it as they see a push. Trees are rebuilt path by path from the old tree, so a change deep
in the repository costs one tree per directory level, not a checkout.
"""

from __future__ import annotations

import base64
import binascii
import time
from typing import Any

from dulwich.object_store import BaseObjectStore
from dulwich.objects import Blob, Commit, ObjectID, Tree

FILE_MODE = 0o100644
DIR_MODE = 0o040000


class BadInput(ValueError):
    """The request cannot be turned into objects; the message is safe to show."""


def decode_content(value: Any, encoding: str = "base64") -> bytes:
    if not isinstance(value, str):
        raise BadInput("`content` must be a string")
    if encoding == "utf-8":
        return value.encode()
    try:
        return base64.b64decode(value, validate=False)
    except (binascii.Error, ValueError):
        raise BadInput("`content` is not valid base64") from None


def set_path(
    store: BaseObjectStore,
    tree_id: bytes | None,
    path: str,
    blob: bytes | None,
    mode: int | None = None,
) -> bytes:
    """The id of `tree_id` with `path` set to `blob` (None: removed), with `mode` (default:
    the existing file's, else 100644); raises KeyError when a removed path does not exist."""
    parts = [p for p in path.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts) or ".git" in parts:
        raise BadInput(f"invalid path {path!r}")
    return _set(store, tree_id, [p.encode() for p in parts], blob, mode)


def _set(
    store: BaseObjectStore,
    tree_id: bytes | None,
    parts: list[bytes],
    blob: bytes | None,
    mode: int | None = None,
) -> bytes:
    tree = Tree()
    if tree_id is not None:
        old = store[ObjectID(tree_id)]
        assert isinstance(old, Tree)
        for entry in old.iteritems():
            tree.add(entry.path, entry.mode, entry.sha)
    name = parts[0]
    existing = tree[name] if name in tree else None  # noqa: SIM401 - Tree has no .get
    if len(parts) == 1:
        if blob is None:
            if existing is None:
                raise KeyError(name)
            del tree[name]
        else:
            if mode is None:
                mode = existing[0] if existing and existing[0] != DIR_MODE else FILE_MODE
            tree.add(name, mode, ObjectID(blob))
    else:
        sub = existing[1] if existing and existing[0] == DIR_MODE else None
        if existing and existing[0] != DIR_MODE and blob is not None:
            raise BadInput(f"{name.decode()} is a file, not a directory")
        new_sub = _set(store, sub, parts[1:], blob, mode)
        sub_tree = store[ObjectID(new_sub)]
        assert isinstance(sub_tree, Tree)
        if len(sub_tree) == 0:
            del tree[name]
        else:
            tree.add(name, DIR_MODE, ObjectID(new_sub))
    store.add_object(tree)
    return tree.id


def person(value: Any, fallback: bytes) -> bytes:
    if isinstance(value, dict) and isinstance(value.get("name"), str) and value.get("email"):
        return f"{value['name']} <{value['email']}>".encode()
    return fallback


def content_commit(
    store: BaseObjectStore,
    parent: bytes,
    path: str,
    blob_data: bytes | None,
    data: dict[str, Any],
    fallback_person: bytes,
) -> bytes:
    """The commit a Contents API PUT (or DELETE, blob_data None) makes on `parent`."""
    message = data.get("message")
    if not isinstance(message, str) or not message:
        raise BadInput("`message` is required")
    committer = person(data.get("committer"), fallback_person)
    author = person(data.get("author"), committer)
    return changes_commit(store, parent, [(path, blob_data)], message, author, committer)


def changes_commit(
    store: BaseObjectStore,
    parent: bytes,
    changes: list[tuple[str, bytes | None]],
    message: str,
    author: bytes,
    committer: bytes,
) -> bytes:
    """One commit on `parent` writing (bytes) or deleting (None) each path in turn."""
    old = store[ObjectID(parent)]
    assert isinstance(old, Commit)
    tree: bytes = old.tree
    for path, data in changes:
        blob_id = None
        if data is not None:
            blob = Blob.from_string(data)
            store.add_object(blob)
            blob_id = blob.id
        try:
            tree = set_path(store, tree, path, blob_id)
        except KeyError:
            raise BadInput(f"{path} does not exist on that branch") from None
    commit = Commit()
    commit.tree = ObjectID(tree)
    commit.parents = [ObjectID(parent)]
    commit.committer, commit.author = committer, author
    commit.commit_time = commit.author_time = int(time.time())
    commit.commit_timezone = commit.author_timezone = 0
    commit.message = message.encode()
    store.add_object(commit)
    return commit.id


def mirror_ref(repo: Any, ref: str) -> bytes | None:
    """The id `ref` has in a dulwich Repo (the mirror: what upstream had at the last fetch)."""
    refs: dict[bytes, bytes] = {bytes(k): bytes(v) for k, v in repo.refs.as_dict().items()}
    return refs.get(ref.encode())
