"""What the `lfs` check adds to a push: time to look at every new blob for an LFS pointer.

    .venv/bin/python bench/bench_lfs.py [--mb 21] [--reps 5]

The corpus is the virtualenv's own site-packages (*.py, sorted, until --mb is reached) plus
four 5 MB binary blobs, packed into a fresh on-disk object store (dulwich, as a push's
quarantine is) with 100 LFS pointers among them. One ref update adds every blob. Prints the
median time of the check over --reps runs, next to the median time of just reading every
blob once (what any content check pays), both in seconds and MB/s.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dulwich.object_store import DiskObjectStore
from dulwich.objects import Blob

from gitgate.checks.base import CheckContext
from gitgate.checks.lfs import LfsPointers
from gitgate.config import Config, Rule
from gitgate.git.wire import Command
from gitgate.inspection.push import FileChange, Push, RefUpdate


def corpus(limit: int) -> list[tuple[str, bytes]]:
    root = Path(sysconfig.get_paths()["purelib"])
    files, total = [], 0
    for path in sorted(root.rglob("*.py")):
        data = path.read_bytes()
        files.append((str(path.relative_to(root)), data))
        total += len(data)
        if total >= limit:
            break
    files += [(f"assets/big{i}.bin", os.urandom(5_000_000)) for i in range(4)]
    for i in range(100):
        oid = hashlib.sha256(b"%d" % i).hexdigest()
        spec = "version https://git-lfs.github.com/spec/v1"
        files.append((f"lfs/{i}.bin", f"{spec}\noid sha256:{oid}\nsize {i}\n".encode()))
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=float, default=21.0)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    files = corpus(int(args.mb * 1_000_000))
    with tempfile.TemporaryDirectory() as tmp:
        store = DiskObjectStore.init(tmp)
        blobs = [(Blob.from_string(data), path) for path, data in files]
        store.add_objects([(b, p) for b, p in blobs])
        commit = b"1" * 40
        update = RefUpdate(Command(b"0" * 40, commit, b"refs/heads/main"))
        update.changes = [
            FileChange("add", path, None, None, blob.id, 0o100644, commit) for blob, path in blobs
        ]
        push = Push("bench/lfs", [update], store, lambda _oid: False, [], 0)
        rules = {"refs/heads/main": Rule(name="bench")}
        ctx = CheckContext(Config())
        check, read = [], []
        for _ in range(args.reps):
            store = DiskObjectStore(tmp)  # cold object cache per run, as per push
            push.store = store
            started = time.perf_counter()
            [verdict] = LfsPointers().run(push, rules, ctx)
            check.append(time.perf_counter() - started)
            started = time.perf_counter()
            for blob, _ in blobs:
                store[blob.id].as_raw_string()
            read.append(time.perf_counter() - started)
        assert len(verdict.findings) == 100, len(verdict.findings)
    mb = sum(len(d) for _, d in files) / 1e6
    c, r = statistics.median(check), statistics.median(read)
    print("| blobs | MB | lfs check s (MB/s) | read every blob once s (MB/s) |")
    print("|---|---|---|---|")
    print(f"| {len(files)} | {mb:.1f} | {c:.3f} ({mb / c:.0f}) | {r:.3f} ({mb / r:.0f}) |")


if __name__ == "__main__":
    main()
