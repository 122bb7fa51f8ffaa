"""How long the README's two-minute try-out really takes: `gitgate try` to "ready", then the
agent's and reviewer's commands (the README's own lines, as tests/test_readme_tryout.py runs
them), repeated. Wall-clock seconds; the aim is the issue's "two minutes" for a human who
also reads, so the machine's part should be a small fraction of it."""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.fixtures.service import GateProcess, base_env
from tests.test_readme_tryout import readme_blocks, run_lines


def one_run(tmp: Path) -> tuple[float, float]:
    (tmp / ".venv").symlink_to(Path(sys.prefix))
    (tmp / "home").mkdir()
    env = base_env(HOME=str(tmp / "home"), GIT_TERMINAL_PROMPT="0")
    terminal1, terminal2 = readme_blocks()
    t0 = time.monotonic()
    gate = GateProcess(["bash", "-c", terminal1], {**env, "GITGATE_TRY_BIND": "127.0.0.1:0"}, tmp)
    gate.start()
    try:
        if not gate.wait_for_log(lambda lines: "gitgate try: ready" in lines, timeout=120):
            raise SystemExit(f"gitgate try did not get ready:\n{gate.log_text()}")
        ready = time.monotonic() - t0
        t1 = time.monotonic()
        lines = [x for x in terminal2.splitlines() if x.strip()]
        run_lines(lines, tmp, env)
        walk = time.monotonic() - t1
    finally:
        if gate.proc is not None and gate.proc.poll() is None:
            os.killpg(gate.proc.pid, signal.SIGTERM)
        gate.wait_for_log(lambda lines: any("gitgate try: stopped" in x for x in lines))
        gate.stop()
    return ready, walk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    readies, walks = [], []
    for _ in range(args.reps):
        with tempfile.TemporaryDirectory(prefix="gg-try-bench-") as tmp:
            ready, walk = one_run(Path(tmp))
        readies.append(ready)
        walks.append(walk)
        print(f"try -> ready {ready:.2f} s; walk-through {walk:.2f} s", flush=True)
    print(
        f"median: try -> ready {statistics.median(readies):.2f} s (min {min(readies):.2f}); "
        f"walk-through {statistics.median(walks):.2f} s (min {min(walks):.2f})"
    )


if __name__ == "__main__":
    main()
