"""Issue #11: push cost when upstream moved, after many pushes, under 32 agents, at 500 MB,
for a 1,000-commit history and for 24 MB of real source.

    .venv/bin/python bench/bench_upkeep.py [--quick] [--json FILE] [--earlier 250,1000,2000]
        [--commits 1000] [--source-mb 24]

The same harness as bench_gate.py (one real gate under gunicorn, one streaming upstream,
direct and gate runs interleaved, two identical upstream repos per scenario so neither side
sees the other's pushes). Each ratio is printed beside its noise floor: the spread (max/min)
of the direct runs of the same scenario in the same run, since a ratio closer to 1 than that
cannot be told from noise.

- small push, warm mirror: 20 files, as bench_gate.py.
- upstream moved: before each timed push, a commit lands upstream behind the gate's back (a
  PR merged on GitHub); the agent fetches it, commits on top, pushes (timed).
- after N earlier pushes: N one-file pushes (4 clients, own branches), then small pushes.
  Reports the mirror's pack count at each N.
- N concurrent agents on one repo: N clones push a commit each to their own branch at once;
  throughput (pushes/s) gate ÷ direct.
- big push: M files of 1 MiB random bytes in one commit. Peak disk of the gate (its data dir
  plus deleted-but-open spool files) over the push size.
- 1,000 commits: bench_history.py's seeded history (tests/fixtures/bighistory.py) pushed whole
  to a fresh empty upstream repo per run and side, secret scan on (the gate's default); a new
  seed per pair of runs, so no run finds its blobs in the gate's scan cache.
- real source: bench_gate.py's source push, one commit of ~24 MB of site-packages *.py on
  top of a seeded repo, scan on; also the gate's inspection throughput, as bench_gate.py
  defines it: MB of new blobs / (gate push - direct push, medians).
Peak RSS is the gate's whole process tree (bench/common.py), per scenario.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_gate import T0, Bench, Commit, fast_import, small_change
from bench.bench_history import build_history
from bench.common import BenchError, git, process_tree, summary, timed_git

AIMS = {
    "small_push": 1.2,
    "upstream_moved": 1.3,
    "earlier": 1.3,
    "big_push": 2.0,
    "commits": 3.0,
    "source_mb_s": 25.0,  # the gate's inspection throughput, MB/s: at least
}


def noise(direct: list[float]) -> float:
    """max/min of the direct runs: how far apart two measurements of the same thing were."""
    return max(direct) / min(direct) if direct else float("nan")


class DiskSampler:
    """Peak bytes the gate holds on disk: files under its data dir plus files its processes
    keep open after unlinking them (spools are anonymous temporary files)."""

    def __init__(self, data: Path, root_pid: int) -> None:
        self.data, self.root_pid = data, root_pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> int:
        seen: set[tuple[int, int]] = set()
        total = 0
        for dirpath, _dirs, files in os.walk(self.data):
            for name in files:
                try:
                    st = os.lstat(os.path.join(dirpath, name))
                except OSError:
                    continue
                if (st.st_dev, st.st_ino) not in seen:
                    seen.add((st.st_dev, st.st_ino))
                    total += st.st_blocks * 512
        for pid in process_tree(self.root_pid):
            try:
                fds = os.listdir(f"/proc/{pid}/fd")
            except OSError:
                continue
            for fd in fds:
                try:
                    st = os.stat(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                key = (st.st_dev, st.st_ino)
                if st.st_nlink == 0 and key not in seen and (st.st_mode & 0o170000) == 0o100000:
                    seen.add(key)
                    total += st.st_blocks * 512
        self.peak = max(self.peak, total)
        return total

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self.sample()

    def __enter__(self) -> DiskSampler:
        self.base = self.sample()
        self.peak = self.base
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


class Upkeep(Bench):
    def seed_pair(self, name: str, files: dict[str, bytes]) -> dict[bool, Path]:
        """`name-direct` and `name-gate` upstream repos seeded alike; a work clone of each."""
        work = {}
        for via_gate in (False, True):
            repo = f"{name}-{'gate' if via_gate else 'direct'}"
            bare = self.bare(repo)
            fast_import(
                bare, [Commit("refs/heads/main", None, "seed", T0, files.items())], self.env
            )
            work[via_gate] = self.root / "work" / repo
            git(
                "clone",
                "--no-checkout",
                "-q",
                self.url(repo, via_gate),
                str(work[via_gate]),
                env=self.env_for(via_gate),
            )
        return work

    def commit_push(
        self, work: Path, via_gate: bool, ref: str, files: Any, when: int, parent: str = "HEAD"
    ) -> float:
        head = git("rev-parse", parent, cwd=work, env=self.env).strip()
        fast_import(work / ".git", [Commit(ref, head, f"bench {when}", when, files)], self.env)
        took, _ = timed_git(
            "push", "-q", "origin", f"{ref}:{ref}", cwd=work, env=self.env_for(via_gate)
        )
        return took

    def clients(self, work: dict[bool, Path], name: str, n: int) -> dict[bool, list[Path]]:
        """`n` copies of each side's work clone, client k on its own branch `agentK`."""
        out: dict[bool, list[Path]] = {}
        for via_gate in (False, True):
            out[via_gate] = []
            for k in range(n):
                dest = self.root / "work" / f"{name}-{via_gate}-{k}"
                shutil.copytree(work[via_gate], dest)
                git("branch", f"agent{k}", "main", cwd=dest, env=self.env)
                out[via_gate].append(dest)
        return out

    def result(self, res: dict[str, Any], **extra: Any) -> dict[str, Any]:
        res["noise_floor"] = noise(res["direct"]["all"])
        res.update(extra, rss=self.memory())
        return res

    def upstream_moved(self) -> None:
        state = {f"src/m{i}.py": f"X = {i}\n".encode() * 50 for i in range(200)}
        work = self.seed_pair("moved", state)
        changes: dict[int, Any] = {}

        def run(via_gate: bool, i: int) -> float:
            repo = f"moved-{'gate' if via_gate else 'direct'}"
            bare = self.root / "upstream" / "bench" / f"{repo}.git"
            tip = git("rev-parse", "main", cwd=bare, env=self.env).strip()
            theirs = [(f"merged/pr{i}.py", f"PR = {i}\n".encode())]
            fast_import(bare, [Commit("refs/heads/main", tip, f"PR {i}", T0 + i, theirs)], self.env)
            git("fetch", "-q", "origin", cwd=work[via_gate], env=self.env_for(via_gate))
            if i not in changes:  # the same 20 files for both sides of a pair
                changes[i] = small_change(state, 200 + i)
            files = changes[i]
            return self.commit_push(
                work[via_gate],
                via_gate,
                "refs/heads/main",
                files,
                T0 + 10 * i + 5,
                parent="origin/main",
            )

        run(False, -1), run(True, -1)
        self.window()
        self.results["upstream_moved"] = self.result(self.pair(self.args.push_reps, run))

    def earlier_pushes(self) -> None:
        state = {f"src/e{i}.py": f"Y = {i}\n".encode() * 50 for i in range(200)}
        work = self.seed_pair("many", state)
        clients = self.clients(work, "many", 4)
        done = 0
        out: dict[str, Any] = {}
        changes: dict[int, Any] = {}
        self.window()
        for target in self.args.earlier:

            def one(args: tuple[bool, int], start: int = done, end: int = target) -> None:
                via_gate, k = args  # one client's share, in order: its branch fast-forwards
                for n in range(start + k, end, 4):
                    ref = f"refs/heads/agent{k}"
                    self.commit_push(
                        clients[via_gate][k],
                        via_gate,
                        ref,
                        [(f"c{k}/n{n}.txt", f"{n}\n".encode())],
                        T0 + n,
                        ref,
                    )

            with ThreadPoolExecutor(8) as pool:
                list(pool.map(one, [(g, k) for k in range(4) for g in (False, True)]))
            done = target

            def run(via_gate: bool, i: int, target: int = target) -> float:
                if (target, i) not in changes:
                    changes[target, i] = small_change(state, 1000 + target + i)  # type: ignore[index]
                files = changes[target, i]  # type: ignore[index]
                return self.commit_push(
                    work[via_gate],
                    via_gate,
                    "refs/heads/main",
                    files,
                    T0 + 100_000 + target * 10 + i,
                )

            res = self.pair(self.args.push_reps, run)
            mirror = self.root / "gate" / "data" / "mirrors" / "bench" / "many-gate.git"
            packs = len(list((mirror / "objects" / "pack").glob("*.idx")))
            out[str(target)] = self.result(res, mirror_packs=packs)
        self.results["earlier"] = out

    def concurrent(self) -> None:
        n = self.args.agents
        work = self.seed_pair("conc", {"README": b"concurrent agents\n"})
        clients = self.clients(work, "conc", n)

        def rnd(via_gate: bool, i: int) -> float:
            start = threading.Barrier(n + 1)

            def agent(k: int) -> None:
                start.wait()
                ref = f"refs/heads/agent{k}"
                self.commit_push(
                    clients[via_gate][k],
                    via_gate,
                    ref,
                    [(f"agent{k}/r{i}.py", f"R = {i}\n".encode())],
                    T0 + i,
                    ref,
                )

            threads = [threading.Thread(target=agent, args=(k,)) for k in range(n)]
            for t in threads:
                t.start()
            started = time.perf_counter()
            start.wait()
            for t in threads:
                t.join()
            return time.perf_counter() - started

        rnd(False, -1), rnd(True, -1)
        self.window()
        res = self.pair(self.args.rounds, rnd)
        res["throughput_ratio"] = 1 / res["ratio"]  # pushes/s gate ÷ direct
        self.results["concurrent"] = self.result(res, agents=n)

    def big_push(self) -> None:
        work = self.seed_pair("big", {"README": b"big pushes\n"})
        count = self.args.big_files
        rng = random.Random(11)
        files = [(f"blobs/f{j:04d}.bin", rng.randbytes(1024 * 1024)) for j in range(count)]
        disk: list[float] = []
        assert self.gate is not None

        def run(via_gate: bool, i: int) -> float:
            salted = [(p, f"{i}".encode() + d[1:]) for p, d in files]  # new blobs every run
            if not via_gate:
                return self.commit_push(work[False], False, f"refs/heads/big{i}", salted, T0 + i)
            assert self.gate is not None
            with DiskSampler(self.root / "gate" / "data", self.gate.pid) as ds:
                took = self.commit_push(work[True], True, f"refs/heads/big{i}", salted, T0 + i)
            disk.append((ds.peak - ds.base) / (count * 1024 * 1024))
            return took

        self.window()
        res = self.pair(self.args.big_reps, run)
        self.results["big_push"] = self.result(res, mb=count * 1.048576, disk_ratio=summary(disk))

    def commits(self) -> None:
        """A seeded history pushed whole to a fresh empty repo each run (one per side); each
        pair of runs its own seed, so the gate's scan cache has never seen its blobs."""
        histories: dict[int, tuple[Path, str]] = {}

        def run(via_gate: bool, i: int) -> float:
            if i not in histories:  # untimed: the same history for both sides of a pair
                path = self.root / f"history-{i}.git"
                histories[i] = path, build_history(path, self.args.commits, self.env, 100 + i)
            history, tip = histories[i]
            name = f"hist-{'gate' if via_gate else 'direct'}-{i}"
            bare = self.bare(name)
            url, env = self.url(name, via_gate), self.env_for(via_gate)
            took, _ = timed_git("push", "-q", url, "main", cwd=history, env=env)
            if git("rev-parse", "main", cwd=bare, env=self.env).strip() != tip:
                raise BenchError(f"{name}: main did not reach upstream")
            shutil.rmtree(bare)
            return took

        run(False, -1), run(True, -1)
        self.window()
        res = self.pair(self.args.commits_reps, run)
        self.results["commits"] = self.result(res, commits=self.args.commits)

    def source(self) -> None:
        """bench_gate.py's source push (its repos, its throughput), with this table's extras."""
        if not self.work:
            self.push_repos()
        if "small_push" not in self.results:  # warm the mirror and the scanner, untimed
            files = small_change(self.state, 99)
            for via_gate in (False, True):
                self.push(via_gate, "refs/heads/main", files, T0 + 99)
        self.source_pushes()
        self.result(self.results["source_push"])


