"""Cost of the reviewer's page and of /metrics, in process (no network, no browser).

    .venv/bin/python bench/bench_review.py [--reps 30]

A queued push as large as the queue stores one (200 commits, 500 changed paths, 20 protected
diffs of 200 lines each, 50 findings) is rendered through the real falcon app with an
identity from a trusted proxy header; the queue page lists 200 pushes; /metrics is scraped
with that queue in the database (SQLite in a temporary directory). Prints a markdown table:
median and max milliseconds per request.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import falcon.testing

from gitgate import config as config_mod
from gitgate.app import create_app

WHO = {"X-Forwarded-User": "alice", "X-Forwarded-Groups": "maintainers"}


def big_summary() -> dict[str, Any]:
    diff = "\n".join(
        ["--- deploy/a.yaml", "+++ deploy/a.yaml", "@@ -1,100 +1,100 @@"]
        + [f"-key_{i}: {i}" for i in range(98)]
        + [f"+key_{i}: {i * 2}  # changed" for i in range(99)]
    )
    return {
        "ref_updates": [{"ref": "refs/heads/main", "old": "a" * 40, "new": "b" * 40}],
        "commits": [
            {"id": f"{i:040x}", "author": "Agent <a@example.com>", "summary": f"change {i}"}
            for i in range(200)
        ],
        "changed_paths": [
            {"kind": "modify", "path": f"src/module_{i}.py", "old_path": None, "commit": "c" * 12}
            for i in range(500)
        ],
        "protected_diffs": [{"path": f"deploy/f{i}.yaml", "diff": diff} for i in range(20)],
        "findings": [
            {"check": "protected_paths", "path": f"deploy/f{i}.yaml", "type": "modify"}
            for i in range(50)
        ],
        "reasons": ["touches protected paths: deploy/**"],
    }


def timed(client: Any, path: str, reps: int) -> tuple[float, float]:
    samples = []
    for _ in range(reps):
        start = time.perf_counter()
        result = client.simulate_get(path, headers=WHO, remote_addr="127.0.0.1")
        samples.append((time.perf_counter() - start) * 1000)
        assert result.status_code == 200, (path, result.status_code, result.text[:300])
    return statistics.median(samples), max(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = config_mod.load(
            None,
            overrides={
                "storage": {"data_dir": tmp},
                "auth": {"required": False},
                "review": {"trusted_headers": True, "trusted_proxies": ["127.0.0.1"]},
                "rule": [{"name": "r", "reviewers": ["maintainers"], "protected_paths": ["x"]}],
            },
        )
        app = create_app(cfg)
        from gitgate.store import queue

        summary = big_summary()
        for _ in range(200):
            app.runtime.services.run(
                lambda: queue.enqueue(
                    repo="acme/app",
                    pusher_subject="agent-7",
                    pusher_groups=["agents"],
                    rule_name="r",
                    reviewer_groups=["maintainers"],
                    approvals_required=2,
                    expiry_s=86400,
                    summary=summary,
                    payload=io.BytesIO(b"0000"),
                )
            )
        client = falcon.testing.TestClient(app)
        rows = [
            ("push page (largest summary)", timed(client, "/-/review/push/200", args.reps)),
            ("queue page (200 pending, newest 100 shown)", timed(client, "/-/review", args.reps)),
            ("/metrics (200 queued)", timed(client, "/metrics", args.reps)),
        ]
        page = client.simulate_get("/-/review/push/200", headers=WHO, remote_addr="127.0.0.1")
        app.runtime.close()
    print(f"push page size: {len(page.content) / 1024:.0f} KiB")
    print("| request | median ms | max ms |")
    print("|---|---|---|")
    for name, (median, worst) in rows:
        print(f"| {name} | {median:.1f} | {worst:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
