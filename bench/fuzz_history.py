"""The differential test of changed paths, longer: many seeds of random real-shaped histories.

    .venv/bin/python bench/fuzz_history.py [--seeds 50] [--first 1000] [--histories 60]

Each seed is one repository of `--histories` random histories (tests/fixtures/histories.py);
every commit's changes as the gate computes them are compared with git's per-parent diffs
(tests/fixtures/differential.py). Prints a line per seed and exits non-zero on the first
difference, naming the seed and the commits, so `tests/test_history_diff.py` can be pointed
at it. Seeds start at 1000 so they do not repeat the CI test's.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fixtures.differential import differences, make_repo
from tests.fixtures.histories import generate


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="gate changes vs git diff-tree, random histories")
    p.add_argument("--seeds", type=int, default=50)
    p.add_argument("--first", type=int, default=1000)
    p.add_argument("--histories", type=int, default=60)
    p.add_argument("--commits", type=int, default=30, help="at most, per history")
    args = p.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="gitgate-fuzz-history-"))
    total = merges = 0
    started = time.perf_counter()
    try:
        for seed in range(args.first, args.first + args.seeds):
            repo = make_repo(root / f"s{seed}.git", generate(seed, args.histories, args.commits))
            n, m, wrong = differences(repo)
            total, merges = total + n, merges + m
            print(f"seed {seed}: {n} commits, {m} merges, {len(wrong)} different", flush=True)
            if wrong:
                print(f"DIFFERENT at seed {seed}: {[c.decode() for c in wrong[:10]]}")
                return 1
            shutil.rmtree(repo)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    took = time.perf_counter() - started
    print(f"{args.seeds} seeds, {total} commits ({merges} merges): all equal, {took:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
