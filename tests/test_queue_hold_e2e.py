"""One push that just succeeds (issue #14): a queued push held open for its reviewer, one queue
entry per change, and the agent hearing how its queued pushes ended.

Real git; reviewers act through `gitgate review` as their own processes, started when the test
sees the entry in the database (a condition, never a fixed sleep). SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fixtures.gate import GateServer
from tests.fixtures.upstream import commit, git, git_env, upstream_ref
from tests.test_queue_e2e import queue_rule
from tests.test_queue_recovery_e2e import REVIEW, wait_for

MakeGate = Callable[..., GateServer]


def review(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`gitgate review ARGS` as its own process, as a reviewer runs it."""
    return subprocess.run(
        [sys.executable, "-m", "gitgate", "review", *args, "--config", str(config)],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )


def start_push(work: Path, *options: str, ref: str = "main") -> subprocess.Popen[str]:
    argv = ["git", "push"] + [f"--push-option={o}" for o in options] + ["origin", f"HEAD:{ref}"]
    return subprocess.Popen(
        argv,
        cwd=work,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **git_env()},
    )


def pending_ids() -> list[int]:
    from gitgate.store import queue

    return sorted(p.id for p in queue.list_pushes("pending"))


def protected_change(work: Path, replicas: int) -> str:
    return commit(work, {"deploy/prod.yaml": f"replicas: {replicas}\n"}, f"scale to {replicas}")


def clone(gate: GateServer, repo: str, tmp_path: Path, name: str = "w") -> Path:
    work = tmp_path / name
    git("clone", "-q", gate.remote(repo), str(work))
    return work


@pytest.mark.parametrize("verdict", ["approve", "reject"])
def test_a_held_push_ends_with_the_reviewers_decision(
    make_gate: MakeGate,
    seeded: tuple[Path, str],
    tmp_path: Path,
    db_url: str,
    verdict: str,
) -> None:
    bare, repo = seeded
    gate = make_gate(queue_rule(), db_url=db_url)
    before = upstream_ref(bare, "refs/heads/main")
    work = clone(gate, repo, tmp_path)
    tip = protected_change(work, 5)
    push = start_push(work, "gitgate.wait=60s")
    wait_for(lambda: pending_ids() == [1], "the push to be queued")
    if verdict == "approve":
        decided = review(gate.config_path, "approve", "1", *REVIEW)
    else:
        decided = review(gate.config_path, "reject", "1", *REVIEW, "--reason", "too many pods")
    assert decided.returncode == 0, decided.stdout + decided.stderr
    _, err = push.communicate(timeout=120)
    assert "waiting for review #1 (0 of 1 approvals)" in err
    if verdict == "approve":
        assert push.returncode == 0, err
        assert f"{before[:7]}..{tip[:7]}  HEAD -> main" in err  # type: ignore[index]
        assert upstream_ref(bare, "refs/heads/main") == tip
        assert "approved by alice and relayed" in err
    else:
        assert push.returncode == 1
        assert "rejected by alice: too many pods" in err and "[remote rejected]" in err
        assert upstream_ref(bare, "refs/heads/main") == before
    # the agent heard it during the push: its next push does not repeat the story
    again = git("push", "origin", "HEAD:refs/heads/other", cwd=work, check=False)
    assert "queued push #1" not in again.stderr
    from gitgate.db import connection
    from gitgate.db.models import NotificationOutbox, SessionRecord

    outcome = "relayed" if verdict == "approve" else "rejected"
    with connection():
        events = [e for r in SessionRecord.select() for e in r.events]
        hold = [
            r.payload for r in NotificationOutbox.select().where(NotificationOutbox.event == "hold")
        ]
    assert [(e["event"], e["id"], e["outcome"]) for e in events] == [("hold", 1, outcome)]
    assert [(h["id"], h["wait_s"]) for h in hold] == [(1, 60)]


def test_the_window_runs_out_and_the_push_stays_approvable(
    make_gate: MakeGate,
    seeded: tuple[Path, str],
    tmp_path: Path,
    db_url: str,
) -> None:
    bare, repo = seeded
    gate = make_gate(queue_rule(wait="1s"), db_url=db_url)  # the rule's default window
    work = clone(gate, repo, tmp_path)
    tip = protected_change(work, 5)
    push = start_push(work)
    _, err = push.communicate(timeout=120)
    assert push.returncode == 1
    assert "(still queued as #1; no need to push again" in err
    assert "the wait window is over" in err
    assert review(gate.config_path, "approve", "1", *REVIEW).returncode == 0
    assert upstream_ref(bare, "refs/heads/main") == tip


