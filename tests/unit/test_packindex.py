"""The one-read pack indexer (gitgate/inspection/packindex.py) over packs made by the real git:
limits
before inflation, delta chains, thin packs completed in place, corrupt and truncated packs."""

from __future__ import annotations

import hashlib
import os
import subprocess
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from dulwich.object_store import DiskObjectStore
from dulwich.objects import ObjectID
from dulwich.pack import UnresolvedDeltas

from gitgate.inspection import packindex, packlimits
from gitgate.inspection.packcache import PackCache
from gitgate.inspection.packindex import index_in_place
from gitgate.inspection.packlimits import PackFormatError, PackLimitExceeded
from tests.fixtures.upstream import git, git_env

MiB = 1024 * 1024


def _commit(work: Path, files: dict[str, bytes], message: str = "c") -> str:
    for name, data in files.items():
        (work / name).write_bytes(data)
    git("add", ".", cwd=work)
    git("-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "-m", message, cwd=work)
    return git("rev-parse", "HEAD", cwd=work).stdout.strip()


def _repo(tmp_path: Path, files: dict[str, bytes]) -> Path:
    work = tmp_path / "repo"
    git("init", "-q", str(work))
    _commit(work, files)
    return work


def _pack(work: Path, revs: str, *, thin: bool = False, extra: list[str] | None = None) -> bytes:
    args = ["git", "pack-objects", "--stdout", "--revs", *(["--thin"] if thin else [])]
    out = subprocess.run(
        [*args, *(extra or [])],
        cwd=work,
        env=git_env(),
        input=(revs + "\n").encode(),
        capture_output=True,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DiskObjectStore]:
    """An empty object store (a quarantine with nothing borrowed)."""
    git("init", "--bare", "-q", str(tmp_path / "q"))
    s = DiskObjectStore(str(tmp_path / "q" / "objects"))
    yield s
    s.close()


def _index(
    store: DiskObjectStore,
    data: bytes,
    path: Path,
    *,
    limit: int = 0,
    sizes: dict[bytes, int] | None = None,
) -> Path:
    path.write_bytes(data)
    with open(path, "r+b") as f:
        return index_in_place(
            store, f, path, max_object_bytes=limit, max_inflated_bytes=limit, blob_sizes=sizes
        )


def _ids(work: Path) -> set[str]:
    out = git("cat-file", "--batch-all-objects", "--batch-check=%(objectname)", cwd=work)
    return set(out.stdout.split())


@pytest.mark.parametrize("cached", [True, False], ids=["bases-cached", "walker"])
def test_a_pack_with_deltas_is_indexed_as_git_would(
    store: DiskObjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cached: bool
) -> None:
    if not cached:  # no base kept while reading: every delta is dulwich's walker's
        monkeypatch.setattr(packindex, "KEEP_BYTES", 0)
    text = os.urandom(4000).hex().encode()
    work = _repo(tmp_path, {"a.txt": text})
    for i in range(6):  # the older versions become deltas on the newest
        _commit(work, {"a.txt": text + b"line %d\n" % i * (i + 1)}, f"v{i}")
    data = _pack(work, "HEAD", extra=["--depth=50"])
    sizes: dict[bytes, int] = {}
    target = _index(store, data, tmp_path / "in.pack", sizes=sizes)
    assert target.read_bytes() == data  # a whole pack is indexed as it is, not rewritten
    for oid in _ids(work):
        assert ObjectID(oid.encode()) in store
    verify = git("verify-pack", "-v", str(target.with_suffix(".idx")), cwd=tmp_path)
    assert "chain length = 1: 6 objects" in verify.stdout
    fmt = "--batch-check=%(objectname) %(objecttype) %(objectsize)"
    listing = git("cat-file", "--batch-all-objects", fmt, cwd=work).stdout.split("\n")
    expected = {o.encode(): int(n) for o, t, n in (x.split() for x in listing if x) if t == "blob"}
    assert sizes == expected and len(sizes) == 7  # whole and built blobs alike


@pytest.mark.parametrize("cached", [True, False], ids=["bases-cached", "walker"])
def test_the_read_keeps_each_small_blob_and_commit_it_read(
    store: DiskObjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cached: bool
) -> None:
    """Whole, built during the read and built by dulwich's walker alike, byte for byte what
    git has; a blob over the per-blob bound is not kept (the checks read it from the store)."""
    if not cached:
        monkeypatch.setattr(packindex, "KEEP_BYTES", 0)
    text = os.urandom(1000).hex().encode()  # 2,000 bytes: deltas on each other, kept
    big = os.urandom(3000)
    work = _repo(tmp_path, {"a.txt": text, "big.bin": big})
    for i in range(4):
        _commit(work, {"a.txt": text + b"line %d\n" % i * (i + 1)}, f"v{i}")
    data = _pack(work, "HEAD", extra=["--depth=50"])
    path = tmp_path / "in.pack"
    path.write_bytes(data)
    cache = PackCache(max_blob=2500)
    with open(path, "r+b") as f:
        index_in_place(store, f, path, max_object_bytes=0, max_inflated_bytes=0, cache=cache)
    fmt = "--batch-check=%(objectname) %(objecttype) %(objectsize)"
    listing = git("cat-file", "--batch-all-objects", fmt, cwd=work).stdout.split("\n")
    small = [o for o, t, n in (x.split() for x in listing if x) if t == "blob" and int(n) <= 2500]
    # with no base kept the read holds no whole blob either: only the 4 built ones are kept
    kept = [oid for oid in small if cache.blob(oid.encode()) is not None]
    assert len(small) == 5 and len(kept) == (5 if cached else 4)
    for oid in kept:
        assert cache.blob(oid.encode()) == git("cat-file", "blob", oid, cwd=work).stdout.encode()
    big_id = git("rev-parse", "HEAD:big.bin", cwd=work).stdout.strip().encode()
    assert cache.blob(big_id) is None
    log = git("log", "--format=%H %P", "HEAD", cwd=work).stdout.splitlines()
    assert cache.count == len(kept) + len(log) == len(kept) + 5
    for line in log:  # every commit as the validation parsed it, with git's id and parents
        oid, *parents = line.split()
        commit = cache.commit(oid.encode())
        assert commit is not None and commit.id == oid.encode()
        assert commit.parents == [p.encode() for p in parents]


def test_a_thin_pack_is_completed_in_place_from_the_store(
    store: DiskObjectStore, tmp_path: Path
) -> None:
    base = os.urandom(600_000)
    work = _repo(tmp_path, {"data.bin": base})
    old = _pack(work, "HEAD")
    _commit(work, {"data.bin": base + b"more"}, "grow")
    thin = _pack(work, "HEAD\n^HEAD~1", thin=True)
    assert len(thin) < 10_000  # the new blob is a delta on one the pack does not hold
    with pytest.raises(UnresolvedDeltas):  # the base is nowhere: the caller fetches, retries
        _index(store, thin, tmp_path / "thin.pack")
    assert (tmp_path / "thin.pack").read_bytes() == thin  # untouched by the failed attempt
    _index(store, old, tmp_path / "old.pack")  # now the store has the base
    target = _index(store, thin, tmp_path / "thin.pack")
    assert target.samefile(tmp_path / "thin.pack")  # linked, not copied
    completed = target.read_bytes()
    assert completed[12:-20].startswith(thin[12:-20]) and len(completed) > len(thin)
    assert git("verify-pack", str(target.with_suffix(".idx")), cwd=tmp_path).returncode == 0
    assert ObjectID(git("rev-parse", "HEAD:data.bin", cwd=work).stdout.strip().encode()) in store


def test_limits_are_refused_from_the_headers_before_inflating(
    store: DiskObjectStore, tmp_path: Path, inflated: list[int]
) -> None:
    work = _repo(tmp_path, {"zeros.bin": bytes(64 * MiB)})
    data = _pack(work, "HEAD")
    with pytest.raises(PackLimitExceeded, match=r"a blob in the pack inflates to 67\.1 MB"):
        _index(store, data, tmp_path / "bomb.pack", limit=MiB)
    assert sum(inflated) < MiB
    assert list(Path(store.pack_dir).iterdir()) == []  # nothing entered the store


def test_a_corrupt_pack_is_refused_and_not_linked(store: DiskObjectStore, tmp_path: Path) -> None:
    work = _repo(tmp_path, {"a.txt": os.urandom(3000)})
    data = bytearray(_pack(work, "HEAD"))
    data[-25] ^= 0xFF  # inside the last object's compressed data
    with pytest.raises((PackFormatError, zlib.error)):
        _index(store, bytes(data), tmp_path / "bad.pack")
    data = bytearray(_pack(work, "HEAD"))
    data[-1] ^= 0xFF  # the checksum
    with pytest.raises(PackFormatError, match="checksum"):
        _index(store, bytes(data), tmp_path / "bad.pack")
    assert list(Path(store.pack_dir).iterdir()) == []


def test_a_malformed_tree_is_refused(store: DiskObjectStore, tmp_path: Path) -> None:
    body = b"100644 a.txt"  # no NUL, no id: not a tree
    entry = bytes([0x20 | len(body)]) + zlib.compress(body)
    head = b"PACK" + (2).to_bytes(4, "big") + (1).to_bytes(4, "big")
    data = head + entry
    data += hashlib.sha1(data).digest()
    with pytest.raises(PackFormatError, match="a malformed tree"):
        _index(store, data, tmp_path / "tree.pack")


@pytest.mark.parametrize("cut", [5, 12, 40, -30, -5])
def test_a_truncated_pack_is_refused(store: DiskObjectStore, tmp_path: Path, cut: int) -> None:
    work = _repo(tmp_path, {"a.txt": os.urandom(2000)})
    data = _pack(work, "HEAD")
    with pytest.raises(PackFormatError, match="the pack is"):
        _index(store, data[:cut], tmp_path / "cut.pack")


def test_bytes_after_the_trailer_are_refused(store: DiskObjectStore, tmp_path: Path) -> None:
    """As git's index-pack does ("pack has junk at the end"): upstream would refuse them."""
    work = _repo(tmp_path, {"a.txt": b"hello\n"})
    with pytest.raises(PackFormatError, match="data after its end"):
        _index(store, _pack(work, "HEAD") + b"junk", tmp_path / "junk.pack")
    assert list(Path(store.pack_dir).iterdir()) == []


def test_the_checksum_holds_wherever_a_read_ends_in_the_trailer(
    store: DiskObjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pack is read a buffer at a time; a buffer that ends inside the 20-byte trailer must
    not sum the trailer's first bytes into the checksum it is compared with (a valid push was
    refused as corrupt whenever git's pack happened to end that way)."""
    work = _repo(tmp_path, {"a.txt": b"hello\n" * 50, "b.txt": os.urandom(300)})
    data = _pack(work, "HEAD")
    for split in range(1, 20):  # a read ends `split` bytes into the trailer
        monkeypatch.setattr(packlimits, "READ", len(data) - 20 + split)
        with open(tmp_path / "p.pack", "wb") as f:
            f.write(data)
        with open(tmp_path / "p.pack", "rb") as f:
            scan = packlimits.scan_pack(
                f,
                max_object_bytes=0,
                max_inflated_bytes=0,
                new_hash=hashlib.sha1,
            )
        assert scan.checksum == data[-20:] and scan.end == len(data), split


def test_a_thin_packs_outside_bases_are_read_once_and_offered_to_the_push(
    store: DiskObjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Resolving the deltas, completing the pack and the secrets check's read of the old
    side all want the same outside base: the store is asked for it once."""
    base = b"".join(b"line %d of a source file\n" % i for i in range(4000))
    work = _repo(tmp_path, {"app.py": base})
    _index(store, _pack(work, "HEAD"), tmp_path / "old.pack")
    _commit(work, {"app.py": base + b"new = 1\n"}, "edit")
    thin = _pack(work, "HEAD\n^HEAD~1", thin=True)
    old_id = git("rev-parse", "HEAD~1:app.py", cwd=work).stdout.strip().encode()
    asked: list[bytes] = []
    real = DiskObjectStore.get_raw

    def counting(self: DiskObjectStore, oid: bytes) -> tuple[int, bytes]:
        asked.append(oid if len(oid) == 40 else oid.hex().encode())
        return real(self, oid)  # type: ignore[arg-type]

    monkeypatch.setattr(DiskObjectStore, "get_raw", counting)
    cache = PackCache()
    (tmp_path / "thin.pack").write_bytes(thin)
    with open(tmp_path / "thin.pack", "r+b") as f:
        target = index_in_place(
            store,
            f,
            tmp_path / "thin.pack",
            max_object_bytes=0,
            max_inflated_bytes=0,
            cache=cache,
        )
    assert asked.count(old_id) == 1
    assert cache.blob(old_id) == base  # the old side, for the secrets check
    assert git("verify-pack", str(target.with_suffix(".idx")), cwd=tmp_path).returncode == 0