def _row(
    label: str,
    s: dict[str, Any],
    aim: float | None,
    ratio: float,
    note: str = "",
    at_least: float | None = None,
) -> str:
    """A row; `aim` is a most for the ratio, `at_least` (instead) a least for `s`'s MB/s."""
    if at_least is not None:
        met, goal = s["inspection_mb_s"] >= at_least, f"≥ {at_least:g} MB/s"
    else:
        met, goal = aim is None or ratio <= aim, f"≤ {aim}" if aim else "—"
    return (
        f"| {label} | {s['direct']['median']:.3f} | {s['gate']['median']:.3f} | {ratio:.2f} | "
        f"{s['noise_floor']:.2f} | {goal} | {'—' if goal == '—' else 'yes' if met else '**no**'} "
        f"| {s['rss']['tree_peak_mib']:.0f} ({s['rss'].get('tree_anon_peak_mib', 0):.0f}) "
        f"| {note} |"
    )


def report(r: dict[str, Any]) -> str:
    rows = [
        "| scenario | direct s (median) | gate s (median) | gate ÷ direct | noise floor "
        "(direct max/min) | aim | met | gate tree peak RSS MiB (of it anonymous) | notes |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    if "small_push" in r:
        rows.append(
            _row(
                "small push, warm mirror",
                r["small_push"] | {"noise_floor": noise(r["small_push"]["direct"]["all"])},
                1.2,
                r["small_push"]["ratio"],
            )
        )
    if s := r.get("upstream_moved"):
        rows.append(_row("small push, upstream moved", s, AIMS["upstream_moved"], s["ratio"]))
    for n, s in r.get("earlier", {}).items():
        rows.append(
            _row(
                f"small push after {n} earlier pushes",
                s,
                AIMS["earlier"],
                s["ratio"],
                f"mirror packs: {s['mirror_packs']}",
            )
        )
    if s := r.get("concurrent"):
        rows.append(
            _row(
                f"{s['agents']} agents at once (round time)",
                s,
                None,
                s["ratio"],
                f"throughput gate ÷ direct **{s['throughput_ratio']:.2f}** (aim ≥ 0.9)",
            )
        )
    if s := r.get("big_push"):
        rows.append(
            _row(
                f"{s['mb']:.0f} MB push ({s['mb'] / 1.048576:.0f} x 1 MiB)",
                s,
                AIMS["big_push"],
                s["ratio"],
                f"gate disk peak ÷ push: {s['disk_ratio']['median']:.2f} (aim ≤ 1.2)",
            )
        )
    if s := r.get("commits"):
        rows.append(
            _row(f"{s['commits']:,}-commit push", s, AIMS["commits"], s["ratio"], "scan on")
        )
    if s := r.get("source_push"):
        gate_side = s["gate_receive_pack_s"]["median"]
        rows.append(
            _row(
                f"{s['mb']:.1f} MB real source ({s['files']} .py files)",
                s,
                None,
                s["ratio"],
                f"inspection **{s['inspection_mb_s']:.1f} MB/s** (MB ÷ (gate - direct), "
                f"medians); gate server side {gate_side:.2f} s; scan on",
                at_least=AIMS["source_mb_s"],
            )
        )
    return (
        "\n".join(rows) + f"\n\nLoad average (1 min) at start / end: "
        f"{r['machine']['loadavg_1m_at_start']:.2f} / {r.get('loadavg_1m_at_end', 0):.2f}."
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="gitgate push cost: upstream moved, history, load")
    p.add_argument("--quick", action="store_true", help="smoke run: small sizes and counts")
    p.add_argument("--json", metavar="FILE", help="also write the raw numbers to FILE")
    p.add_argument("--keep", action="store_true", help="keep the work dir")
    p.add_argument("--workdir", help="where the temporary work directory goes ($TMPDIR)")
    p.add_argument("--earlier", help="earlier-push checkpoints (250,1000,2000; quick 50,100)")
    p.add_argument("--agents", type=int, default=32)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--big-files", type=int, help="1 MiB files in the big push (500; quick 50)")
    p.add_argument("--big-reps", type=int, default=2)
    p.add_argument("--push-reps", type=int, default=7)
    p.add_argument("--commits", type=int, help="commits in the history push (1000; quick 100)")
    p.add_argument("--commits-reps", type=int, default=3)
    p.add_argument("--source-mb", type=float, help="real source pushed, MB (24; quick 5)")
    p.add_argument("--source-reps", type=int, default=3)
    p.add_argument(
        "--only", help="comma-separated: small,moved,earlier,concurrent,big,commits,source"
    )
    args = p.parse_args(argv)
    args.mode = "quick" if args.quick else "full"
    args.earlier = [
        int(x) for x in (args.earlier or ("50,100" if args.quick else "250,1000,2000")).split(",")
    ]
    args.big_files = args.big_files or (50 if args.quick else 500)
    args.commits = args.commits or (100 if args.quick else 1000)
    args.source_mb = args.source_mb or (5 if args.quick else 24)
    args.seed_mb, args.clone_mb = 1, 1
    args.only = set((args.only or "small,moved,earlier,concurrent,big,commits,source").split(","))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="gitgate-upkeep-", dir=args.workdir))
    bench = Upkeep(root, args)
    try:
        bench.start_gate()
        steps = [
            ("small", lambda: (bench.push_repos(), bench.small_pushes())),
            ("moved", bench.upstream_moved),
            ("earlier", bench.earlier_pushes),
            ("concurrent", bench.concurrent),
            ("big", bench.big_push),
            ("commits", bench.commits),
            ("source", bench.source),
        ]
        for name, step in steps:
            if name in args.only:
                print(f"bench: {name}", file=sys.stderr, flush=True)
                step()
    finally:
        bench.close()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(bench.results, indent=2) + "\n")
    print(report(bench.results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
