"""Held pushes through the real `gitgate serve` (gunicorn, gthread workers): approval on a
second instance sharing PostgreSQL, and 20 held pushes that do not stop a clone (issue #14)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fixtures.gate import write_config
from tests.fixtures.service import GateProcess, cli, serve_argv
from tests.fixtures.upstream import UpstreamServer, commit, git, git_env, upstream_ref
from tests.test_queue_e2e import queue_rule
from tests.test_queue_recovery_e2e import REVIEW, wait_for
from tests.test_service_e2e import gate_env

Spawn = Callable[..., GateProcess]


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    procs: list[GateProcess] = []

    def start(argv: list[str], env: dict[str, str]) -> GateProcess:
        proc = GateProcess(argv, env)
        procs.append(proc)
        return proc.start()

    yield start
    for proc in procs:
        proc.stop()


def pushes(config: Path, env: dict[str, str], state: str = "pending") -> list[int]:
    listed = cli(config, env, "review", "list", "--state", state, "--json")
    assert listed.returncode == 0, listed.stderr
    return sorted(json.loads(line)["id"] for line in listed.stdout.splitlines())


def start_push(work: Path, branch: str, wait: str = "60s") -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["git", "push", "-o", f"gitgate.wait={wait}", "origin", f"HEAD:{branch}"],
        cwd=work,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **git_env()},
    )


@pytest.mark.parametrize(
    "db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_approval_on_a_second_instance_ends_a_push_held_on_the_first(
    spawn: Spawn,
    upstream: UpstreamServer,
    seeded: tuple[Path, str],
    tmp_path: Path,
    db_url: str,
) -> None:
    bare, repo = seeded
    env = gate_env(upstream)
    first = write_config(tmp_path / "a.toml", tmp_path / "a", upstream.url, queue_rule(), db_url)
    second = write_config(tmp_path / "b.toml", tmp_path / "b", upstream.url, queue_rule(), db_url)
    gate_a = spawn(serve_argv(first), env)
    spawn(serve_argv(second), env)
    work = tmp_path / "w"
    git("clone", "-q", gate_a.remote(repo), str(work))
    tip = commit(work, {"deploy/prod.yaml": "replicas: 9\n"}, "scale")
    push = start_push(work, "main")
    wait_for(lambda: pushes(second, env) == [1], "the held push to be queued")
    approved = cli(second, env, "review", "approve", "1", *REVIEW)
    assert approved.returncode == 0 and "push #1: relayed" in approved.stdout, approved.stdout
    _, err = push.communicate(timeout=120)
    assert push.returncode == 0, err
    assert "HEAD -> main" in err and "waiting for review #1" in err
    assert upstream_ref(bare, "refs/heads/main") == tip


@pytest.mark.slow
def test_twenty_held_pushes_do_not_stop_a_clone_and_survive_a_restart(
    spawn: Spawn,
    upstream: UpstreamServer,
    seeded: tuple[Path, str],
    tmp_path: Path,
    db_url: str,
) -> None:
    bare, repo = seeded
    env = gate_env(upstream)
    config = write_config(
        tmp_path / "gate.toml",
        tmp_path / "gate",
        upstream.url,
        queue_rule(),
        db_url,
        server={"threads": 6},
        queue={"max_held": 3},
        scan={"workers": 1},
    )
    gate = spawn(serve_argv(config), env)
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo), str(work))
    commit(work, {"deploy/prod.yaml": "replicas: 9\n"}, "scale")
    held = [start_push(work, f"b{i}") for i in range(20)]
    wait_for(lambda: len(pushes(config, env)) == 20, "20 queued pushes", timeout=300)
    wait_for(lambda: sum(p.poll() is None for p in held) == 3, "all but 3 to end", timeout=120)
    ended = [p.communicate()[1] for p in held if p.poll() is not None]
    assert len(ended) == 17
    assert all("not waiting for review: this gate already holds 3 pushes open" in e for e in ended)
    assert all("still queued as #" in e for e in ended)
    # three request threads are held; the others still serve a clone
    clone = git("clone", "-q", gate.remote(repo), str(tmp_path / "c"), check=False)
    assert clone.returncode == 0, clone.stderr
    assert sum(p.poll() is None for p in held) == 3
    gate.kill9()  # the waiting instance dies: the held pushes end, their entries stay queued
    for p in held:
        p.communicate(timeout=60)
    assert sum(p.returncode != 0 for p in held) == 20
    spawn(serve_argv(config), env)
    assert len(pushes(config, env)) == 20
    approved = cli(config, env, "review", "approve", "20", *REVIEW)
    assert approved.returncode == 0, approved.stdout
    shown = json.loads(cli(config, env, "review", "show", "20", "--json").stdout)
    [update] = shown["summary"]["ref_updates"]
    assert shown["state"] == "relayed" and upstream_ref(bare, update["ref"]) == update["new"]


def test_a_graceful_restart_ends_a_held_push_still_queued(
    spawn: Spawn,
    upstream: UpstreamServer,
    seeded: tuple[Path, str],
    tmp_path: Path,
    db_url: str,
) -> None:
    bare, repo = seeded
    env = gate_env(upstream)
    config = write_config(tmp_path / "g.toml", tmp_path / "g", upstream.url, queue_rule(), db_url)
    gate = spawn(serve_argv(config), env)
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo), str(work))
    tip = commit(work, {"deploy/prod.yaml": "replicas: 9\n"}, "scale")
    push = start_push(work, "main", wait="10m")
    wait_for(lambda: pushes(config, env) == [1], "the held push to be queued")
    assert gate.stop() == 0  # SIGTERM: gunicorn waits for its requests to finish
    _, err = push.communicate(timeout=60)
    assert push.returncode == 1
    assert "the gate is restarting: still queued as #1; no need to push again" in err
    spawn(serve_argv(config), env)
    assert cli(config, env, "review", "approve", "1", *REVIEW).returncode == 0
    assert upstream_ref(bare, "refs/heads/main") == tip


def test_held_pushes_end_rejected_or_still_queued_under_gunicorn(
    spawn: Spawn,
    upstream: UpstreamServer,
    seeded: tuple[Path, str],
    tmp_path: Path,
    db_url: str,
) -> None:
    bare, repo = seeded
    env = gate_env(upstream)
    config = write_config(tmp_path / "g.toml", tmp_path / "g", upstream.url, queue_rule(), db_url)
    gate = spawn(serve_argv(config), env)
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo), str(work))
    commit(work, {"deploy/prod.yaml": "replicas: 9\n"}, "scale")
    push = start_push(work, "main")
    wait_for(lambda: pushes(config, env) == [1], "the held push to be queued")
    rejected = cli(config, env, "review", "reject", "1", *REVIEW, "--reason", "not on a Friday")
    assert rejected.returncode == 0, rejected.stdout
    _, err = push.communicate(timeout=120)
    assert push.returncode == 1
    assert "(#1 rejected by alice: not on a Friday)" in err
    tip = commit(work, {"deploy/prod.yaml": "replicas: 8\n"}, "scale less")
    push = start_push(work, "main", wait="2s")
    _, err = push.communicate(timeout=120)
    assert push.returncode == 1 and "(still queued as #2; no need to push again" in err
    assert cli(config, env, "review", "approve", "2", *REVIEW).returncode == 0  # later
    assert upstream_ref(bare, "refs/heads/main") == tip
