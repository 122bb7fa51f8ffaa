"""Just-in-time approval end to end: git push -> queued -> `gitgate review` -> upstream.

Runs on SQLite and on PostgreSQL (each case its own fresh database, via `db_url`)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.gate import GateServer
from tests.fixtures.upstream import UpstreamServer, commit, git, rev, upstream_ref

MakeGate = Callable[..., GateServer]


def queue_rule(**extra: Any) -> list[dict[str, Any]]:
    return [
        {
            "name": "prod-review",
            "protected_paths": ["deploy/**"],
            "reviewers": ["maintainers"],
            "actions": {"protected_paths": "queue"},
            **extra,
        }
    ]


def queued_push(
    gate: GateServer, repo: str, tmp_path: Path, name: str = "w", replicas: int = 5
) -> tuple[Path, str, Any]:
    work = tmp_path / name
    git("clone", "-q", gate.remote(repo), str(work))
    files = {"deploy/prod.yaml": f"replicas: {replicas}\n", "src/x.py": f"x = {replicas}\n"}
    tip = commit(work, files, "scale up")
    result = git("push", "origin", "HEAD:main", cwd=work, check=False)
    return work, tip, result


def receive_pack_posts(upstream: UpstreamServer) -> int:
    return sum(1 for m, p in upstream.requests if m == "POST" and p.endswith("git-receive-pack"))


def test_queue_approve_relays_the_stored_push(
    make_gate: MakeGate,
    seeded: tuple[Path, str],
    tmp_path: Path,
    db_url: str,
    upstream: UpstreamServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bare, repo = seeded
    gate = make_gate(queue_rule(), db_url=db_url)
    before = upstream_ref(bare, "refs/heads/main")
    work, tip, result = queued_push(gate, repo, tmp_path)
    assert result.returncode != 0
    assert "! [remote rejected] HEAD -> main (queued for approval as #1)" in result.stderr
    assert "No need to push again: the gate pushes it when a reviewer approves it" in (
        result.stderr
    )
    assert "deploy/prod.yaml" in result.stderr
    assert upstream_ref(bare, "refs/heads/main") == before

    assert gate.cli("review", "list") == 0
    out = capsys.readouterr().out
    assert "pending" in out and "acme/app" in out
    assert gate.cli("review", "show", "1") == 0
    out = capsys.readouterr().out
    assert "--- protected file deploy/prod.yaml" in out and "+replicas: 5" in out
    assert "scale up" in out

    posts = receive_pack_posts(upstream)
    assert gate.cli("review", "approve", "1", "--as", "alice", "--group", "maintainers") == 0
    assert "relayed" in capsys.readouterr().out
    # the gate pushed it: same commit id upstream, the agent did not push again
    assert upstream_ref(bare, "refs/heads/main") == tip
    assert receive_pack_posts(upstream) == posts + 1
    git("fetch", "-q", "origin", cwd=work)
    assert rev(work, "origin/main") == tip
    from gitgate.store import queue

    assert queue.get(1).state == "relayed"  # type: ignore[union-attr]
    capsys.readouterr()
    assert gate.cli("review", "list", "--state", "relayed") == 0
    assert "relayed" in capsys.readouterr().out
    assert gate.cli("review", "list") == 0
    assert "no pending pushes" in capsys.readouterr().out


def test_reject_self_approval_and_reviewer_groups(
    make_gate: MakeGate,
    seeded: tuple[Path, str],
    tmp_path: Path,
    db_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bare, repo = seeded
    gate = make_gate(queue_rule(), db_url=db_url)
    before = upstream_ref(bare, "refs/heads/main")
    queued_push(gate, repo, tmp_path)
    # the pusher (anonymous here: auth is off in this gate) can never approve its own push
    assert gate.cli("review", "approve", "1", "--as", "anonymous", "--group", "maintainers") == 1
    assert "own push" in capsys.readouterr().out
    assert gate.cli("review", "approve", "1", "--as", "bob", "--group", "developers") == 1
    assert "in none of the reviewer groups" in capsys.readouterr().out
    assert (
        gate.cli(
            "review",
            "reject",
            "1",
            "--as",
            "alice",
            "--group",
            "maintainers",
            "--reason",
            "replicas: 5 is too many",
        )
        == 0
    )
    capsys.readouterr()
    assert gate.cli("review", "show", "1") == 0
    out = capsys.readouterr().out
    assert "rejected" in out and "replicas: 5 is too many" in out
    assert upstream_ref(bare, "refs/heads/main") == before
    assert gate.cli("review", "approve", "1", "--as", "carol", "--group", "maintainers") == 1


def test_two_approvals_required(
    make_gate: MakeGate,
    seeded: tuple[Path, str],
    tmp_path: Path,
    db_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bare, repo = seeded
    gate = make_gate(queue_rule(approvals=2), db_url=db_url)
    before = upstream_ref(bare, "refs/heads/main")
    _, tip, _ = queued_push(gate, repo, tmp_path)
    assert gate.cli("review", "approve", "1", "--as", "alice", "--group", "maintainers") == 0
    assert upstream_ref(bare, "refs/heads/main") == before  # one is not enough
    assert gate.cli("review", "approve", "1", "--as", "alice", "--group", "maintainers") == 1
    assert upstream_ref(bare, "refs/heads/main") == before  # nor the same one twice
    assert gate.cli("review", "approve", "1", "--as", "dave", "--group", "maintainers") == 0
    assert upstream_ref(bare, "refs/heads/main") == tip


def test_stale_when_upstream_moved(
    make_gate: MakeGate,
    seeded: tuple[Path, str],
    tmp_path: Path,
    db_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bare, repo = seeded
    gate = make_gate(queue_rule(), db_url=db_url)
    queued_push(gate, repo, tmp_path)
    direct = tmp_path / "direct"
    git("clone", "-q", str(bare), str(direct))
    moved = commit(direct, {"hotfix.txt": "fix\n"}, "hotfix by a human")
    git("push", "-q", "origin", "HEAD:main", cwd=direct)
    assert gate.cli("review", "approve", "1", "--as", "alice", "--group", "maintainers") == 1
    assert "stale" in capsys.readouterr().out
    assert upstream_ref(bare, "refs/heads/main") == moved  # not overwritten
    from gitgate.store import queue

    info = queue.get(1)
    assert info is not None and info.state == "stale" and "nothing was forced" in info.state_reason


def test_expiry(
    make_gate: MakeGate,
    seeded: tuple[Path, str],
    tmp_path: Path,
    db_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from gitgate.db.fields import utcnow
    from gitgate.store import queue

    _, repo = seeded
    gate = make_gate(queue_rule(queue_expiry="1d"), db_url=db_url)
    queued_push(gate, repo, tmp_path)
    assert queue.expire_due(now=utcnow() + timedelta(hours=23)) == []
    assert queue.expire_due(now=utcnow() + timedelta(days=1, minutes=1)) == [1]
    assert gate.cli("review", "approve", "1", "--as", "alice", "--group", "maintainers") == 1
    assert "expired" in capsys.readouterr().out


def test_concurrent_approvals_relay_once(
    make_gate: MakeGate,
    seeded: tuple[Path, str],
    tmp_path: Path,
    db_url: str,
    upstream: UpstreamServer,
) -> None:
    bare, repo = seeded
    gate = make_gate(queue_rule(), db_url=db_url)
    _, tip, _ = queued_push(gate, repo, tmp_path)
    posts = receive_pack_posts(upstream)
    barrier = threading.Barrier(4)
    codes: list[int] = []

    def approve(name: str) -> None:
        barrier.wait()
        codes.append(gate.cli("review", "approve", "1", "--as", name, "--group", "maintainers"))

    threads = [threading.Thread(target=approve, args=(f"r{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert receive_pack_posts(upstream) == posts + 1  # exactly one relay
    assert upstream_ref(bare, "refs/heads/main") == tip
    assert codes.count(0) >= 1


def test_webhooks_signed_and_a_failing_receiver_blocks_nothing(
    make_gate: MakeGate,
    seeded: tuple[Path, str],
    tmp_path: Path,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gitgate.store import outbox
    from tests.fixtures.webhook import WebhookReceiver

    bare, repo = seeded
    monkeypatch.setenv("HOOK_SECRET", "webhook-signing-key")
    with WebhookReceiver() as hook:
        gate = make_gate(
            queue_rule(),
            db_url=db_url,
            sections={"notify": {"webhook_url": hook.url, "secret": "env:HOOK_SECRET"}},
        )
        _, tip, _ = queued_push(gate, repo, tmp_path)
        queued = hook.wait_for("queued")
        assert (
            queued["id"] == 1
            and queued["repo"] == repo
            and "deploy/prod.yaml" in (queued["reason"])
        )
        assert "queued for approval" in queued["text"]  # Slack-compatible line
        assert gate.cli("review", "approve", "1", "--as", "alice", "--group", "maintainers") == 0
        assert hook.wait_for("approved")["reviewer"] == "alice"
        assert hook.wait_for("relayed")["id"] == 1
        assert hook.bad_signatures == 0
    assert upstream_ref(bare, "refs/heads/main") == tip
    gate.stop()  # its maintenance thread would deliver to the receiver it knows

    with WebhookReceiver(status=500) as broken:
        gate = make_gate(
            queue_rule(),
            db_url=db_url,
            sections={"notify": {"webhook_url": broken.url, "secret": "env:HOOK_SECRET"}},
        )
        _, _, result = queued_push(gate, repo, tmp_path, name="w2", replicas=7)
        assert "queued for approval as #2" in result.stderr  # the push was not held up
        # The gate's own upkeep thread may be sending the event right now: stop it (which
        # waits for its round to end), so the failure is recorded before the tick reads it
        gate.runtime.services.maintenance.stop()
        gate.runtime.services.maintenance.tick()
    from gitgate.db import connection
    from gitgate.db.models import NotificationOutbox

    with connection():
        row = (
            NotificationOutbox.select()
            .where(NotificationOutbox.event == "queued")
            .order_by(NotificationOutbox.id.desc())
            .first()
        )
    assert row.payload["id"] == 2
    assert row.delivered_at is None and row.attempts >= 1 and "500" in (row.last_error or "")
    assert outbox.due() == []  # not due again before its backoff
