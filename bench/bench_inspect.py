"""Where a small push's inspection time goes, in-process: no HTTP, no upstream, per phase.

    .venv/bin/python bench/bench_inspect.py [--pushes 40] [--no-scan] [--json FILE]

`bench_upkeep.py` measures what an agent sees (the gate against a direct push, in one run);
its noise floor on this machine is often 1.4 - 2, so a change of a few ms cannot be seen
there. This runs the gate's own code on the same push, many times, and times each phase:
a warm bare mirror of ~1 MB of real Python source (bench_gate's seed), then `--pushes` pushes
of bench_gate's `small_change` (10 files modified, 10 added), each a thin pack made by `git
pack-objects --thin` as git push makes it, spooled, unpacked into a quarantine, built, checked
with the default rule and the real scanner pool, then adopted into the mirror as after a relay.
The first 3 are not counted (warm-up). Medians and minima in ms; "answer path" is what the
agent waits for (quarantine, unpack, build, checks), "after" what runs once it has its answer
(adopt, refs, quarantine removal: gitgate.git.settle).

PYTHONPATH=/other/checkout measures another version of the gate the same way.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_gate import python_sources, small_change, take
from gitgate.checks import DEFAULT_CHECKS
from gitgate.git.mirror import Mirrors
from gitgate.git.spool import spool_body
from gitgate.git.wire import parse_push_request
from gitgate.inspection.unpack import run_checks, unpacked
from gitgate.scanning import SecretScanner
from gitgate.upstream.http import Upstream
from tests.unit.factories import context, load_config

REPO = "bench/push"
PHASES: dict[str, list[float]] = {}


def _timed(owner: Any, attr: str, name: str) -> None:
    """Wrap `owner.attr` so each call's duration lands in PHASES[name]."""
    fn = getattr(owner, attr)

    def inner(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            PHASES.setdefault(name, []).append(time.perf_counter() - start)

    setattr(owner, attr, inner)


def install_timers() -> None:
    """The phases, by the names they have in the gate (those that exist in this version)."""
    import importlib

    wanted = [
        ("gitgate.git.quarantine", "Quarantine", "__init__", "quarantine made"),
        ("gitgate.git.mirror", "Quarantine", "__init__", "quarantine made"),
        ("gitgate.inspection.unpack", None, "_add_pack", "unpack (index the pack)"),
        ("gitgate.inspection.unpack", None, "build_push", "build the push (diffs)"),
        ("gitgate.checks.lfs", "LfsPointers", "run", "check: lfs"),
        ("gitgate.checks.secrets", "Secrets", "run", "check: secrets"),
        ("gitgate.scanning.scanner", "SecretScanner", "scan", "  of which the scanner pool"),
        ("gitgate.git.mirror", "Mirrors", "adopt_pack", "after: adopt the pack"),
        ("gitgate.git.mirror", "Mirrors", "update_refs", "after: record the refs"),
    ]
    done: set[str] = set()
    for module, cls, attr, name in wanted:
        if name in done:
            continue
        try:
            owner: Any = importlib.import_module(module)
            if cls is not None:
                owner = getattr(owner, cls)
            getattr(owner, attr)
        except (ImportError, AttributeError):
            continue
        _timed(owner, attr, name)
        done.add(name)


def run(pushes: int, scan: bool) -> dict[str, Any]:
    install_timers()
    root = Path(tempfile.mkdtemp(prefix="gitgate-inspect-"))
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "a",
        "GIT_AUTHOR_EMAIL": "a@example.com",
        "GIT_COMMITTER_NAME": "a",
        "GIT_COMMITTER_EMAIL": "a@example.com",
        "GIT_CONFIG_NOSYSTEM": "1",
        "HOME": str(root),
    }

    def git(*args: str, cwd: Path | None = None, data: bytes | None = None) -> bytes:
        return subprocess.run(
            ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, input=data
        ).stdout

    scanner = SecretScanner(workers=2) if scan else None
    mirrors: Mirrors | None = None
    try:
        work = root / "work"
        git("init", "-q", "-b", "main", str(work))
        state: dict[str, bytes] = {}
        for rel, data in take(python_sources(), 1_000_000):
            path = work / "src" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            state[f"src/{rel}"] = data
        git("add", "-A", cwd=work)
        git("commit", "-qm", "seed", cwd=work)
        data_dir = root / "gate"
        mirrors = Mirrors(data_dir, Upstream("http://127.0.0.1:9", None))
        mirror = mirrors.path(REPO)
        mirror.parent.mkdir(parents=True, exist_ok=True)
        git("clone", "-q", "--bare", str(work), str(mirror))
        git("--git-dir", str(mirror), "config", "gc.auto", "0")
        cfg = load_config()
        ctx = context(cfg, scanner)
        rows: dict[str, list[float]] = {"answer path": [], "after the answer": []}
        for i in range(pushes):
            old = git("rev-parse", "HEAD", cwd=work).strip()
            for rel, data in small_change(state, i):
                path = work / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
            git("add", "-A", cwd=work)
            git("commit", "-qm", f"change {i}", cwd=work)
            new = git("rev-parse", "HEAD", cwd=work).strip()
            pack = git("pack-objects", "--thin", "--stdout", "--revs", "-q", cwd=work,
                       data=new + b"\n^" + old + b"\n")  # fmt: skip
            line = old + b" " + new + b" refs/heads/main\0report-status side-band-64k"
            body = b"%04x" % (len(line) + 4) + line + b"0000" + pack
            spool = spool_body(io.BytesIO(body), 1 << 30, 1 << 20, str(data_dir))
            spool.seek(0)
            req = parse_push_request(spool)
            start = time.perf_counter()
            with unpacked(mirrors, REPO, spool, req, list(req.commands)) as (q, push):
                rules = {c.ref.decode(): cfg.rule[0] for c in req.commands}
                run_checks(DEFAULT_CHECKS, push, rules, ctx)
                answered = time.perf_counter()
                mirrors.adopt_pack(REPO, q)
                mirrors.update_refs(REPO, [(b"refs/heads/main", new)])
            rows["answer path"].append(answered - start)
            rows["after the answer"].append(time.perf_counter() - answered)
            spool.close()
        phases = {**PHASES, **rows}
        return {
            "pushes": pushes,
            "counted": pushes - 3,
            "scan": scan,
            "mirror_packs": mirrors.pack_count(REPO),
            "load_1m": os.getloadavg()[0],
            "ms": {
                name: {
                    "median": statistics.median(v[3:]) * 1000,
                    "min": min(v[3:]) * 1000,
                }
                for name, v in phases.items()
                if len(v) > 3
            },
        }
    finally:
        if mirrors is not None:
            mirrors.close()
        if scanner is not None:
            scanner.close()
        shutil.rmtree(root, ignore_errors=True)


def report(r: dict[str, Any]) -> str:
    lines = [
        f"{r['counted']} pushes of 20 files (10 modified, 10 added), scan "
        f"{'on' if r['scan'] else 'off'}, mirror {r['mirror_packs']} packs, "
        f"load {r['load_1m']:.2f}",
        "",
        "| phase | median ms | min ms |",
        "|---|---|---|",
    ]
    for name, v in r["ms"].items():
        lines.append(f"| {name} | {v['median']:.2f} | {v['min']:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--pushes", type=int, default=40)
    p.add_argument("--no-scan", action="store_true", help="no scanner (the secrets check fails)")
    p.add_argument("--json", metavar="FILE")
    args = p.parse_args(argv)
    result = run(args.pushes, not args.no_scan)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    print(report(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
