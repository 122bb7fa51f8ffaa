"""A whole history pushed to an empty repository: through the gate against directly.

    .venv/bin/python bench/bench_history.py [--commits 5000] [--reps 3] [--json FILE]

The history is tests/fixtures/bighistory.py's (seeded: a main line, feature branches merged
with merge commits, main merged back, renames, deletions, moved directories), written once
with `git fast-import`. Each run pushes it to a fresh empty upstream repository three ways,
interleaved: directly, through a gate with the secret scan off, through a gate with it on
(two gate processes, each a real `gitgate serve`). The noise floor is the spread of the direct
pushes themselves (slowest ÷ fastest). Also reported, from the gate's own code run in-process
on the same history: how many blob versions the history carries against how many the
scanner is handed (each blob is scanned once however many commits carry it).
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
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    BenchError,
    GateProcess,
    StreamingUpstream,
    TreeSampler,
    git,
    git_env,
    machine,
    source_version,
    status_kib,
    summary,
    timed_git,
    tree_cpu_s,
)
from gitgate.inspection.packcache import PackCache
from tests.fixtures.bighistory import generate

SIDES = ("direct", "gate_scan_off", "gate_scan_on")
AIMS = {"gate_scan_off": 3.0, "gate_scan_on": 5.0}


def say(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


def build_history(path: Path, commits: int, env: dict[str, str], seed: int = 17) -> str:
    git("init", "--bare", "-q", "-b", "main", str(path), env=env)
    proc = subprocess.run(
        ["git", "--git-dir", str(path), "fast-import", "--quiet"],
        input=generate(commits, seed),
        env=env,
        capture_output=True,
    )
    if proc.returncode != 0:
        raise BenchError("git fast-import failed: " + proc.stderr.decode()[-300:])
    return git("rev-parse", "main", cwd=path, env=env).strip()


def _unpack_gate(repo: Path, pack: bytes, cache: PackCache) -> float:
    """The gate's own unpack (gitgate.inspection.packindex: one read, in place) of `pack`, in s,
    keeping in `cache` what it read (small blobs, commits) as the gate does."""
    from dulwich.object_store import DiskObjectStore

    from gitgate.inspection.packindex import index_in_place

    path = repo / "incoming.pack"
    path.write_bytes(pack)
    store = DiskObjectStore(str(repo / "objects"))
    try:
        with open(path, "r+b") as f:
            started = time.perf_counter()
            index_in_place(store, f, path, max_object_bytes=0, max_inflated_bytes=0, cache=cache)
            return time.perf_counter() - started
    finally:
        store.close()


def in_process(history: Path, env: dict[str, str]) -> dict[str, Any]:
    """The gate's own phases on this history, in this process (no HTTP, no scanner): the
    unpack (dulwich, as the gate does it; `git index-pack` beside it for reference), building
    the push, and preparing the texts the secrets check hands the scanner. Also blob versions
    the history carries against distinct texts scanned (each blob once)."""
    import io
    import tracemalloc

    from dulwich.object_store import DiskObjectStore

    from gitgate.checks.secrets import scan_items
    from gitgate.config import ScanConfig
    from gitgate.git.wire import ZERO_SHA, Command
    from gitgate.inspection.push import Push, build_push

    tip = git("rev-parse", "main", cwd=history, env=env).strip().encode()
    pack = subprocess.run(
        ["git", "pack-objects", "--revs", "--stdout", "-q"],
        input=b"main\n", cwd=history, env=env, capture_output=True, check=True,
    ).stdout  # fmt: skip
    out: dict[str, Any] = {"pack_mb": round(len(pack) / 1e6, 1)}
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("dulwich", "git", "gate"):
            git("init", "--bare", "-q", str(Path(tmp) / name), env=env)
        store = DiskObjectStore(str(Path(tmp) / "dulwich" / "objects"))
        started = time.perf_counter()
        store.add_thin_pack(io.BytesIO(pack).read, None)
        out["unpack_dulwich_s"] = time.perf_counter() - started
        cache = PackCache()  # the commit walk and the texts read it, as in the gate
        out["unpack_gate_s"] = _unpack_gate(Path(tmp) / "gate", pack, cache)
        out["pack_cache_mib"] = round(cache.nbytes / 2**20, 1)
        started = time.perf_counter()
        subprocess.run(["git", "index-pack", "--stdin", "--fix-thin"], input=pack,
                       cwd=Path(tmp) / "git", env=env, capture_output=True, check=True)  # fmt: skip
        out["unpack_git_index_pack_s"] = time.perf_counter() - started
        gitdir = str(Path(tmp) / "dulwich")
        commands = [Command(ZERO_SHA, tip, b"refs/heads/main")]
        tracemalloc.start()  # a first build for the allocation peak (tracemalloc slows it)
        build_push(Push("r", [], store, lambda _: False, [], 0, (gitdir, gitdir + "/objects")),
                   commands)  # fmt: skip
        out["build_push_peak_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        push = Push("r", [], store, lambda _: False, [], 0, (gitdir, gitdir + "/objects"),
                    pack_cache=cache)  # fmt: skip
        started = time.perf_counter()
        build_push(push, commands)
        out["build_push_s"] = time.perf_counter() - started
        update = push.updates[0]
        started = time.perf_counter()
        items = scan_items(push, update, ScanConfig())
        text_bytes = sum(len(item.text(push, 1 << 20) or b"") for item in items)
        out["scan_texts_s"] = time.perf_counter() - started
        store.close()
    return {
        **out,
        "scan_text_mb": round(text_bytes / 1e6, 1),
        "commits": len(update.new_commits),
        "merges": sum(1 for c in update.new_commits if len(c.parents) > 1),
        "changes": len(update.changes),
        "blob_versions_carried": sum(1 for ch in update.changes if ch.new_blob),
        "distinct_new_blobs": len(update.new_blobs),
        "file_texts_scanned": sum(1 for i in items if i.change is not None),
    }


class Run:
    def __init__(self, root: Path, args: argparse.Namespace) -> None:
        self.root, self.args = root, args
        self.env = git_env(root)
        token = secrets.token_hex(16)
        self.upstream = StreamingUpstream(root / "upstream", token).start()
        self.direct_env = {**self.env, **self.upstream.client_env()}
        self.gates: dict[str, GateProcess] = {}
        self.samplers: dict[str, TreeSampler] = {}
        for side, scan in (("gate_scan_off", False), ("gate_scan_on", True)):
            (root / side).mkdir()
            gate = GateProcess(root / side, self.upstream.url, token, scan=scan).start()
            self.gates[side] = gate
            self.samplers[side] = TreeSampler(gate.pid).start()
        self.history = root / "history.git"
        self.tip = ""

    def push(self, side: str, i: int) -> float:
        name = f"hist-{side}-{i}"
        bare = self.root / "upstream" / "bench" / f"{name}.git"
        git("init", "--bare", "-q", "-b", "main", str(bare), env=self.env)
        git("config", "http.receivepack", "true", cwd=bare, env=self.env)
        if side == "direct":
            url, env = f"{self.upstream.url}/bench/{name}.git", self.direct_env
        else:
            url, env = self.gates[side].remote(f"bench/{name}"), self.env
        took, _ = timed_git("push", "-q", url, "main", cwd=self.history, env=env)
        got = git("rev-parse", "main", cwd=bare, env=self.env).strip()
        if got != self.tip:
            raise BenchError(f"{side}: upstream main is {got}, not {self.tip}")
        shutil.rmtree(bare)
        return took

    def measure(self) -> dict[str, Any]:
        times: dict[str, list[float]] = {s: [] for s in SIDES}
        cpu: dict[str, list[float]] = {s: [] for s in SIDES[1:]}
        for side in SIDES:  # untimed: page cache, gate workers, scanner processes
            self.push(side, -1)
        for side, gate in self.gates.items():
            self.samplers[side].reset(gate.worker_pids())
        for i in range(self.args.reps):
            order = SIDES if i % 2 == 0 else tuple(reversed(SIDES))
            for side in order:
                before = tree_cpu_s(self.gates[side].pid) if side in self.gates else 0.0
                times[side].append(self.push(side, i))
                if side in self.gates:
                    cpu[side].append(tree_cpu_s(self.gates[side].pid) - before)
        direct = summary(times["direct"])
        out: dict[str, Any] = {
            "direct": direct,
            "noise_floor": max(times["direct"]) / min(times["direct"]),
        }
        for side in SIDES[1:]:
            s = summary(times[side])
            hwm = max((status_kib(p, "VmHWM") for p in self.gates[side].worker_pids()), default=0)
            out[side] = {
                **s,
                "ratio": s["median"] / direct["median"],  # type: ignore[operator]
                "ratio_min": s["min"] / direct["min"],  # type: ignore[operator]
                "gate_cpu_s": summary(cpu[side]),
                "tree_peak_mib": round(self.samplers[side].peak_mib(), 1),
                "worker_hwm_mib": round(hwm / 1024, 1),
            }
        return out

    def close(self) -> None:
        for side, gate in self.gates.items():
            self.samplers[side].stop()
            gate.stop()
            (self.root / side / "gitgate.log").write_text("\n".join(gate.lines) + "\n")
        self.upstream.stop()


def report(r: dict[str, Any]) -> str:
    m = r["measure"]
    head = (
        f"| {r['commits']}-commit history ({r['scan']['merges']} merges) | s, median (min) | "
        "÷ direct, median (min) | aim | met | gate CPU s | tree peak RSS MiB | worker VmHWM MiB |\n"
        "|---|---|---|---|---|---|---|---|\n"
        f"| direct | {m['direct']['median']:.2f} ({m['direct']['min']:.2f}) | 1 | — | — | — | — "
        "| — |\n"
    )
    rows = []
    for side in SIDES[1:]:
        s, aim = m[side], AIMS[side]
        rows.append(
            f"| {side.replace('_', ' ')} | {s['median']:.2f} ({s['min']:.2f}) | "
            f"{s['ratio']:.2f} ({s['ratio_min']:.2f}) | ≤ {aim} | "
            f"{'yes' if s['ratio'] <= aim else '**no**'} | {s['gate_cpu_s']['median']:.2f} | "
            f"{s['tree_peak_mib']:.0f} | {s['worker_hwm_mib']:.0f} |"
        )
    sc = r["scan"]
    tail = (
        f"\nNoise floor (slowest ÷ fastest direct push): {m['noise_floor']:.2f}. In-process on "
        f"the same history: {sc['changes']} changes, {sc['blob_versions_carried']} blob versions "
        f"carried, {sc['distinct_new_blobs']} distinct new blobs, {sc['file_texts_scanned']} "
        f"file texts ({sc['scan_text_mb']} MB) handed to the scanner. In-process phases, "
        f"{sc['pack_mb']} MB pack: unpack (the gate's) {sc.get('unpack_gate_s', 0):.2f} s "
        f"(dulwich's add_thin_pack: {sc['unpack_dulwich_s']:.2f} s, git "
        f"index-pack: {sc['unpack_git_index_pack_s']:.2f} s), build the push "
        f"{sc['build_push_s']:.2f} s (peak {sc['build_push_peak_mib']:.0f} MiB allocated), "
        f"secret-scan texts {sc['scan_texts_s']:.2f} s. "
        f"Load average (1 min) at start / end: {r['machine']['loadavg_1m_at_start']:.2f} / "
        f"{r['loadavg_1m_at_end']:.2f}."
    )
    return head + "\n".join(rows) + "\n" + tail


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="a whole history through gitgate vs directly")
    p.add_argument("--commits", type=int, default=5000)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--json", metavar="FILE")
    p.add_argument("--keep", action="store_true")
    p.add_argument("--workdir")
    args = p.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="gitgate-bench-history-", dir=args.workdir))
    results: dict[str, Any] = {
        "machine": machine(),
        "gitgate": source_version(Path(__file__).resolve().parent.parent),
        "commits": args.commits,
    }
    run: Run | None = None
    try:
        say(f"work dir {root}; generating {args.commits} commits")
        env = git_env(root)
        history = root / "history.git"
        tip = build_history(history, args.commits, env)
        say("in-process phases")
        results["scan"] = in_process(history, env)
        say("starting the gates")
        run = Run(root, args)
        run.tip = tip
        say(f"{args.reps} pushes each way (+1 untimed)")
        results["measure"] = run.measure()
    finally:
        if run is not None:
            run.close()
        results["loadavg_1m_at_end"] = os.getloadavg()[0]
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(report(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