def test_waiting_longer_than_the_admin_allows_is_capped(
    make_gate: MakeGate,
    seeded: tuple[Path, str],
    tmp_path: Path,
    db_url: str,
) -> None:
    _, repo = seeded
    gate = make_gate(queue_rule(), db_url=db_url, sections={"queue": {"max_wait": "1s"}})
    work = clone(gate, repo, tmp_path)
    protected_change(work, 5)
    result = git("push", "-o", "gitgate.wait=2h", "origin", "HEAD:main", cwd=work, check=False)
    assert result.returncode == 1
    assert "waiting at most 1s (the gate's queue.max_wait), not 120m00s" in result.stderr
    assert "still queued as #1" in result.stderr
    bad = git("push", "-o", "gitgate.wait=soon", "origin", "HEAD:main", cwd=work, check=False)
    assert "'soon' is not a duration" in bad.stderr


def test_identical_retries_make_one_entry_and_a_stacked_commit_supersedes_it(
    make_gate: MakeGate,
    seeded: tuple[Path, str],
    tmp_path: Path,
    db_url: str,
) -> None:
    from gitgate.db import connection
    from gitgate.db.models import NotificationOutbox, SessionRecord
    from gitgate.store import queue

    bare, repo = seeded
    gate = make_gate(queue_rule(), db_url=db_url)
    work = clone(gate, repo, tmp_path)
    first = protected_change(work, 5)
    outs = [git("push", "origin", "HEAD:main", cwd=work, check=False).stderr for _ in range(3)]
    assert "(queued for approval as #1)" in outs[0]
    for out in outs[1:]:
        assert "(already queued as #1; no need to push again)" in out
        assert "nothing new was queued" in out
    assert pending_ids() == [1]
    second = commit(work, {"src/more.py": "more = 1\n"}, "stacked on the pending push")
    out = git("push", "origin", "HEAD:main", cwd=work, check=False).stderr
    assert "(queued for approval as #2 (supersedes #1))" in out
    assert "#2 supersedes #1" in out and "approving it lands both" in out
    assert pending_ids() == [2]
    old = queue.get(1)
    assert old is not None and old.state == "superseded" and old.superseded_by == 2
    assert review(gate.config_path, "approve", "2", *REVIEW).returncode == 0
    assert upstream_ref(bare, "refs/heads/main") == second
    git("fetch", "-q", "origin", cwd=work)
    assert git("merge-base", "--is-ancestor", first, "origin/main", cwd=work).returncode == 0
    assert [p.state for p in queue.list_pushes()] == ["relayed", "superseded"]  # no stale
    with connection():
        events = [r.events for r in SessionRecord.select().where(SessionRecord.events != "[]")]
        hooks = [
            r.payload
            for r in NotificationOutbox.select().where(NotificationOutbox.event == "superseded")
        ]
    assert {"event": "superseded", "id": 1, "by": 2} in [e for es in events for e in es]
    assert [(h["id"], h["superseded_by"]) for h in hooks] == [(1, 2)]


def test_a_different_change_on_the_same_ref_names_the_conflict(
    make_gate: MakeGate,
    seeded: tuple[Path, str],
    tmp_path: Path,
    db_url: str,
) -> None:
    _, repo = seeded
    gate = make_gate(queue_rule(), db_url=db_url)
    work = clone(gate, repo, tmp_path)
    protected_change(work, 5)
    git("push", "origin", "HEAD:main", cwd=work, check=False)
    git("reset", "-q", "--hard", "HEAD~1", cwd=work)
    protected_change(work, 6)  # a rework, not an extension
    out = git("push", "origin", "HEAD:main", cwd=work, check=False).stderr
    assert "(queued for approval as #2)" in out
    assert "#2 conflicts with queued #1 on the same ref" in out
    assert "approving one makes the other stale" in out
    assert pending_ids() == [1, 2]


