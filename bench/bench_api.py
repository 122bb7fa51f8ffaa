"""The GitHub API side: read latency and an inspected Contents API write, gate vs direct.

Upstream is the tests' fake GitHub API (tests/fixtures/github_api.py) over a bare repo that the
tests' git upstream also serves; the gate is the real `gitgate serve` (gunicorn, one gthread
worker). Direct and gated calls alternate; each side keeps one keep-alive connection, as
Octokit and PyGithub do. Plain HTTP on loopback, so TLS cost is not measured here.

    .venv/bin/python bench/bench_api.py [--reads 300] [--writes 20] [--json out.json]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.fixtures.gate import UPSTREAM_TOKEN_ENV, write_config
from tests.fixtures.github_api import FakeGitHubApi
from tests.fixtures.service import GateProcess, base_env, serve_argv
from tests.fixtures.upstream import UpstreamServer, commit, git


class Client:
    """One keep-alive connection; `call` returns (seconds, status)."""

    def __init__(self, port: int, prefix: str, auth: str | None) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.prefix, self.auth = prefix, auth

    def call(self, method: str, path: str, body: Any = None) -> tuple[float, int]:
        headers = {"Accept": "application/vnd.github+json"}
        if self.auth:
            headers["Authorization"] = self.auth
        data = json.dumps(body).encode() if body is not None else None
        if data is not None:
            headers["Content-Type"] = "application/json"
        start = time.perf_counter()
        self.conn.request(method, self.prefix + path, body=data, headers=headers)
        resp = self.conn.getresponse()
        resp.read()
        return time.perf_counter() - start, resp.status


def paired(n: int, direct: Any, gate: Any) -> dict[str, Any]:
    times: dict[str, list[float]] = {"direct": [], "gate": []}
    for i in range(n):
        order = (
            (("direct", direct), ("gate", gate))
            if i % 2 == 0
            else (("gate", gate), ("direct", direct))
        )
        for name, run in order:
            times[name].append(run(i))
    d, g = statistics.median(times["direct"]), statistics.median(times["gate"])
    return {
        "direct_ms": round(d * 1000, 2),
        "gate_ms": round(g * 1000, 2),
        "ratio": round(g / d, 2),
        "added_ms": round((g - d) * 1000, 2),
        "n": n,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reads", type=int, default=300)
    ap.add_argument("--writes", type=int, default=20)
    ap.add_argument("--json")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="gg-bench-api-") as tmp_s:
        tmp = Path(tmp_s)
        token = secrets.token_hex(16)
        upstream = UpstreamServer(tmp / "upstream", token).start()
        api = FakeGitHubApi(upstream.root, token).start()
        bare = upstream.create_repo("acme/app")
        seed = tmp / "seed"
        git("clone", "-q", str(bare), str(seed))
        commit(seed, {"README.md": "# app\n", "src/app.py": "x = 1\n"}, "initial")
        git("push", "-q", "origin", "HEAD:main", cwd=seed)
        config = write_config(
            tmp / "gate.toml",
            tmp / "gate",
            upstream.url,
            upstream={"api_url": api.url},
            server={"workers": 1},
            scan={"workers": 1},
        )
        gate = GateProcess(serve_argv(config), base_env(**{UPSTREAM_TOKEN_ENV: token})).start()
        try:
            assert gate.port is not None
            direct = Client(api.server_address[1], "", f"token {token}")
            via = Client(gate.port, "/api/v3", None)
            for c in (direct, via):  # warm: connections, the gate's mirror and scanner
                c.call("GET", "/repos/acme/app")
            via.call(
                "PUT", "/repos/acme/app/contents/warm.txt", {"message": "w", "content": "d2FybQo="}
            )

            def read(c: Client) -> Any:
                return lambda _i: c.call("GET", "/repos/acme/app")[0]

            def page(c: Client) -> Any:
                return lambda _i: c.call("GET", "/repos/acme/app/issues?per_page=2&page=2")[0]

            def write(c: Client, side: str) -> Any:
                def run(i: int) -> float:
                    content = base64.b64encode(f"v = {i}\n".encode()).decode()
                    body = {"message": f"bench {side} {i}", "content": content}
                    seconds, status = c.call(
                        "PUT", f"/repos/acme/app/contents/b/{side}{i}.py", body
                    )
                    assert status == 201, status
                    return seconds

                return run

            results = {
                "read_repo": paired(args.reads, read(direct), read(via)),
                "read_page_with_link": paired(args.reads, page(direct), page(via)),
                "contents_write": paired(args.writes, write(direct, "d"), write(via, "g")),
                "cpus": os.cpu_count(),
                "load_1m": os.getloadavg()[0],
            }
        finally:
            gate.stop()
            api.stop()
            upstream.stop()
    print(json.dumps(results, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
