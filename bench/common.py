"""What the benchmarks stand on: a streaming upstream, the real gate under gunicorn, RSS sampling.

The upstream is the tests' own (tests/fixtures/upstream.py): `git http-backend` streaming
both ways, as GitHub does, so the gate's streaming cost is not hidden behind the upstream's.
The gate runs exactly as in production: `gitgate serve` execs gunicorn with gthread workers,
here with one worker so its memory can be measured. Memory is the sum of VmRSS over the
gunicorn master and all of its descendants (worker, scanner processes, git subprocesses),
sampled every 50 ms: shared pages count once per process, so the sum is an upper bound.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.fixtures.upstream import UpstreamServer


class BenchError(Exception):
    """A step of the benchmark failed; the message says which."""


def git_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The client's environment: no user or system config, no prompts."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "LANG": "C",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        **(extra or {}),
    }


def git(*args: str, env: dict[str, str], cwd: Path | None = None) -> str:
    return _run_git(args, env, cwd)[0]


def _run_git(args: tuple[str, ...], env: dict[str, str], cwd: Path | None) -> tuple[str, str]:
    proc = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, timeout=1800)
    if proc.returncode != 0:
        tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-5:]
        raise BenchError(f"git {args[0]} failed ({proc.returncode}): {' | '.join(tail)}")
    return proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")


def timed_git(*args: str, env: dict[str, str], cwd: Path | None = None) -> tuple[float, str]:
    """Wall-clock seconds of one git run (the client's whole experience), and its stderr."""
    start = time.perf_counter()
    _, err = _run_git(args, env, cwd)
    return time.perf_counter() - start, err


def summary(times: list[float]) -> dict[str, float | list[float]]:
    return {"median": statistics.median(times), "min": min(times), "all": times}


# --- upstream -------------------------------------------------------------------------------


class StreamingUpstream(UpstreamServer):
    """The tests' upstream (`git http-backend` on a loopback port, streaming both bodies),
    plus the client config a direct push needs to send the same credential as the gate."""

    def __init__(self, root: Path, token: str) -> None:
        super().__init__(root, token)
        self.auth = self.expected_auth()

    def client_env(self) -> dict[str, str]:
        """Config for a direct git client: the same header the gate sends (no 401 round trip)."""
        return {
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "http.extraHeader",
            "GIT_CONFIG_VALUE_0": f"Authorization: {self.auth}",
        }

    def start(self) -> StreamingUpstream:
        super().start()
        return self


# --- memory ---------------------------------------------------------------------------------


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rpartition(b")")[2].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def process_tree(root: int) -> list[int]:
    children, out, todo = _children_map(), [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def status_kib(pid: int, key: str) -> int:
    """A `/proc/<pid>/status` figure in KiB (VmRSS, VmHWM); 0 when the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def tree_cpu_s(root: int) -> float:
    """CPU seconds a process tree has used so far (user + system, reaped children included)."""
    ticks = 0
    for pid in process_tree(root):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_bytes().rpartition(b")")[2].split()
            ticks += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


class TreeSampler:
    """Peak of the summed VmRSS of a process tree, sampled in a thread every `interval` s;
    and of its RssAnon alone: VmRSS also counts file pages a process maps, and dulwich maps a
    pushed pack whole (a 500 MB push shows ~500 MB of page cache in the worker's RSS, which
    the kernel reclaims at will), while RssAnon is the heap and stacks the gate allocated."""

    def __init__(self, root: int, interval: float = 0.05) -> None:
        self.root, self.interval = root, interval
        self._peak = 0
        self._anon_peak = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> TreeSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self) -> int:
        pids = process_tree(self.root)
        total = sum(status_kib(pid, "VmRSS") for pid in pids)
        anon = sum(status_kib(pid, "RssAnon") for pid in pids)
        with self._lock:
            self._peak = max(self._peak, total)
            self._anon_peak = max(self._anon_peak, anon)
        return total

    def reset(self, workers: Iterable[int]) -> None:
        """Start a new window: peak = now, and the workers' VmHWM set back to their RSS."""
        for pid in workers:
            with contextlib.suppress(OSError):
                Path(f"/proc/{pid}/clear_refs").write_text("5")
        now = self.sample()
        with self._lock:
            self._peak = now
            self._anon_peak = sum(status_kib(pid, "RssAnon") for pid in process_tree(self.root))

    def peak_mib(self) -> float:
        self.sample()
        with self._lock:
            return self._peak / 1024

    def anon_peak_mib(self) -> float:
        self.sample()
        with self._lock:
            return self._anon_peak / 1024


# --- the gate -------------------------------------------------------------------------------

CONFIG = """\
[server]
bind = "127.0.0.1:0"
workers = 1
log_level = "info"

[storage]
data_dir = "{data}"

[upstream]
git_url = "{upstream}"
token = "env:BENCH_UPSTREAM_TOKEN"

[auth]
required = false

[scan]
time_budget = "{budget}"

[hooks]
dir = "{data}/no-hooks"

[[rule]]
name = "bench"
repos = ["**"]
refs = ["**"]
groups = ["*"]
access = "write"
secrets = {secrets}
hooks = false

[rule.actions]
secrets = "allow"  # real source has secret-like test strings: scan it all, then relay anyway
"""
_LISTENING = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)")


class GateProcess:
    """The real gate: gunicorn (1 gthread worker) on a loopback port chosen by the kernel."""

    def __init__(
        self, workdir: Path, upstream_url: str, token: str, budget: str = "30m", scan: bool = True
    ) -> None:
        self.workdir = workdir
        self.token = token
        data = workdir / "data"
        self.config = workdir / "gitgate.toml"
        secrets = "true" if scan else "false"
        self.config.write_text(
            CONFIG.format(data=data, upstream=upstream_url, budget=budget, secrets=secrets)
        )
        self.lines: list[str] = []
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._up = threading.Event()

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def remote(self, repo: str) -> str:
        return f"http://127.0.0.1:{self.port}/{repo}.git"

    def worker_pids(self) -> list[int]:
        return _children_map().get(self.pid, [])

    def start(self, timeout: float = 120) -> GateProcess:
        cli = str(Path(sys.executable).parent / "gitgate")
        cmd = [cli, "serve", "--config", str(self.config), "--workers", "1"]
        cmd += ["--bind", "127.0.0.1:0"]  # the kernel picks the port; gunicorn logs it
        env = {k: v for k, v in os.environ.items() if not k.startswith("GITGATE_")}
        # HOME and XDG_RUNTIME_DIR: nothing the gate writes there escapes the work dir.
        env.update(
            BENCH_UPSTREAM_TOKEN=self.token,
            HOME=str(self.workdir),
            XDG_RUNTIME_DIR=str(self.workdir),
        )
        self._proc = subprocess.Popen(
            cmd, env=env, cwd=self.workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        threading.Thread(target=self._read_log, daemon=True).start()
        if not self._up.wait(timeout) or not self.port:
            self.stop()
            raise BenchError("the gate did not start:\n" + "\n".join(self.lines[-30:]))
        try:  # blocks in the listen backlog until the worker has booted
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=timeout):
                pass
        except OSError as ex:
            self.stop()
            tail = "\n".join(self.lines[-30:])
            raise BenchError(f"the gate is not ready ({ex}):\n{tail}") from None
        return self

    def _read_log(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        for raw in self._proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.lines.append(line)
            if not self.port and (m := _LISTENING.search(line)):
                self.port = int(m.group(1))
                self._up.set()
        self._up.set()  # EOF: the gate exited

    def stop(self) -> list[str]:
        """SIGTERM the master and wait; returns descendants that outlived it (then ended)."""
        if self._proc is None or self._proc.poll() is not None:
            return []
        tree = [(pid, _start_time(pid)) for pid in process_tree(self.pid)[1:]]
        self._proc.send_signal(signal.SIGTERM)
        try:
            self._proc.wait(timeout=150)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        deadline = time.monotonic() + 5  # the scanner's processes exit on their own, soon
        while (left := [pid for pid, t in tree if _alive(pid, t)]) and time.monotonic() < deadline:
            time.sleep(0.1)
        names = [_cmdline(pid) for pid in left]
        for pid in left:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)
        return names


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return f"pid {pid}"
    return f"pid {pid}: " + raw.replace(b"\0", b" ").decode("utf-8", "replace").strip()[:200]


def _start_time(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_bytes().rpartition(b")")[2].split()[19])
    except (OSError, IndexError, ValueError):
        return 0


def _alive(pid: int, started: int) -> bool:
    """Still running (not a zombie waiting for init), and not a new process with an old id."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_bytes().rpartition(b")")[2].split()
    except OSError:
        return False
    return fields[0] != b"Z" and int(fields[19]) == started


# --- the machine ----------------------------------------------------------------------------


def machine() -> dict[str, object]:
    meminfo = Path("/proc/meminfo").read_text()
    mem_kib = int(re.search(r"MemTotal:\s+(\d+)", meminfo).group(1))  # type: ignore[union-attr]
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"model name\s*:\s*(.+)", cpuinfo)
    versions = {}
    for dist in ("gunicorn", "dulwich", "falcon", "detect-secrets"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[dist] = metadata.version(dist)
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": model.group(1).strip() if model else platform.machine(),
        "memory_gib": round(mem_kib / 1024**2, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "loadavg_1m_at_start": os.getloadavg()[0],
        "git": subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip(),
        **versions,
    }


def source_version(repo: Path) -> str:
    """The commit the gate's code is at, `+dirty` when gitgate/ has uncommitted changes."""
    env = git_env(repo, {"GIT_OPTIONAL_LOCKS": "0"})  # read only: no index refresh
    head = git("rev-parse", "--short=12", "HEAD", cwd=repo, env=env).strip()
    dirty = git("status", "--porcelain", "--", "gitgate", cwd=repo, env=env).strip()
    return head + ("+dirty" if dirty else "")