@pytest.mark.parametrize("channel", ["push", "fetch"])
def test_the_agents_next_push_or_fetch_tells_what_became_of_its_queued_pushes(
    make_gate: MakeGate,
    seeded: tuple[Path, str],
    tmp_path: Path,
    db_url: str,
    channel: str,
) -> None:
    bare, repo = seeded
    gate = make_gate(queue_rule(), db_url=db_url)
    work = clone(gate, repo, tmp_path)
    for n, branch in enumerate(("relay-me", "reject-me", "stale-me"), start=1):
        git("checkout", "-q", "-b", branch, "origin/main", cwd=work)
        protected_change(work, n + 4)
        git("push", "origin", f"HEAD:{branch}", cwd=work, check=False)
    assert pending_ids() == [1, 2, 3]
    relayed = review(gate.config_path, "approve", "1", *REVIEW, "--comment", "fine by me")
    assert relayed.returncode == 0
    review(gate.config_path, "reject", "2", *REVIEW, "--reason", "use 2 replicas")
    direct = tmp_path / "direct"
    git("clone", "-q", str(bare), str(direct))
    commit(direct, {"hotfix.txt": "fix\n"}, "a human was faster")
    git("push", "-q", "origin", "HEAD:stale-me", cwd=direct)
    assert review(gate.config_path, "approve", "3", *REVIEW).returncode == 1  # stale
    git("checkout", "-q", "-b", "unrelated", "origin/main", cwd=work)
    commit(work, {"src/z.py": "z = 1\n"}, "unrelated")
    if channel == "fetch":  # the human's commit is new to the agent: the fetch carries a pack
        out = git("fetch", "origin", cwd=work).stderr
    else:
        out = git("push", "origin", "HEAD:unrelated", cwd=work).stderr
    tip1 = upstream_ref(bare, "refs/heads/relay-me")
    assert "queued push #1 (relay-me) was approved by alice and relayed" in out
    assert f"refs/heads/relay-me is now {tip1[:12]} upstream" in out  # type: ignore[index]
    assert "approve by alice: fine by me" in out and "run `git fetch`" in out
    assert "queued push #2 (reject-me) was rejected by alice: use 2 replicas" in out
    assert "queued push #3 (stale-me) went stale" in out
    assert "git fetch origin && git rebase origin/stale-me && git push origin HEAD:stale-me" in out
    if channel == "fetch":  # and the fetch itself is intact
        fetched = git("rev-parse", "origin/stale-me", cwd=work).stdout.strip()
        assert fetched == upstream_ref(bare, "refs/heads/stale-me")
    once_more = git("push", "origin", "HEAD:unrelated2", cwd=work).stderr
    assert "queued push #" not in once_more  # told once


def test_an_agent_asks_the_json_endpoint_about_its_own_entries(
    make_gate: MakeGate,
    seeded: tuple[Path, str],
    tmp_path: Path,
    db_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    from tests.test_auth_e2e import get, issue

    bare, repo = seeded
    rules = queue_rule(groups=["agents"])
    gate = make_gate(rules, db_url=db_url, sections={"auth": {"required": True}})
    token, _ = issue(gate, capsys, "agent-7", "agents")
    other, _ = issue(gate, capsys, "agent-8", "agents")
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo, token), str(work))
    protected_change(work, 5)
    git("push", "origin", "HEAD:main", cwd=work, check=False)
    status, headers, body = get(gate, "/api/queue/1", f"Bearer {token}")
    entry = json.loads(body)
    assert status == 200 and headers["content-type"].startswith("application/json")
    assert (entry["id"], entry["state"], entry["repo"]) == (1, "pending", repo)
    assert (entry["approvals"], entry["approvals_required"], entry["upstream"]) == (0, 1, None)
    assert "waiting for review" in entry["next"][0]
    # another agent, a missing token, an unknown id: JSON messages that say what to do
    status, _, body = get(gate, "/api/queue/1", f"Bearer {other}")
    assert status == 404 and "GET /api/queue?repo=owner/name" in json.loads(body)["message"]
    status, _, body = get(gate, "/api/queue/1")
    assert status == 401 and "token" in json.loads(body)["message"]
    assert get(gate, "/api/queue/99", f"Bearer {token}")[0] == 404
    assert get(gate, "/api/queue", f"Bearer {token}")[0] == 400
    assert review(gate.config_path, "approve", "1", *REVIEW, "--comment", "ok").returncode == 0
    status, _, body = get(gate, f"/api/queue?repo={repo}", f"Bearer {token}")
    [entry] = json.loads(body)["entries"]
    tip = upstream_ref(bare, "refs/heads/main")
    assert entry["state"] == "relayed" and entry["upstream"] == {"refs/heads/main": tip}
    assert [(r["reviewer"], r["comment"]) for r in entry["reviews"]] == [("alice", "ok")]
    assert any("git fetch" in line for line in entry["next"])
    assert json.loads(get(gate, f"/api/queue?repo={repo}", f"Bearer {other}")[2]) == {"entries": []}
