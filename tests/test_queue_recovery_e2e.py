"""No push is ever stuck, lost from the record, or mislabelled (issue #8 §5).

Real git, a real upstream (git http-backend) whose hooks stop a relay half-way, `gitgate review`
as its own process killed with SIGKILL, SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fixtures.gate import UPSTREAM_TOKEN_ENV, GateServer
from tests.fixtures.upstream import commit, git, upstream_ref
from tests.test_queue_e2e import queue_rule, queued_push

MakeGate = Callable[..., GateServer]
REVIEW = ("--as", "alice", "--group", "maintainers")
APPROVE = (sys.executable, "-m", "gitgate", "review", "approve", "1", *REVIEW)

# Blocks until the test creates `release`; then fails when `refuse` exists. A stand-in for
# GitHub taking its time, so the relaying process can be killed at a known point.
HOOK = """#!/bin/sh
touch "{mark}/entered"
while [ ! -e "{mark}/release" ]; do sleep 0.02; done
if [ -e "{mark}/refuse" ]; then touch "{mark}/refused"; exit 1; fi
exit 0
"""


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Poll a condition (synchronisation on a state, never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def install_hook(bare: Path, name: str, mark: Path) -> None:
    mark.mkdir(exist_ok=True)
    hook = bare / "hooks" / name
    hook.write_text(HOOK.format(mark=mark))
    hook.chmod(0o755)


def approve_and_kill(gate: GateServer, mark: Path) -> None:
    """`gitgate review approve 1` as its own process, killed -9 while upstream holds its relay."""
    proc = subprocess.Popen(
        [*APPROVE, "--config", str(gate.config_path)],
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: (mark / "entered").exists() or proc.poll() is not None, "the relay")
        assert proc.poll() is None, "the approval ended before its relay reached upstream"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)


def state(push_id: int = 1) -> str:
    from gitgate.store import queue

    info = queue.get(push_id)
    assert info is not None
    return info.state


def test_approve_without_the_upstream_credential_leaves_the_push_pending(
    make_gate: MakeGate,
    seeded: tuple[Path, str],
    tmp_path: Path,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bare, repo = seeded
    gate = make_gate(queue_rule(), db_url=db_url)
    _, tip, _ = queued_push(gate, repo, tmp_path)
    token = os.environ[UPSTREAM_TOKEN_ENV]
    monkeypatch.delenv(UPSTREAM_TOKEN_ENV)
    assert gate.cli("review", "approve", "1", *REVIEW) == 1
    out = capsys.readouterr().out
    assert "NOT relayed" in out and UPSTREAM_TOKEN_ENV in out and "approve again" in out
    assert token not in out
    assert state() == "pending"  # not "relaying" with nobody to relay it
    monkeypatch.setenv(UPSTREAM_TOKEN_ENV, token)
    assert gate.cli("review", "approve", "1", *REVIEW) == 0  # the same reviewer, once fixed
    assert "relayed" in capsys.readouterr().out
    assert upstream_ref(bare, "refs/heads/main") == tip and state() == "relayed"


def test_a_killed_relay_that_landed_is_recorded_relayed_not_stale(
    make_gate: MakeGate,
    seeded: tuple[Path, str],
    tmp_path: Path,
    db_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bare, repo = seeded
    gate = make_gate(queue_rule(), db_url=db_url)
    _, tip, _ = queued_push(gate, repo, tmp_path)
    mark = tmp_path / "mark"
    install_hook(bare, "post-receive", mark)  # runs after upstream moved the ref
    approve_and_kill(gate, mark)
    (mark / "release").touch()
    assert upstream_ref(bare, "refs/heads/main") == tip  # it landed ...
    assert state() == "relaying"  # ... but its relayer died before recording it
    assert gate.cli("review", "recover") == 0
    out = capsys.readouterr().out
    assert "(gone)" in out and "push #1: relayed" in out and "landed" in out
    assert state() == "relayed"
    assert gate.cli("review", "recover") == 0
    assert "no relaying pushes" in capsys.readouterr().out


@pytest.mark.parametrize("upstream_moved", [False, True], ids=["at-old", "moved"])
def test_a_killed_relay_that_did_not_land_is_retried_or_stale(
    make_gate: MakeGate,
    seeded: tuple[Path, str],
    tmp_path: Path,
    db_url: str,
    upstream_moved: bool,
) -> None:
    bare, repo = seeded
    gate = make_gate(queue_rule(), db_url=db_url)
    before = upstream_ref(bare, "refs/heads/main")
    _, tip, _ = queued_push(gate, repo, tmp_path)
    mark = tmp_path / "mark"
    install_hook(bare, "pre-receive", mark)
    approve_and_kill(gate, mark)
    (mark / "refuse").touch()  # the killed relay's push never lands
    (mark / "release").touch()
    wait_for(lambda: (mark / "refused").exists(), "upstream to refuse the killed relay")
    assert upstream_ref(bare, "refs/heads/main") == before and state() == "relaying"
    (mark / "refuse").unlink()
    moved = None
    if upstream_moved:
        direct = tmp_path / "direct"
        git("clone", "-q", str(bare), str(direct))
        moved = commit(direct, {"hotfix.txt": "fix\n"}, "hotfix by a human")
        git("push", "-q", "origin", "HEAD:main", cwd=direct)
    # the gate's own upkeep resolves it too, without any timer
    maintenance = gate.runtime.services.maintenance
    maintenance._last_housekeeping = 0.0
    maintenance.tick()
    if upstream_moved:
        assert state() == "stale"
        assert upstream_ref(bare, "refs/heads/main") == moved  # nothing forced
    else:
        assert state() == "relayed"  # retried: the approvals stood
        assert upstream_ref(bare, "refs/heads/main") == tip


def test_a_pushs_session_record_is_written_when_it_starts(
    make_gate: MakeGate,
    seeded: tuple[Path, str],
    tmp_path: Path,
    db_url: str,
) -> None:
    from gitgate.store import sessions

    _, repo = seeded
    hooks = tmp_path / "site-hooks"
    hooks.mkdir()
    mark = tmp_path / "mark"
    mark.mkdir()
    (hooks / "10-wait").write_text(HOOK.format(mark=mark))
    (hooks / "10-wait").chmod(0o755)
    gate = make_gate([{"name": "all"}], db_url=db_url, sections={"hooks": {"dir": str(hooks)}})
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo), str(work))
    tip = commit(work, {"src/y.py": "y = 1\n"}, "add y")
    push = subprocess.Popen(
        ["git", "push", "origin", "HEAD:main"],
        cwd=work,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **_git_env()},
    )
    try:
        wait_for(lambda: (mark / "entered").exists(), "the push to reach the site hook")
        started = [r for r in sessions.list_sessions(repo=repo) if r["service"] == "receive-pack"]
        # were the gate to die now, this row would be the audit trail of the push
        assert [r["decision"] for r in started] == ["started"]
        assert started[0]["ref_updates"][0]["new"] == tip
        (mark / "release").touch()
        assert push.wait(60) == 0
    finally:
        (mark / "release").touch()
        push.wait(60)
    done = [r for r in sessions.list_sessions(repo=repo) if r["service"] == "receive-pack"]
    assert [(r["id"], r["decision"]) for r in done] == [(started[0]["id"], "allow")]
    assert done[0]["statuses"] == [{"ref": "refs/heads/main", "status": "ok"}]


def _git_env() -> dict[str, str]:
    from tests.fixtures.upstream import git_env

    return git_env()


def test_an_unreachable_upstream_gives_the_claim_back_for_the_next_round(db: object) -> None:
    """The taker must not keep a claim it could not resolve: it would never be retried."""
    import io
    import socket

    from dulwich.protocol import pkt_line

    from gitgate.db import connection
    from gitgate.db.models import QueuedPush
    from gitgate.outcomes.recovery import recover
    from gitgate.store import queue, queue_rows
    from gitgate.upstream.http import Upstream

    body = pkt_line(f"{'1' * 40} {'0' * 40} refs/heads/old\0report-status\n".encode())
    push_id = queue.enqueue(
        repo="acme/app",
        pusher_subject="agent-7",
        pusher_groups=[],
        rule_name="r",
        reviewer_groups=["maintainers"],
        approvals_required=1,
        expiry_s=3600,
        summary={},
        payload=io.BytesIO(body + b"0000"),
    )
    assert queue.approve(push_id, "alice", ["maintainers"]).claimed
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    machine = queue_rows.claimer_id().rpartition(":")[0]
    with connection():
        QueuedPush.update(claimed_by=f"{machine}:{gone}").execute()
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    [result] = recover(Upstream(f"http://127.0.0.1:{port}", None, timeout=5))
    assert result.state == "relaying" and "tried again later" in result.reason
    info = queue.get(push_id)
    assert info is not None and info.claimed_by == "released"
    assert [p.id for p in queue.interrupted(3600)] == [push_id]  # the next round retries
