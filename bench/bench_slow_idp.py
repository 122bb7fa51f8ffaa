"""A valid gate-token clone while forged tokens name an OIDC issuer whose JWKS endpoint hangs.

    .venv/bin/python bench/bench_slow_idp.py [--forged 20] [--reps 3] [--src DIR]

Issue #8 section 3: each forged token (only its `iss` right) used to hold a worker thread for
the whole JWKS timeout, so a good clone queued behind them. One `gitgate serve` (1 worker,
4 threads) per repetition, a loopback upstream, a JWKS endpoint that accepts and never answers;
the forged requests start first, the clone starts once the gate has reached the endpoint.
`--src DIR` runs the gate from another source tree (e.g. an export of main) for comparison.
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fixtures import jwks as j
from tests.fixtures.gate import UPSTREAM_TOKEN_ENV, write_config
from tests.fixtures.service import GateProcess, base_env, cli, serve_argv
from tests.fixtures.upstream import UpstreamServer, commit, git

ISS = "https://slow.example.test"
RULES = [{"name": "agents", "repos": ["acme/*"], "groups": ["agents"], "access": "write"}]


def _forged(port: int, path: str, token: str, out: list[int]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        resp = conn.getresponse()
        resp.read()
        out.append(resp.status)
    finally:
        conn.close()


def one_run(root: Path, forged: int, src: str | None) -> tuple[float, list[int]]:
    upstream = UpstreamServer(root / "upstream", token="bench-upstream").start()
    hanging = j.HangingServer().start()
    try:
        bare = upstream.create_repo("acme/app")
        seed = root / "seed"
        git("clone", "-q", str(bare), str(seed))
        commit(seed, {"README.md": "hello\n"}, "seed")
        git("push", "-q", "origin", "HEAD:main", cwd=seed)
        oidc = {"name": "slow", "issuer": ISS, "audience": "gitgate", "jwks_url": hanging.url}
        config = write_config(
            root / "gate.toml",
            root / "data",
            upstream.url,
            RULES,
            auth={"required": True, "oidc": [oidc]},
            server={"threads": 4},
        )
        env = base_env(**{UPSTREAM_TOKEN_ENV: upstream.token or ""})
        if src:
            env["PYTHONPATH"] = src
        issued = cli(config, env, "token", "issue", "--subject", "a", "--group", "agents")
        token = issued.stdout.strip()
        with GateProcess(serve_argv(config), env).start() as gate:
            git("clone", "-q", gate.remote("acme/app", token), str(root / "warm"))
            statuses: list[int] = []
            path = "/acme/app.git/info/refs?service=git-upload-pack"
            key = j.rsa_key()
            tokens = [
                j.mint(key, j.claims(iss=ISS, aud="gitgate", jti=str(i)), kid="forged")
                for i in range(forged)
            ]
            threads = [
                threading.Thread(target=_forged, args=(gate.port, path, t, statuses))
                for t in tokens
            ]
            for t in threads:
                t.start()
            if forged:
                hanging.wait_for(1)
            started = time.monotonic()
            git("clone", "-q", gate.remote("acme/app", token), str(root / "timed"))
            elapsed = time.monotonic() - started
            hanging.release()
            for t in threads:
                t.join(300)
        return elapsed, statuses
    finally:
        hanging.stop()
        upstream.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--forged", type=int, default=20)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--src", help="run the gate from this source tree")
    args = parser.parse_args()
    for forged in (0, args.forged):
        times = []
        for _ in range(args.reps):
            with tempfile.TemporaryDirectory(prefix="gg-idp-") as tmp:
                os.chdir(tmp)  # `python -m gitgate` puts the cwd first on sys.path
                elapsed, statuses = one_run(Path(tmp), forged, args.src)
            times.append(elapsed)
        print(
            f"forged={forged:3d}  clone s: median {statistics.median(times):.3f} "
            f"(min {min(times):.3f}, max {max(times):.3f})  forged statuses: "
            f"{sorted(set(statuses)) or '-'}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
