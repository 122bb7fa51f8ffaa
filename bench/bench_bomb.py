"""Inflation bombs against the real gate: memory and time to refusal (issue #8 §2).

    .venv/bin/python bench/bench_bomb.py [--gib 1] [--concurrent 4] [--json FILE]

A commit adds one blob of `--gib` GiB of zeros (a sparse file: no disk used on the client),
which packs to about 1 MB per GiB. It is pushed through `gitgate serve` (gunicorn, one gthread
worker, the default config: storage.max_object_bytes = 100 MiB), once alone and then
`--concurrent` times at once (one ref each). Reported: seconds until git has the in-band
refusal, the gate's process tree peak RSS (summed VmRSS, sampled every 50 ms) and the worker's
VmHWM. `--allowed-mib 95` also pushes one random blob just under the limit, which is relayed:
what the largest allowed object costs. With PYTHONPATH pointing at another checkout, the same
script measures that code.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    GateProcess,
    StreamingUpstream,
    TreeSampler,
    git,
    git_env,
    machine,
    source_version,
    status_kib,
)


def push(work: Path, ref: str, env: dict[str, str], out: dict[str, Any]) -> None:
    started = time.perf_counter()
    proc = subprocess.run(
        ["git", "push", "origin", f"HEAD:{ref}"], cwd=work, env=env, capture_output=True
    )
    out["seconds"] = round(time.perf_counter() - started, 2)
    err = proc.stderr.decode("utf-8", "replace")
    out["refused_in_band"] = proc.returncode != 0 and "[remote rejected]" in err
    out["says_limit"] = "storage.max_object_bytes" in err
    out["last_line"] = next((ln for ln in err.splitlines() if "rejected" in ln), err[-200:])


def run(root: Path, args: argparse.Namespace) -> dict[str, Any]:
    env = git_env(root)
    token = secrets.token_hex(16)
    upstream = StreamingUpstream(root / "upstream", token).start()
    bare = root / "upstream" / "bench" / "app.git"
    git("init", "--bare", "-q", "-b", "main", str(bare), env=env)
    git("config", "http.receivepack", "true", cwd=bare, env=env)
    seed = root / "seed"
    git("init", "-q", "-b", "main", str(seed), env=env)
    (seed / "README.md").write_text("# app\n")
    ident = ["-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    git("add", ".", cwd=seed, env=env)
    git(*ident, "commit", "-q", "-m", "seed", cwd=seed, env=env)
    direct = {**env, **upstream.client_env()}
    git("push", "-q", f"{upstream.url}/bench/app.git", "HEAD:main", cwd=seed, env=direct)

    workdir = root / "gate"
    workdir.mkdir()
    gate = GateProcess(workdir, upstream.url, token).start()
    sampler = TreeSampler(gate.pid).start()
    result: dict[str, Any] = {
        "machine": machine(),
        "gitgate": source_version(Path(__file__).resolve().parent.parent),
        "blob_gib": args.gib,
        "idle_rss_mib": round(sampler.sample() / 1024, 1),
    }
    try:
        work = root / "work"
        git("clone", "-q", gate.remote("bench/app"), str(work), env=env)
        big = work / "zeros.bin"
        with open(big, "wb") as f:
            f.truncate(int(args.gib * 1024**3))  # sparse: zeros without using the disk
        git("add", "zeros.bin", cwd=work, env=env)
        git(*ident, "commit", "-q", "-m", "bomb", cwd=work, env=env)
        big.unlink()
        pack = subprocess.run(
            ["git", "pack-objects", "--stdout", "--revs"],
            cwd=work,
            env=env,
            input=b"HEAD\n^origin/main\n",
            capture_output=True,
            check=True,
        ).stdout
        result["pack_mb"] = round(len(pack) / 1e6, 2)

        for label, count in (("alone", 1), ("at_once", args.concurrent)):
            sampler.reset(gate.worker_pids())
            outs: list[dict[str, Any]] = [{} for _ in range(count)]
            threads = [
                threading.Thread(target=push, args=(work, f"refs/heads/bomb{i}", env, outs[i]))
                for i in range(count)
            ]
            started = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            hwm = max((status_kib(p, "VmHWM") for p in gate.worker_pids()), default=0)
            result[label] = {
                "pushes": count,
                "wall_s": round(time.perf_counter() - started, 2),
                "tree_peak_mib": round(sampler.peak_mib(), 1),
                "worker_hwm_mib": round(hwm / 1024, 1),
                "each": outs,
            }
        if args.allowed_mib:
            # the largest object the limit lets through, relayed: what one object may cost
            git("reset", "-q", "--hard", "origin/main", cwd=work, env=env)
            (work / "random.bin").write_bytes(os.urandom(args.allowed_mib * 1024**2))
            git("add", "random.bin", cwd=work, env=env)
            git(*ident, "commit", "-q", "-m", "allowed", cwd=work, env=env)
            sampler.reset(gate.worker_pids())
            out: dict[str, Any] = {}
            push(work, "refs/heads/allowed", env, out)
            hwm = max((status_kib(p, "VmHWM") for p in gate.worker_pids()), default=0)
            result["allowed"] = {
                "blob_mib": args.allowed_mib,
                "relayed": "[remote rejected]" not in out["last_line"],
                "seconds": out["seconds"],
                "tree_peak_mib": round(sampler.peak_mib(), 1),
                "worker_hwm_mib": round(hwm / 1024, 1),
            }
    finally:
        sampler.stop()
        result["left_after_sigterm"] = gate.stop()
        upstream.stop()
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--gib", type=float, default=1.0, help="size of the zero blob (GiB)")
    p.add_argument("--concurrent", type=int, default=4, help="pushes at once in round two")
    p.add_argument(
        "--allowed-mib", type=int, default=0, help="then push (and relay) one random blob this big"
    )
    p.add_argument("--json", help="write every number to this file")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    args = p.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="gg-bomb-"))
    try:
        result = run(root, args)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    text = json.dumps(result, indent=2)
    if args.json:
        Path(args.json).write_text(text + "\n")
    print(text)
    return 0 if all(o["refused_in_band"] for o in result["at_once"]["each"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
