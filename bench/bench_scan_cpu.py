"""CPU cost of the secret scan engine, in one process: MB of Python source per CPU second.

    .venv/bin/python bench/bench_scan_cpu.py
    # the same for another checkout's engine (e.g. main), to compare on a busy machine:
    git archive main gitgate | tar -x -C /tmp/main && PYTHONPATH=/tmp/main \\
        .venv/bin/python bench/bench_scan_cpu.py

Wall-clock MB/s (bench_scan.py) swings by 2x when other processes share the cores; CPU time
of a single process does not, so this is the figure to compare two versions with. The corpus
is bench_scan.py's (site-packages *.py up to --mb); the best of --runs runs is printed for
the prefilter's candidate search, the prefilter as a whole and the full engine.
"""

from __future__ import annotations

import argparse
import sys
import sysconfig
import time
from collections.abc import Callable
from pathlib import Path

import gitgate
from gitgate.scanning import engine

try:
    from gitgate.scanning.paths import scan_name
except ImportError:  # an engine from before paths.py: the worker saw "blob" + extension

    def scan_name(path: str) -> str:
        return "blob" + Path(path).suffix


def best(runs: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        started = time.process_time()
        work()
        times.append(time.process_time() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=float, default=21.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    root = Path(sysconfig.get_paths()["purelib"])
    files, total = [], 0
    for path in sorted(root.rglob("*.py")):
        data = path.read_bytes()
        files.append((str(path.relative_to(root)), data.decode("utf-8", "replace")))
        total += len(data)
        if total >= args.mb * 1_000_000:
            break
    prefilter = engine.configure().prefilter
    assert prefilter is not None, "prefilter disabled"
    cand = best(args.runs, lambda: [prefilter.candidates([x.rstrip() for x in t.split("\n")])
                                    for _, t in files])  # fmt: skip
    lines = best(args.runs, lambda: [prefilter.lines_to_scan(t.split("\n"), scan_name(p))
                                     for p, t in files])  # fmt: skip
    full = best(args.runs, lambda: [engine.scan_text(t, scan_name(p)) for p, t in files])
    mb = total / 1e6
    print(f"engine from {Path(gitgate.__file__).parent}, python {sys.version.split()[0]}")
    print("| corpus | candidates MB/CPU-s | prefilter MB/CPU-s | engine MB/CPU-s |")
    print("|---|---|---|---|")
    rates = " | ".join(f"{mb / seconds:.1f}" for seconds in (cand, lines, full))
    print(f"| {mb:.1f} MB, {len(files)} files | {rates} |")


if __name__ == "__main__":
    main()
