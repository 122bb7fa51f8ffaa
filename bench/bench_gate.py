"""The gate's overhead, measured against the same upstream in one run.

    .venv/bin/python bench/bench_gate.py [--quick] [--json FILE]

Scenarios (direct and gate runs interleaved, so drift in the machine hits both alike):
- clone: `git clone --bare` of a generated repository of incompressible blobs (>= 100 MB
  packed, bitmapped like GitHub's), through the gate and directly; the checkout is left out
  because it is identical either way and would only dilute the ratio.
- small push: 20 files (10 modified, 10 new) per push, after one untimed push that warms the
  gate's mirror and starts its scanner processes.
- source push: one commit adding >= 20 MB of real Python source (this interpreter's
  site-packages), to two identical repositories: the gate's extra time is what inspection costs.
RSS is the gate's whole process tree (gunicorn master, worker, scanner pool, git children).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import secrets
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
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

T0 = 1_700_000_000
BLOB = 1024 * 1024
SAFE_PATH = re.compile(r"^[A-Za-z0-9_./-]+$")
AIMS = {"clone": 1.05, "small_push": 1.3}
PUSH_REPOS = {False: "push-direct", True: "push-gate"}
Files = list[tuple[str, bytes]]


@dataclass
class Commit:
    ref: str
    parent: str | None
    message: str
    when: int
    files: Iterable[tuple[str, bytes]]


def fast_import(git_dir: Path, commits: Iterable[Commit], env: dict[str, str]) -> None:
    """Write commits straight into a repository (seconds for 100 MB, no work tree)."""
    cmd = ["git", "--git-dir", str(git_dir), "fast-import", "--quiet"]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, env=env)
    assert proc.stdin is not None
    out = proc.stdin
    for c in commits:
        who = f"Bench <bench@example.com> {c.when} +0000"
        out.write(f"commit {c.ref}\nauthor {who}\ncommitter {who}\n".encode())
        out.write(_data(c.message.encode()))
        if c.parent:
            out.write(f"from {c.parent}\n".encode())
        for path, blob in c.files:
            out.write(f"M 100644 inline {path}\n".encode() + _data(blob))
        out.write(b"\n")
    out.close()
    if proc.wait() != 0:
        raise BenchError(f"git fast-import into {git_dir.name} failed")


def _data(payload: bytes) -> bytes:
    return b"data %d\n" % len(payload) + payload + b"\n"


def big_history(total_bytes: int) -> Iterator[Commit]:
    """Seeded random 1 MiB blobs, one per commit, and a changelog that grows: deterministic."""
    rng = random.Random(20241124)
    log = b""
    for i in range(math.ceil(total_bytes / BLOB)):
        log += f"- asset {i}: {rng.getrandbits(64):016x}\n".encode()
        files = [(f"assets/{i // 100:02d}/blob{i:04d}.bin", rng.randbytes(BLOB))]
        yield Commit("refs/heads/main", None, f"asset {i}", T0 + 60 * i, [*files, ("CHANGES", log)])


def python_sources() -> Files:
    """This interpreter's site-packages *.py files, in a fixed order."""
    site = Path(sysconfig.get_paths()["purelib"])
    out = []
    for path in sorted(site.rglob("*.py")):
        rel = path.relative_to(site).as_posix()
        if "__pycache__" not in rel and SAFE_PATH.match(rel) and path.is_file():
            out.append((rel, path.read_bytes()))
    return out


def take(files: Iterable[tuple[str, bytes]], limit: int) -> Files:
    out, total = [], 0
    for rel, data in files:
        if total >= limit:
            break
        out.append((rel, data))
        total += len(data)
    if total < limit:
        raise BenchError(f"only {total / 1e6:.1f} MB of Python source here, {limit / 1e6} needed")
    return out


def new_module(i: int, j: int) -> bytes:
    body = "".join(
        f"    total += compute_{k}(value, {i * 100 + j})  # step {k}\n" for k in range(30)
    )
    doc = f'"""Generated module {i}.{j}: a small, ordinary Python file."""\n\n'
    return f"{doc}def run(value: int) -> int:\n    total = 0\n{body}    return total\n".encode()


def small_change(state: dict[str, bytes], i: int) -> Files:
    """10 modified files (a line appended) and 10 new ones: 20 files."""
    paths = sorted(state)
    files = []
    for j in range(10):
        path = paths[(i * 10 + j) % len(paths)]
        state[path] += f"# bench edit {i}.{j}\n".encode()
        files.append((path, state[path]))
    return files + [(f"src/bench/it{i:02d}/mod{j}.py", new_module(i, j)) for j in range(10)]


