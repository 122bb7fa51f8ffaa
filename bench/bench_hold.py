"""Held pushes (`git push -o gitgate.wait=`): how soon an approval ends the push, and what
held pushes cost a clone served alongside them.

The real gate (`gitgate serve`, gunicorn gthread, one worker, SQLite) in front of the tests'
streaming upstream; reviewers are `gitgate review approve` processes. Numbers:

- **approval -> push exit**: from the approving CLI's exit (it has relayed upstream by then)
  to the held `git push` exiting 0. The held push polls the queue row every second, so this
  is the poll interval plus the report, whichever instance approved.
- **clone with N held**: a clone of the same repo while N pushes are held, vs while none are.

Run: `.venv/bin/python bench/bench_hold.py [--reps 5] [--held 3]`.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.fixtures.gate import UPSTREAM_TOKEN_ENV, write_config
from tests.fixtures.service import GateProcess, base_env, cli, serve_argv
from tests.fixtures.upstream import UpstreamServer, commit, git, git_env

RULE = [
    {
        "name": "prod-review",
        "protected_paths": ["deploy/**"],
        "reviewers": ["maintainers"],
        "actions": {"protected_paths": "queue"},
    }
]
REVIEW = ("--as", "alice", "--group", "maintainers")


def pending(db: Path) -> list[int]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT id FROM queued_push WHERE state = 'pending' ORDER BY id")
        return [int(r[0]) for r in rows]


def until(condition: object, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SystemExit("bench: timed out")
        time.sleep(0.01)


def push(work: Path, branch: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["git", "push", "-o", "gitgate.wait=120s", "origin", f"HEAD:{branch}"],
        cwd=work,
        env={**os.environ, **git_env()},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def timed_clone(url: str, dest: Path) -> float:
    started = time.monotonic()
    git("clone", "-q", "--bare", url, str(dest))
    return time.monotonic() - started


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--held", type=int, default=3)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="gg-bench-hold-") as tmp:
        root = Path(tmp)
        upstream = UpstreamServer(root / "up", token="bench-upstream-token").start()
        bare = upstream.create_repo("acme/app")
        seed = root / "seed"
        git("clone", "-q", str(bare), str(seed))
        commit(seed, {"deploy/prod.yaml": "replicas: 1\n", "README.md": "x\n"}, "seed")
        git("push", "-q", "origin", "HEAD:main", cwd=seed)
        config = write_config(
            root / "gate.toml",
            root / "data",
            upstream.url,
            RULE,
            f"sqlite:///{root}/gate.db",
            server={"threads": args.held + 3},
            queue={"max_held": args.held},
            scan={"workers": 1},
        )
        env = base_env(**{UPSTREAM_TOKEN_ENV: upstream.token or ""})
        gate = GateProcess(serve_argv(config), env).start()
        try:
            work = root / "w"
            git("clone", "-q", gate.remote("acme/app"), str(work))
            latencies, approvals = [], []
            for i in range(args.reps):
                commit(work, {"deploy/prod.yaml": f"replicas: {i + 2}\n"}, "scale")
                held = push(work, f"lat{i}")
                until(lambda: len(pending(root / "gate.db")) == 1)
                started = time.monotonic()
                done = cli(
                    config, env, "review", "approve", str(pending(root / "gate.db")[0]), *REVIEW
                )
                approved = time.monotonic()
                assert done.returncode == 0, done.stdout + done.stderr
                assert held.wait(60) == 0
                latencies.append(time.monotonic() - approved)
                approvals.append(approved - started)
            idle = [timed_clone(gate.remote("acme/app"), root / f"idle{i}") for i in range(3)]
            commit(work, {"deploy/prod.yaml": "replicas: 99\n"}, "scale more")
            holding = [push(work, f"held{i}") for i in range(args.held)]
            until(lambda: len(pending(root / "gate.db")) == args.held)
            busy = [timed_clone(gate.remote("acme/app"), root / f"busy{i}") for i in range(3)]
            running = sum(h.poll() is None for h in holding)
            for n in pending(root / "gate.db"):
                cli(config, env, "review", "reject", str(n), *REVIEW, "--reason", "bench")
            for h in holding:
                h.wait(60)
        finally:
            gate.stop()
            upstream.stop()
    med = statistics.median
    print(
        f"approval -> held push exit: median {med(latencies):.2f} s, "
        f"max {max(latencies):.2f} s ({args.reps} reps)"
    )
    print(f"approving CLI incl. relay:  median {med(approvals):.2f} s")
    print(f"clone, nothing held:        median {med(idle):.3f} s")
    print(f"clone, {running} pushes held:      median {med(busy):.3f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
