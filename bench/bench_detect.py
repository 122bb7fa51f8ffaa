"""Detection quality and speed: recall, false-positive lines and MB/s, through SecretScanner.

    .venv/bin/python bench/bench_detect.py [--workers 2]

- recall: planted secrets found (a finding on the planted line) in the labelled corpus of
  tests/fixtures/secret_corpus.py (generated from the formats' public documentation), per
  confidence level of the finding;
- control: findings on that module's control files (placeholders, test values, hashes, lock
  files), which should be none;
- clean source: every text file of this virtualenv's site-packages (pip, setuptools, dulwich,
  cryptography, mypy, detect-secrets, ...): each finding there is a false positive; lines with
  one are counted, and those at high confidence;
- MB/s: the clean corpus scanned cold (no cache) with `--workers` worker processes.
Prints markdown for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import sysconfig
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gitgate.scanning import SecretScanner
from tests.fixtures import secret_corpus


def blob(path: str, data: bytes) -> tuple[bytes, str, bytes]:
    oid = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest().encode()
    return oid, path, data


def clean_corpus() -> list[tuple[bytes, str, bytes]]:
    root = Path(sysconfig.get_paths()["purelib"])
    blobs = []
    for f in sorted(root.rglob("*")):
        if not f.is_file() or "__pycache__" in f.parts or f.suffix in (".so", ".pyc"):
            continue
        data = f.read_bytes()
        if b"\0" not in data[:8000] and len(data) <= 2_000_000:
            blobs.append(blob(str(f.relative_to(root)), data))
    return blobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    scanner = SecretScanner(workers=args.workers, max_blob_bytes=2_000_000)
    scanner.scan([blob("warm.py", b"x = 1\n")], budget_s=60)

    files = secret_corpus.labelled()
    items = [blob(f.path, f.text.encode()) for f in files]
    hits = scanner.scan(items, budget_s=600)
    levels: Counter[str] = Counter()
    planted = 0
    for f, item in zip(files, items, strict=True):
        planted += len(f.planted)
        by_line = {h.line: h.confidence for h in hits[item[0]] if h.line in f.planted}
        levels.update(by_line.values())
    found = sum(levels.values())
    controls = [blob(path, text.encode()) for path, text in secret_corpus.control()]
    control_hits = sum(len(h) for h in scanner.scan(controls, budget_s=600).values())

    clean = clean_corpus()
    size = sum(len(b[2]) for b in clean)
    started = time.perf_counter()
    clean_hits = scanner.scan(clean, budget_s=3600)
    seconds = time.perf_counter() - started
    scanner.close()
    fp_lines = sum(len({h.line for h in found_}) for found_ in clean_hits.values())
    fp_high = sum(1 for found_ in clean_hits.values() for h in found_ if h.confidence == "high")
    fp_files = sum(1 for found_ in clean_hits.values() if found_)
    print(
        "| labelled recall | by level (high/medium/low) | control findings "
        "| clean source | FP lines (files) | FP high | workers | MB/s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    print(
        f"| {found}/{planted} = {found / planted:.0%} "
        f"| {levels['high']}/{levels['medium']}/{levels['low']} | {control_hits} "
        f"| {size / 1e6:.1f} MB, {len(clean)} files | {fp_lines} ({fp_files}) | {fp_high} "
        f"| {args.workers} | {size / 1e6 / seconds:.1f} |"
    )


if __name__ == "__main__":
    main()