class Bench:
    def __init__(self, root: Path, args: argparse.Namespace) -> None:
        self.root, self.args = root, args
        self.env = git_env(root)
        self.token = secrets.token_hex(16)  # a throw-away credential the gate must present
        self.upstream = StreamingUpstream(root / "upstream", self.token).start()
        self.direct_env = {**self.env, **self.upstream.client_env()}
        self.gate: GateProcess | None = None
        self.sampler: TreeSampler | None = None
        self.results: dict[str, Any] = {
            "machine": machine(),
            "mode": args.mode,
            "gitgate": source_version(Path(__file__).resolve().parent.parent),
        }
        self.findings: list[int] = []  # secrets the gate reported, per gate push
        self.sources: Files = []  # real Python source (site-packages)
        self.state: dict[str, bytes] = {}  # the push repos' files as last pushed
        self.work: dict[bool, Path] = {}  # work clone per side (via_gate)

    def bare(self, name: str) -> Path:
        path = self.root / "upstream" / "bench" / f"{name}.git"
        git("init", "--bare", "-q", "-b", "main", str(path), env=self.env)
        git("config", "http.receivepack", "true", cwd=path, env=self.env)
        return path

    def url(self, name: str, via_gate: bool) -> str:
        assert self.gate is not None
        if via_gate:
            return self.gate.remote(f"bench/{name}")
        return f"{self.upstream.url}/bench/{name}.git"

    def env_for(self, via_gate: bool) -> dict[str, str]:
        return self.env if via_gate else self.direct_env

    def start_gate(self) -> None:
        workdir = self.root / "gate"
        workdir.mkdir()
        self.gate = GateProcess(workdir, self.upstream.url, self.token).start()
        self.sampler = TreeSampler(self.gate.pid).start()
        self.results["idle_rss_mib"] = round(self.sampler.sample() / 1024, 1)

    def window(self) -> int:
        """Start a measurement window: RSS peaks reset; returns where the gate's log stands."""
        assert self.gate is not None and self.sampler is not None
        self.sampler.reset(self.gate.worker_pids())
        return len(self.gate.lines)

    def memory(self) -> dict[str, float]:
        assert self.gate is not None and self.sampler is not None
        workers = self.gate.worker_pids()
        hwm = max((status_kib(pid, "VmHWM") for pid in workers), default=0)
        return {
            "tree_peak_mib": round(self.sampler.peak_mib(), 1),
            "tree_anon_peak_mib": round(self.sampler.anon_peak_mib(), 1),
            "worker_hwm_mib": hwm / 1024,
        }

    def gate_durations(self, since: int, service: str, repo: str) -> list[float]:
        """The gate's own duration_ms for the pushes it relayed (not git's empty probe POST)."""
        assert self.gate is not None
        pat = re.compile(rf"gitgate\.request: {service} bench/{repo} allow .*duration_ms=(\d+)")
        return [int(m.group(1)) / 1000 for x in self.gate.lines[since:] if (m := pat.search(x))]

    def pair(self, reps: int, run: Any) -> dict[str, Any]:
        """`run(via_gate, i)` -> seconds, interleaved so neither side always goes first; also
        the CPU seconds the gate's process tree spent on each of its runs."""
        assert self.gate is not None
        times: dict[bool, list[float]] = {False: [], True: []}
        cpu = []
        for i in range(reps):
            for via_gate in (False, True) if i % 2 == 0 else (True, False):
                before = tree_cpu_s(self.gate.pid)
                times[via_gate].append(run(via_gate, i))
                if via_gate:
                    cpu.append(tree_cpu_s(self.gate.pid) - before)
        direct, gate = summary(times[False]), summary(times[True])
        return {
            "direct": direct,
            "gate": gate,
            "ratio": gate["median"] / direct["median"],  # type: ignore[operator]
            "ratio_min": gate["min"] / direct["min"],  # type: ignore[operator]
            "gate_cpu_s": summary(cpu),
        }

    def clone(self) -> None:
        mb = self.args.clone_mb
        bare = self.bare("big")
        fast_import(bare, big_history(int(mb * 1.05e6)), self.env)
        git("repack", "-adbq", cwd=bare, env=self.env)  # one pack + bitmap, like GitHub serves
        pack = sum(p.stat().st_size for p in (bare / "objects" / "pack").glob("*.pack"))
        if pack < mb * 1e6:
            raise BenchError(f"the packed repository is {pack / 1e6:.1f} MB, under {mb} MB")
        head = git("rev-parse", "main", cwd=bare, env=self.env).strip()

        def run(via_gate: bool, i: int) -> float:
            dest = self.root / "clones" / f"{via_gate}-{i}"
            url = self.url("big", via_gate)
            took, _ = timed_git("clone", "--bare", "-q", url, str(dest), env=self.env_for(via_gate))
            got = git("rev-parse", "main", cwd=dest, env=self.env).strip()
            shutil.rmtree(dest)
            if got != head:
                raise BenchError(f"clone {'via the gate' if via_gate else 'direct'} got {got}")
            return took

        run(False, -1), run(True, -1)  # warm the page cache and the gate's worker
        self.window()
        self.results["clone"] = {"pack_mb": pack / 1e6, **self.pair(self.args.clone_reps, run)}
        self.results["clone"]["rss"] = self.memory()

    def push_repos(self) -> None:
        """Two identical upstream repos seeded with real source; a work clone of each."""
        self.sources = python_sources()
        seed = take(reversed(self.sources), int(self.args.seed_mb * 1e6))
        self.state = {f"src/{rel}": data for rel, data in seed}
        for via_gate in (False, True):
            bare = self.bare(PUSH_REPOS[via_gate])
            seed_commit = Commit("refs/heads/main", None, "seed", T0, self.state.items())
            fast_import(bare, [seed_commit], self.env)
            self.work[via_gate] = self.root / "work" / PUSH_REPOS[via_gate]
            url = self.url(PUSH_REPOS[via_gate], via_gate)
            git("clone", "--no-checkout", "-q", url, str(self.work[via_gate]),
                env=self.env_for(via_gate))  # fmt: skip

    def push(self, via_gate: bool, ref: str, files: Files, when: int) -> float:
        """Commit `files` on top of main (fast-import, untimed), then time `git push`."""
        repo = self.work[via_gate]
        parent = git("rev-parse", "refs/heads/main", cwd=repo, env=self.env).strip()
        commit = Commit(ref, parent, f"bench {when}", when, files)
        fast_import(repo / ".git", [commit], self.env)
        took, err = timed_git("push", "-q", "origin", ref, cwd=repo, env=self.env_for(via_gate))
        bare = self.root / "upstream" / "bench" / f"{PUSH_REPOS[via_gate]}.git"
        want = git("rev-parse", ref, cwd=repo, env=self.env).strip()
        if git("rev-parse", ref, cwd=bare, env=self.env).strip() != want:
            raise BenchError(f"{ref} did not reach upstream ({'gate' if via_gate else 'direct'})")
        if via_gate:  # proof that the scanner really ran: what it reported
            self.findings.append(sum(map(int, re.findall(r"(\d+) secret\(s\) found", err))))
        return took

    def small_pushes(self) -> None:
        changes: dict[int, Files] = {}

        def small(via_gate: bool, i: int) -> float:
            if i not in changes:  # the same 20 files for both sides of a pair
                changes[i] = small_change(self.state, i)
            files = changes[i]
            return self.push(via_gate, "refs/heads/main", files, T0 + 3600 * (i + 2))

        small(False, -1), small(True, -1)  # warms the mirror and starts the scanner
        since, self.findings = self.window(), []
        res = self.pair(self.args.push_reps, small)
        gate_side = self.gate_durations(since, "receive-pack", PUSH_REPOS[True])
        res.update(files=20, gate_receive_pack_s=summary(gate_side), rss=self.memory())
        self.results["small_push"] = res

    def source_pushes(self) -> None:
        source = take(self.sources, int(self.args.source_mb * 1e6))

        def variant(i: int) -> Files:  # a first line per run: new blobs, no cache, no mirror
            return [(f"vendor/{rel}", f"# bench variant {i}\n".encode() + d) for rel, d in source]

        def big(via_gate: bool, i: int) -> float:
            return self.push(via_gate, f"refs/heads/src-{i}", variant(i), T0 + 7200 * (i + 100))

        since, self.findings = self.window(), []
        res = self.pair(self.args.source_reps, big)
        mb = sum(len(d) for _, d in variant(0)) / 1e6
        extra = res["gate"]["median"] - res["direct"]["median"]
        gate_side = self.gate_durations(since, "receive-pack", PUSH_REPOS[True])
        res.update(
            mb=mb,
            files=len(source),
            secret_findings_reported=self.findings,
            inspection_mb_s=mb / extra if extra > 0 else math.inf,
            gate_receive_pack_s=summary(gate_side),
            rss=self.memory(),
        )
        self.results["source_push"] = res

    def close(self) -> None:
        self.results["loadavg_1m_at_end"] = os.getloadavg()[0]
        if self.sampler is not None:
            self.sampler.stop()
        if self.gate is not None:
            self.results["left_running_after_stop"] = self.gate.stop()
            (self.root / "gate" / "gitgate.log").write_text("\n".join(self.gate.lines) + "\n")
        self.upstream.stop()


