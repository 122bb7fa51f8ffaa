"""Which blobs the `lfs` check takes for Git LFS pointers (the git-lfs spec, v1)."""

from __future__ import annotations

from gitgate.checks.lfs import lfs_object


def test_lfs_pointer_recognition() -> None:
    oid = "a" * 64
    spec = b"version https://git-lfs.github.com/spec/v1\n"
    assert lfs_object(spec + f"oid sha256:{oid}\nsize 12\n".encode()) == oid
    ext = b"ext-0-foo sha256:" + b"b" * 64 + b"\n"  # extension lines precede the oid
    assert lfs_object(spec + ext + f"oid sha256:{oid}\nsize 1\n".encode()) == oid
    assert lfs_object(b"version https://hawser.github.com/spec/v1\noid sha256:" + b"c" * 64 + b"\n")
    assert lfs_object(b"# " + spec + f"oid sha256:{oid}\n".encode()) is None  # not at the start
    assert lfs_object(spec + b"oid sha256:short\n") is None
    assert lfs_object(spec + f"oid sha256:{oid}\n".encode() + b"x" * 1024) is None  # too big
