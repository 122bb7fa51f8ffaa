"""Throughput of SecretScanner.scan over >= 20 MB of real Python source, and peak memory.

    .venv/bin/python bench/bench_scan.py [--mb 21] [--workers 2]

The corpus is the virtualenv's own site-packages (*.py, sorted, until --mb is reached), each
file one blob. Prints one markdown table row (with the header). The pool is started and warmed
before timing, so the figure is steady-state scanning, as inside a running gate.

Peak RSS: the parent's from getrusage(RUSAGE_SELF); the workers' from /proc/<pid>/status
VmHWM read just before they stop. getrusage(RUSAGE_CHILDREN) is printed too but undercounts:
the workers are children of the fork server, which outlives this process's measurement.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import resource
import sys
import sysconfig
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gitgate.scanning import SecretScanner


def corpus(limit: int) -> list[tuple[bytes, str, bytes]]:
    root = Path(sysconfig.get_paths()["purelib"])
    blobs, total = [], 0
    for path in sorted(root.rglob("*.py")):
        data = path.read_bytes()
        blob_id = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest().encode()
        blobs.append((blob_id, str(path.relative_to(root)), data))
        total += len(data)
        if total >= limit:
            break
    return blobs


def worker_peak_kib() -> list[int]:
    peaks = []
    for child in multiprocessing.active_children():
        status = Path(f"/proc/{child.pid}/status")
        for line in status.read_text().splitlines() if status.exists() else []:
            if line.startswith("VmHWM:"):
                peaks.append(int(line.split()[1]))
    return peaks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=float, default=21.0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    blobs = corpus(int(args.mb * 1_000_000))
    size = sum(len(data) for _, _, data in blobs)
    lines = sum(data.count(b"\n") for _, _, data in blobs)
    scanner = SecretScanner(workers=args.workers, max_blob_bytes=size)
    scanner.scan([(b"warm-up", "warm.py", b"x = 1\n")], budget_s=60)
    started = time.perf_counter()
    hits = scanner.scan(blobs, budget_s=3600)
    seconds = time.perf_counter() - started
    started = time.perf_counter()
    scanner.scan(blobs, budget_s=60)
    cached = time.perf_counter() - started
    workers_kib = worker_peak_kib()
    scanner.close()
    self_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    findings = sum(len(found) for found in hits.values())
    print(
        "| corpus | files | lines | workers | seconds | MB/s | findings | cached rescan s "
        "| peak RSS parent MB | peak RSS per worker MB | RUSAGE_CHILDREN MB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {size / 1e6:.1f} MB site-packages *.py | {len(blobs)} | {lines} | {args.workers} "
        f"| {seconds:.2f} | {size / 1e6 / seconds:.1f} | {findings} | {cached:.3f} "
        f"| {self_kib / 1024:.0f} | {max(workers_kib, default=0) / 1024:.0f} "
        f"| {children_kib / 1024:.0f} |"
    )


if __name__ == "__main__":
    main()