def say(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


def _cell(series: dict[str, Any]) -> str:
    return f"{series['median']:.3f} ({series['min']:.3f})"


def report(r: dict[str, Any]) -> str:
    """The results as a markdown table, then the inspection throughput."""
    head = (
        "| scenario | direct s, median (min) | gate s, median (min) | gate ÷ direct, median "
        "(min) | aim | met | gate CPU s | gate tree peak RSS MiB | worker VmHWM MiB |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
    )
    labels = {
        "clone": f"clone --bare, {r['clone']['pack_mb']:.1f} MB pack",
        "small_push": f"small push, {r['small_push']['files']} files (warm mirror)",
        "source_push": f"source push, {r['source_push']['mb']:.1f} MB, "
        f"{r['source_push']['files']} .py files",
    }
    rows = []
    for key, label in labels.items():
        s, aim = r[key], AIMS.get(key)
        met = "—" if aim is None else ("yes" if s["ratio"] <= aim else "**no**")
        rows.append(
            f"| {label} | {_cell(s['direct'])} | {_cell(s['gate'])} | {s['ratio']:.2f} "
            f"({s['ratio_min']:.2f}) | {f'≤ {aim}' if aim else '—'} | {met} | "
            f"{s['gate_cpu_s']['median']:.2f} | {s['rss']['tree_peak_mib']:.0f} | "
            f"{s['rss']['worker_hwm_mib']:.0f} |"
        )
    src = r["source_push"]
    extra = src["gate"]["median"] - src["direct"]["median"]
    tail = (
        f"\nInspection throughput: {src['mb']:.1f} MB of new blobs / {extra:.2f} s of gate time "
        f"(gate - direct, medians) = **{src['inspection_mb_s']:.1f} MB/s**; raw gate push "
        f"{src['gate']['median']:.2f} s ({src['mb'] / src['gate']['median']:.1f} MB/s end to "
        f"end). Gate server side of a push (its own duration_ms): small "
        f"{_cell(r['small_push']['gate_receive_pack_s'])} s, source "
        f"{_cell(src['gate_receive_pack_s'])} s. Secret findings the gate reported per source "
        f"push: {src['secret_findings_reported']} (the scanner ran). Idle gate tree RSS: "
        f"{r['idle_rss_mib']:.0f} MiB. Load average (1 min) at start / end: "
        f"{r['machine']['loadavg_1m_at_start']:.2f} / {r['loadavg_1m_at_end']:.2f}."
    )
    return head + "\n".join(rows) + "\n" + tail


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="gitgate overhead vs a direct upstream")
    p.add_argument("--quick", action="store_true", help="smoke run: 10 MB clone, 5 MB source")
    p.add_argument("--json", metavar="FILE", help="also write the raw numbers to FILE")
    p.add_argument("--keep", action="store_true", help="keep the work dir (and gate/gitgate.log)")
    p.add_argument("--workdir", help="where the temporary work directory goes ($TMPDIR)")
    p.add_argument("--clone-mb", type=float, help="packed size of the clone repo (100; quick 10)")
    p.add_argument("--source-mb", type=float, help="Python source pushed (20; quick 5)")
    p.add_argument("--clone-reps", type=int, default=3)
    p.add_argument("--push-reps", type=int, default=7)
    p.add_argument("--source-reps", type=int, default=3)
    args = p.parse_args(argv)
    args.mode = "quick" if args.quick else "full"
    args.clone_mb = args.clone_mb or (10 if args.quick else 100)
    args.source_mb = args.source_mb or (5 if args.quick else 20)
    args.seed_mb = 1 if args.quick else 3  # the small-push repos' starting tree
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="gitgate-bench-", dir=args.workdir))
    bench = Bench(root, args)
    try:
        say(f"work dir {root}; starting the gate")
        bench.start_gate()
        say(f"clone: {args.clone_mb} MB, {args.clone_reps} runs each way")
        bench.clone()
        say(f"pushes: {args.push_reps} small, {args.source_reps} of {args.source_mb} MB source")
        bench.push_repos()
        bench.small_pushes()
        bench.source_pushes()
    finally:
        bench.close()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(report(bench.results))
    if args.json:
        Path(args.json).write_text(json.dumps(bench.results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
