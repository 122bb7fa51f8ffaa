"""The `mask` action's cost: a 1,000-commit push whose first commit holds an AWS key (every
later tree keeps it, so all 1,000 commits are rewritten), through a gate that masks, against
the same push through a gate whose rule says `secrets = "allow"` (scans, relays as is).
Also the same push with no secret in it through both: masking should cost nothing extra.

The real gate (`gitgate serve`, gunicorn gthread, one worker, SQLite), two of them on the same
streaming upstream; each repetition pushes to fresh upstream repos, alternating the gates.
Numbers are wall-clock `git push` times (client start to exit).

Run: `.venv/bin/python bench/bench_mask.py [--reps 3] [--commits 1000]`.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.fixtures import secrets
from tests.fixtures.gate import UPSTREAM_TOKEN_ENV, write_config
from tests.fixtures.service import GateProcess, base_env, serve_argv
from tests.fixtures.upstream import UpstreamServer, commit, git
from tests.test_big_pushes import fast_import_commits


def rule(action: str) -> list[dict[str, object]]:
    return [{"name": action, "actions": {"secrets": action}}]


def timed_push(
    gate: GateProcess, upstream: UpstreamServer, root: Path, name: str, n: int, secret: bool
) -> float:
    repo = f"acme/{name}"
    bare = upstream.create_repo(repo)
    seed = root / f"seed-{name}"
    git("clone", "-q", str(bare), str(seed))
    commit(seed, {"README.md": "# app\n"}, "seed")
    git("push", "-q", "origin", "HEAD:main", cwd=seed)
    work = root / f"w-{name}"
    git("clone", "-q", gate.remote(repo), str(work))
    body = f"KEY = '{secrets.AWS_ACCESS_KEY_ID}'\n" if secret else "KEY = 'from-env'\n"
    commit(work, {"config.py": body}, "config")
    fast_import_commits(work, n - 1)
    started = time.monotonic()
    proc = subprocess.run(
        ["git", "push", "-q", "origin", "HEAD:main"], cwd=work, capture_output=True, text=True
    )
    took = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"bench: push failed: {proc.stderr}")
    return took


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--commits", type=int, default=1000)
    args = p.parse_args()
    times: dict[tuple[str, bool], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="gg-bench-mask-") as tmp:
        root = Path(tmp)
        upstream = UpstreamServer(root / "up", token="bench-upstream-token").start()
        env = base_env(**{UPSTREAM_TOKEN_ENV: upstream.token or ""})
        gates = {}
        try:
            for action in ("allow", "mask"):
                config = write_config(
                    root / f"{action}.toml",
                    root / f"data-{action}",
                    upstream.url,
                    rule(action),
                    f"sqlite:///{root}/{action}.db",
                    scan={"workers": 1},
                )
                gates[action] = GateProcess(serve_argv(config), env).start()
            for i in range(args.reps):
                for secret in (True, False):
                    for action in ("allow", "mask"):
                        name = f"{action}-{int(secret)}-{i}"
                        took = timed_push(gates[action], upstream, root, name, args.commits, secret)
                        times.setdefault((action, secret), []).append(took)
        finally:
            for g in gates.values():
                g.stop()
            upstream.stop()
    med = statistics.median
    for secret in (True, False):
        allow, mask = med(times[("allow", secret)]), med(times[("mask", secret)])
        what = "secret in the first commit" if secret else "nothing to mask"
        print(
            f"{args.commits} commits, {what}: allow {allow:.2f} s, mask {mask:.2f} s "
            f"(median of {args.reps}), mask / allow = {mask / allow:.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
