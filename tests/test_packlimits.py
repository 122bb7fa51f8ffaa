"""The pack pre-pass (gitgate/inspection/packlimits.py) over packs made by the real `git
pack-objects`."""

from __future__ import annotations

import io
import os
import subprocess
import zlib
from pathlib import Path

import pytest

from gitgate.inspection.packlimits import PackFormatError, PackLimitExceeded, check_pack
from tests.fixtures.upstream import git, git_env

MiB = 1024 * 1024


def _repo(tmp_path: Path, files: dict[str, bytes]) -> Path:
    work = tmp_path / "repo"
    git("init", "-q", str(work))
    for name, data in files.items():
        (work / name).write_bytes(data)
    git("add", ".", cwd=work)
    git("-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "-m", "c", cwd=work)
    return work


def _pack(work: Path, revs: str, *, thin: bool = False) -> io.BytesIO:
    args = ["git", "pack-objects", "--stdout", "--revs", *(["--thin"] if thin else [])]
    out = subprocess.run(
        args, cwd=work, env=git_env(), input=(revs + "\n").encode(), capture_output=True
    )
    assert out.returncode == 0, out.stderr
    return io.BytesIO(out.stdout)


def _sizes(work: Path) -> int:
    listing = git("cat-file", "--batch-all-objects", "--batch-check=%(objectsize)", cwd=work)
    return sum(int(n) for n in listing.stdout.split())


def test_total_is_the_sum_of_inflated_sizes(tmp_path: Path) -> None:
    work = _repo(tmp_path, {"a.txt": b"hello\n" * 1000, "b.bin": os.urandom(70_000)})
    pack = _pack(work, "HEAD")
    total = check_pack(pack, max_object_bytes=MiB, max_inflated_bytes=10 * MiB)
    assert total == _sizes(work)


def test_many_objects_across_read_buffers(tmp_path: Path) -> None:
    """Hundreds of entries, some spanning the 64 KiB read buffer: every boundary is found."""
    files = {f"f{i}.txt": f"line {i}\n".encode() * (i % 7 + 1) for i in range(400)}
    files.update({f"r{i}.bin": os.urandom(50_000 + i) for i in range(5)})
    work = _repo(tmp_path, files)
    assert check_pack(_pack(work, "HEAD"), max_object_bytes=MiB, max_inflated_bytes=MiB) == (
        _sizes(work)
    )


def test_big_blob_refused_from_its_header_before_inflating(
    tmp_path: Path, inflated: list[int]
) -> None:
    work = _repo(tmp_path, {"zeros.bin": bytes(64 * MiB)})
    pack = _pack(work, "HEAD")
    assert len(pack.getvalue()) < MiB  # a zip bomb: ~64 KB on the wire
    with pytest.raises(PackLimitExceeded) as err:
        check_pack(pack, max_object_bytes=MiB, max_inflated_bytes=10 * MiB)
    message = str(err.value)
    assert "a blob in the pack inflates to 67.1 MB" in message
    assert "storage.max_object_bytes" in message and "push again" in message
    # the commit and the tree may have been walked; not one byte past the limit was inflated
    assert sum(inflated) < MiB


def test_delta_result_refused_from_the_delta_header(tmp_path: Path) -> None:
    base = os.urandom(600_000)
    work = _repo(tmp_path, {"data.bin": base})
    # git deltas a blob against one at least half its size: this one becomes a tiny thin delta
    (work / "data.bin").write_bytes(base + base[:400_000])
    git("-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qam", "grow", cwd=work)
    pack = _pack(work, "HEAD\n^HEAD~1", thin=True)
    assert len(pack.getvalue()) < 100_000
    with pytest.raises(PackLimitExceeded, match=r"a delta in the pack builds an object of 1\.0 MB"):
        check_pack(pack, max_object_bytes=900_000, max_inflated_bytes=100 * MiB)
    pack.seek(0)
    assert check_pack(pack, max_object_bytes=MiB, max_inflated_bytes=100 * MiB) > 1_000_000


def test_many_small_objects_bounded_in_total(tmp_path: Path) -> None:
    files = {f"f{i}.bin": bytes([i]) * (512 * 1024) for i in range(16)}  # 8 MiB of runs
    pack = _pack(_repo(tmp_path, files), "HEAD")
    with pytest.raises(PackLimitExceeded, match=r"storage\.max_inflated_bytes"):
        check_pack(pack, max_object_bytes=MiB, max_inflated_bytes=4 * MiB)


@pytest.mark.parametrize("cut", [5, 12, 40, -30])
def test_truncated_or_corrupt_pack(tmp_path: Path, cut: int) -> None:
    work = _repo(tmp_path, {"a.txt": os.urandom(2000)})
    data = _pack(work, "HEAD").getvalue()
    with pytest.raises(PackFormatError, match="the pack is"):
        check_pack(io.BytesIO(data[:cut]), max_object_bytes=MiB, max_inflated_bytes=MiB)


def test_object_larger_than_its_header_is_corrupt() -> None:
    body = zlib.compress(b"x" * 100)
    entry = bytes([0x30 | 10]) + body  # a blob that claims 10 bytes, inflates to 100
    pack = b"PACK" + (2).to_bytes(4, "big") + (1).to_bytes(4, "big") + entry + bytes(20)
    with pytest.raises(PackFormatError, match="larger than its header"):
        check_pack(io.BytesIO(pack), max_object_bytes=MiB, max_inflated_bytes=MiB)
