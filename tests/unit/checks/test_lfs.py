"""gitgate.checks.lfs: new Git LFS pointers whose objects never went through the gate."""

from __future__ import annotations

from gitgate.checks.base import Verdict
from gitgate.checks.lfs import LfsPointers, lfs_object
from gitgate.inspection.push import Push
from tests.unit.factories import REF, Repo, context, load_config, make_push, rules_for, update

OID = "4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393"
POINTER = (
    b"version https://git-lfs.github.com/spec/v1\noid sha256:" + OID.encode() + b"\nsize 12345\n"
)


def run(push: Push) -> list[Verdict]:
    cfg = load_config()
    return LfsPointers().run(push, rules_for(push, cfg.rule[0]), context(cfg))


def seeded() -> tuple[Repo, bytes]:
    repo = Repo()
    base = repo.commit({"README.md": b"# app\n"})
    repo.publish(base)
    return repo, base


def test_what_a_pointer_is() -> None:
    assert lfs_object(POINTER) == OID
    assert (
        lfs_object(b"version https://hawser.github.com/spec/v1\noid sha256:" + OID.encode() + b"\n")
        == OID
    )
    assert lfs_object(POINTER.replace(b"sha256:", b"sha1:")) is None
    assert lfs_object(POINTER + b"x" * 1024) is None  # the spec: pointers are under 1024 bytes
    assert lfs_object(b"# " + POINTER) is None


def test_a_new_pointer_is_a_finding_with_its_blob() -> None:
    repo, base = seeded()
    tip = repo.commit({"assets/logo.png": POINTER, "src/a.py": b"x = 1\n"}, parents=[base])
    (v,) = run(make_push(repo, update(REF, base, tip)))
    assert not v.passed
    assert v.reason == "Git LFS pointers without their objects: assets/logo.png"
    (f,) = v.findings
    assert f.message == (
        f"Git LFS pointer to object sha256:{OID[:12]}, which was not uploaded through the gate"
    )
    assert (f.path, f.type, f.commit) == ("assets/logo.png", "Git LFS pointer", tip.decode())
    assert f.blob == repo.files[tip][b"assets/logo.png"][0].decode()
    assert set(f.record()) == {"check", "ref", "commit", "path", "type"}


def test_a_pointer_upstream_already_has_is_not_blamed_on_the_push() -> None:
    repo, base = seeded()
    old = repo.commit({"assets/logo.png": POINTER}, parents=[base])
    repo.publish(old)
    moved = repo.commit({"assets/logo.png": None, "img/logo.png": POINTER}, parents=[old])
    (v,) = run(make_push(repo, update(REF, old, moved)))
    assert v.passed and v.findings == []


def test_an_update_without_new_content_gets_no_verdict() -> None:
    repo, base = seeded()
    gone = repo.commit({"README.md": None}, parents=[base])
    assert run(make_push(repo, update(REF, base, gone))) == []
    assert run(make_push(repo, update(REF, base, None))) == []


def test_a_blob_the_unpack_knows_is_too_big_for_a_pointer_is_not_read() -> None:
    repo, base = seeded()
    big = b"x" * 2048
    tip = repo.commit({"data.bin": big, "assets/logo.png": POINTER}, parents=[base])
    push = make_push(repo, update(REF, base, tip))
    big_id = repo.files[tip][b"data.bin"][0]
    read: list[bytes] = []
    real = push.blob

    def blob(blob_id: bytes) -> object:
        read.append(blob_id)
        return real(blob_id)

    push.blob = blob  # type: ignore[method-assign]
    push.blob_sizes[big_id] = len(big)  # as gitgate.inspection.packindex reports it
    (v,) = run(push)
    assert big_id not in read and read  # the pointer is still read, and found
    assert [f.path for f in v.findings] == ["assets/logo.png"]
