"""Issue #8 §9: SIGTERM ends the real `gitgate serve` (gunicorn, gthread) within seconds, with
no scanner process left behind, and a push caught mid-scan is refused cleanly in-band."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.gate import UPSTREAM_TOKEN_ENV, write_config
from tests.fixtures.service import GateProcess, base_env, serve_argv
from tests.fixtures.upstream import UpstreamServer, commit, git, git_env, upstream_ref
from tests.test_scanning import SLOW_LINE

pytestmark = pytest.mark.slow
STOP_BOUND_S = 20  # gunicorn's graceful timeout is 120 s; a scan here would run for minutes


def group(pgid: int) -> list[tuple[int, str]]:
    """(pid, command line) of every live process in process group `pgid`, from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue  # gone meanwhile
        fields = stat[stat.rfind(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append((int(entry.name), cmdline.strip()))
    return members


def parent(pid: int) -> int:
    stat = (Path("/proc") / str(pid) / "stat").read_text()
    return int(stat[stat.rfind(")") + 2 :].split()[1])


def scanners(pgid: int) -> list[int]:
    return [pid for pid, cmd in group(pgid) if "forkserver" in cmd]


def wait_until(predicate: object, timeout: float = 60.0) -> bool:
    """Poll a condition (process tables have no change notification) until it holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def gate(upstream: UpstreamServer, tmp_path: Path) -> Iterator[GateProcess]:
    config = write_config(
        tmp_path / "gate.toml",
        tmp_path / "data",
        upstream.url,
        server={"workers": 1},
        scan={"workers": 2, "time_budget": 600},
    )
    proc = GateProcess(
        serve_argv(config), base_env(**{UPSTREAM_TOKEN_ENV: upstream.token or ""})
    ).start()
    yield proc
    proc.stop()


def _sigterm(gate: GateProcess) -> float:
    assert gate.proc is not None
    started = time.monotonic()
    gate.proc.send_signal(signal.SIGTERM)
    try:
        gate.proc.wait(STOP_BOUND_S * 3)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the gate did not stop within {STOP_BOUND_S * 3} s of SIGTERM")
    return time.monotonic() - started


def test_sigterm_mid_scan_refuses_the_push_and_stops_everything(
    gate: GateProcess, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    bare, repo = seeded
    before = upstream_ref(bare, "refs/heads/main")
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo), str(work))
    # each such line costs detect-secrets ~4 s: this push would be scanned for minutes
    commit(work, {"src/slow.py": "\n".join([SLOW_LINE] * 40) + "\n"}, "slow to scan")
    push = subprocess.Popen(
        ["git", "push", "origin", "HEAD:main"],
        cwd=work,
        env=git_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # the pool starts with the push's first scan: fork server plus two workers
        assert wait_until(lambda: len(scanners(gate.pid)) >= 3), group(gate.pid)
        elapsed = _sigterm(gate)
        _, err = push.communicate(timeout=60)
    finally:
        if push.poll() is None:
            push.kill()
    assert elapsed < STOP_BOUND_S, f"stopped after {elapsed:.1f} s"
    assert gate.proc is not None and gate.proc.returncode == 0
    assert group(gate.pid) == []  # no worker, fork server or scanner outlived the arbiter
    assert push.returncode != 0
    assert "the gate is shutting down" in err and "push again" in err, err
    assert "nothing was relayed or queued" in err
    assert upstream_ref(bare, "refs/heads/main") == before


def test_sigterm_when_idle_leaves_no_process(
    gate: GateProcess, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    bare, repo = seeded
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo), str(work))
    new = commit(work, {"src/util.py": "def util():\n    return 2\n"}, "scanned, clean")
    assert git("push", "origin", "HEAD:main", cwd=work, check=False).returncode == 0
    assert upstream_ref(bare, "refs/heads/main") == new
    assert len(scanners(gate.pid)) >= 3  # the scanner's processes are running
    elapsed = _sigterm(gate)
    assert elapsed < STOP_BOUND_S
    assert gate.proc is not None and gate.proc.returncode == 0
    assert group(gate.pid) == []


def test_scanner_processes_die_with_a_killed_worker(
    gate: GateProcess, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    """A worker SIGKILLed (gunicorn's end of a grace period, the OOM killer) takes its
    scanner processes with it, even mid-scan."""
    _, repo = seeded
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo), str(work))
    commit(work, {"src/slow.py": "\n".join([SLOW_LINE] * 40) + "\n"}, "slow to scan")
    push = subprocess.Popen(
        ["git", "push", "origin", "HEAD:main"],
        cwd=work,
        env=git_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_until(lambda: len(scanners(gate.pid)) >= 3), group(gate.pid)
        pool = scanners(gate.pid)
        (worker,) = [pid for pid, _ in group(gate.pid) if parent(pid) == gate.pid]
        os.kill(worker, signal.SIGKILL)
        gone = wait_until(lambda: not set(pool) & set(scanners(gate.pid)), 30)
        assert gone, group(gate.pid)
    finally:
        push.kill()
        push.wait()


def test_ctrl_c_after_a_scanned_push_stops_everything(
    gate: GateProcess, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    """Ctrl-C in a terminal sends SIGINT to the whole foreground process group: arbiter,
    worker, fork server and scanner pool alike. The pool's processes must leave stopping to
    the gate (not die and be respawned by the pool), so the worker exits and nothing remains."""
    bare, repo = seeded
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo), str(work))
    new = commit(work, {"src/util.py": "def util():\n    return 3\n"}, "scanned, clean")
    assert git("push", "origin", "HEAD:main", cwd=work, check=False).returncode == 0
    assert upstream_ref(bare, "refs/heads/main") == new
    pool = scanners(gate.pid)
    assert len(pool) >= 3  # fork server plus two workers, made by the scan
    assert gate.proc is not None
    started = time.monotonic()
    os.killpg(gate.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
    try:
        gate.proc.wait(STOP_BOUND_S * 3)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running {STOP_BOUND_S * 3} s after Ctrl-C: {group(gate.pid)}")
    assert time.monotonic() - started < STOP_BOUND_S
    assert wait_until(lambda: group(gate.pid) == [], 10), group(gate.pid)
    log = gate.log_text()
    # a pool process interrupted mid-wait dies (holding the task queue's lock at times, which
    # is what left the worker stuck) and the pool respawns it: none may take the SIGINT
    assert "KeyboardInterrupt" not in log and "Traceback" not in log, log


def test_sigterm_while_the_scanner_starts_ends_the_worker_at_once(tmp_path: Path) -> None:
    """A SIGTERM right after the worker's first answer lands while its scanner processes are
    still being started. The worker used to hang at exit (the fork server waited for the
    half-made pool, the pool for the worker, the worker for the fork server) until gunicorn's
    graceful timeout, 30 s, killed it: every `systemctl stop` soon after a start, and 30 s
    of four tests' teardowns. (Whether this SIGTERM lands inside that window depends on how
    fast the pool starts; on a slow machine it hung here every time before the fix.)"""
    from tests.fixtures.service import http_get

    (tmp_path / "cwd").mkdir()
    gate = GateProcess(
        serve_argv(None), base_env(GITGATE_DATA_DIR=str(tmp_path / "data")), tmp_path / "cwd"
    ).start()
    try:
        assert http_get(f"{gate.url}/healthz")[0] == 200  # the worker is up
        assert gate.proc is not None
        gate.proc.send_signal(signal.SIGTERM)
        assert gate.proc.wait(15) == 0  # well inside the 30 s graceful timeout
        assert "SIGKILL" not in gate.log_text()
    finally:
        gate.stop()
