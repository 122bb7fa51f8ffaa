"""End to end through the real `gitgate serve` process (gunicorn, gthread workers).

What only the deployed shape shows: the embedded default config, gunicorn's de-chunking of
pushes over 1 MiB, the JSON request log, a kill -9 with pushes in the queue, reviewers racing
from separate processes, and the shipped systemd units' commands run as systemd would run them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from gitgate import __version__
from tests.fixtures.gate import UPSTREAM_TOKEN_ENV, write_config
from tests.fixtures.service import (
    GateProcess,
    base_env,
    cli,
    git_requests,
    http_get,
    notification,
    notify_socket,
    read_unit,
    serve_argv,
    unit_exec,
)
from tests.fixtures.toml import dumps
from tests.fixtures.upstream import UpstreamServer, commit, git, rev, upstream_ref
from tests.test_queue_e2e import queue_rule, receive_pack_posts

Spawn = Callable[..., GateProcess]


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    """Start gate processes (`spawn(argv, env, cwd=None)`); all are stopped at the end."""
    procs: list[GateProcess] = []

    def start(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> GateProcess:
        proc = GateProcess(argv, env, cwd)
        procs.append(proc)
        return proc.start()

    yield start
    for proc in procs:
        proc.stop()


def gate_env(upstream: UpstreamServer, **extra: str) -> dict[str, str]:
    return base_env(**{UPSTREAM_TOKEN_ENV: upstream.token or ""}, **extra)


def test_serve_embedded_default(spawn: Spawn, tmp_path: Path) -> None:
    cwd, data = tmp_path / "cwd", tmp_path / "data"
    cwd.mkdir()
    gate = spawn(serve_argv(None), base_env(GITGATE_DATA_DIR=str(data)), cwd)
    assert gate.master_pid == gate.pid  # serve exec'd gunicorn: the arbiter kept the pid
    assert "config <embedded default>" in gate.log_text()
    assert http_get(f"{gate.url}/healthz")[:2] == (200, "ok gitgate " + __version__ + "\n")
    assert http_get(f"{gate.url}/readyz")[:2] == (200, "ready\n")
    status, body, headers = http_get(f"{gate.url}/acme/app.git/info/refs?service=git-upload-pack")
    assert status == 401 and headers.get("WWW-Authenticate") == 'Basic realm="gitgate"'
    assert "use your gitgate token as the password" in body
    clone = git("clone", gate.remote("acme/app"), str(tmp_path / "w"), check=False)
    assert clone.returncode != 0
    assert "could not read Username" in clone.stderr  # git got a 401 and had no credential
    bad = git("clone", gate.remote("acme/app", "not-a-token"), str(tmp_path / "w2"), check=False)
    assert bad.returncode != 0 and "Authentication failed" in bad.stderr
    assert (data / "gitgate.db").is_file()
    assert not (cwd / "gitgate-data").exists()  # GITGATE_DATA_DIR, not ./gitgate-data


def test_socket_activation(
    tmp_path: Path, upstream: UpstreamServer, seeded: tuple[Path, str]
) -> None:
    """systemd hands the gate a listening socket (LISTEN_FDS, fd 3, LISTEN_PID = its pid):
    `serve` then binds nothing itself and gunicorn serves on the inherited socket."""
    import socket

    bare, repo = seeded
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    config = write_config(tmp_path / "g.toml", tmp_path / "data", upstream.url)
    fd = listener.fileno()
    # what systemd does: the socket on fd 3, and LISTEN_PID naming the process it exec()s
    launcher = (
        "import os, sys\n"
        f"os.dup2({fd}, 3)\n"
        "os.environ.update(LISTEN_FDS='1', LISTEN_PID=str(os.getpid()))\n"
        "os.execv(sys.executable, [sys.executable, '-m', 'gitgate', 'serve', '--workers', '1',"
        " '--config', sys.argv[1]])\n"
    )
    proc = GateProcess(
        [sys.executable, "-c", launcher, str(config)], gate_env(upstream), pass_fds=(fd,)
    )
    try:
        proc.start()
        listener.close()  # the gate holds its own copy now
        assert proc.port == port  # gunicorn serves on systemd's socket, not one of its own
        work = tmp_path / "w"
        git("clone", "-q", f"http://127.0.0.1:{port}/{repo}.git", str(work))
        assert rev(work) == upstream_ref(bare, "refs/heads/main")
    finally:
        proc.stop()


def test_large_chunked_push_and_json_log(
    spawn: Spawn, upstream: UpstreamServer, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    bare, repo = seeded
    config = write_config(
        tmp_path / "gate.toml",
        tmp_path / "gate",
        upstream.url,
        server={"log_format": "json"},
        scan={"workers": 1},
    )
    gate = spawn(serve_argv(config), gate_env(upstream))
    work, trace = tmp_path / "work", tmp_path / "trace"
    traced = {"GIT_TRACE_CURL": str(trace), "GIT_TRACE_CURL_NO_DATA": "1"}
    git("clone", "-q", gate.remote(repo), str(work), env=traced)
    data = os.urandom(3 * 1024 * 1024 // 2)  # incompressible: the pack is > 1 MiB
    tip = commit(work, {"assets/blob.bin": data}, "add a large blob")
    push = git("push", "origin", "HEAD:main", cwd=work, env=traced)
    assert "Transfer-Encoding: chunked" in trace.read_text(errors="replace")
    assert upstream_ref(bare, "refs/heads/main") == tip
    landed = subprocess.run(
        ["git", "cat-file", "blob", f"{tip}:assets/blob.bin"], cwd=bare, capture_output=True
    )
    assert landed.returncode == 0 and landed.stdout == data, push.stderr

    requests = git_requests(trace)
    assert any(probe for _, p, probe in requests if p.endswith("git-receive-pack"))
    expected = requests  # every request, git's probe POST included, has its line

    def request_lines(lines: list[str]) -> list[dict[str, Any]]:
        out = []
        for line in lines:
            if line.startswith("{"):
                event = json.loads(line)
                if event.get("logger") == "gitgate.request":
                    out.append(event)
        return out

    assert gate.wait_for_log(lambda lines: len(request_lines(lines)) >= len(expected))
    events = request_lines(gate.log_lines())
    assert len(events) == len(expected), gate.log_text()
    assert len({e["request_id"] for e in events}) == len(events)
    for event in events:
        assert {"subject", "repo", "service", "decision", "duration_ms"} <= event.keys()
        assert event["subject"] == "anonymous" and event["repo"] == repo
        assert event["decision"] in ("allow", "probe") and isinstance(event["duration_ms"], int)
    services = [(e["service"], e["decision"]) for e in events]
    assert services.count(("receive-pack", "allow")) == 1
    assert services.count(("receive-pack", "probe")) == 1 and ("upload-pack", "allow") in services
    (pushed,) = [e for e in events if e["service"] == "receive-pack" and e["decision"] == "allow"]
    assert pushed["bytes_in"] > 1024 * 1024
    log = gate.log_text()
    assert upstream.token and upstream.token not in log
    assert upstream.expected_auth().split()[1] not in log  # nor its Basic encoding


def _queue_push(work: Path, branch: str, replicas: int) -> tuple[str, str]:
    """Commit a protected change on a new branch off origin/main and push it (it queues)."""
    git("checkout", "-q", "-B", branch, "origin/main", cwd=work)
    tip = commit(work, {"deploy/prod.yaml": f"replicas: {replicas}\n"}, f"scale to {replicas}")
    result = git("push", "origin", f"HEAD:refs/heads/{branch}", cwd=work, check=False)
    assert result.returncode != 0, result.stderr
    return tip, result.stderr


def _pending(config: Path, env: dict[str, str]) -> dict[int, str]:
    """`gitgate review list` (pending pushes) as {id: refs}."""
    listed = cli(config, env, "review", "list")
    assert listed.returncode == 0, listed.stderr
    rows = [line.split() for line in listed.stdout.splitlines()[1:]]
    assert all(row[1] == "pending" for row in rows), listed.stdout
    return {int(row[0]): row[-1] for row in rows}


def test_kill9_keeps_pending_pushes(
    spawn: Spawn,
    upstream: UpstreamServer,
    seeded: tuple[Path, str],
    tmp_path: Path,
    db_url: str,
) -> None:
    bare, repo = seeded
    config = write_config(
        tmp_path / "gate.toml", tmp_path / "gate", upstream.url, queue_rule(), db_url
    )
    env = gate_env(upstream)
    gate = spawn(serve_argv(config), env)
    work = tmp_path / "work"
    git("clone", "-q", gate.remote(repo), str(work))
    tip_a, out_a = _queue_push(work, "feature-a", 5)
    tip_b, out_b = _queue_push(work, "feature-b", 7)
    assert "(queued for approval as #1)" in out_a and "(queued for approval as #2)" in out_b

    gate.kill9()
    assert gate.proc is not None and gate.proc.returncode == -9
    again = spawn(serve_argv(config), env)
    assert _pending(config, env) == {1: "feature-a", 2: "feature-b"}

    approved = cli(config, env, "review", "approve", "1", "--as", "alice", "--group", "maintainers")
    assert approved.returncode == 0 and "push #1: relayed" in approved.stdout, approved.stdout
    assert upstream_ref(bare, "refs/heads/feature-a") == tip_a
    assert upstream_ref(bare, "refs/heads/feature-b") is None
    assert _pending(config, env) == {2: "feature-b"}
    listed = git("ls-remote", again.remote(repo), cwd=work).stdout  # the new gate serves it
    assert f"{tip_a}\trefs/heads/feature-a" in listed and tip_b not in listed


# `python -m gitgate ARGS`, except that it loads first and waits for a line on stdin, so two
# of them reach the database together (Python's start-up alone would let one finish first).
AT_THE_GO = (
    "import sys, gitgate.cli, gitgate.cli.review, gitgate.outcomes.approval, gitgate.store.queue;"
    "sys.stdin.readline(); raise SystemExit(gitgate.cli.main(sys.argv[1:]))"
)


@pytest.mark.parametrize(
    "db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_two_processes_approve_at_once_relay_once(
    spawn: Spawn,
    upstream: UpstreamServer,
    seeded: tuple[Path, str],
    tmp_path: Path,
    db_url: str,
) -> None:
    bare, repo = seeded
    config = write_config(
        tmp_path / "gate.toml", tmp_path / "gate", upstream.url, queue_rule(approvals=1), db_url
    )
    env = gate_env(upstream)
    gate = spawn(serve_argv(config), env)
    work = tmp_path / "work"
    git("clone", "-q", gate.remote(repo), str(work))
    for n in (1, 2, 3):
        tip, out = _queue_push(work, f"round-{n}", 10 + n)
        assert f"(queued for approval as #{n})" in out
        posts = receive_pack_posts(upstream)
        approve = [sys.executable, "-c", AT_THE_GO, "review", "approve", str(n)]
        approve += ["--group", "maintainers", "--config", str(config)]
        racers = [
            subprocess.Popen(
                [*approve, "--as", f"r{i}"],
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for i in (1, 2)
        ]
        for racer in racers:  # both are loaded and waiting: go
            assert racer.stdin is not None
            racer.stdin.write("go\n")
            racer.stdin.flush()
        outputs = [p.communicate(timeout=120)[0] for p in racers]
        codes = sorted(p.returncode for p in racers)
        assert codes == [0, 1], outputs
        assert sum(f"push #{n}: relayed" in o for o in outputs) == 1, outputs
        assert receive_pack_posts(upstream) == posts + 1  # exactly one relay
        assert upstream_ref(bare, f"refs/heads/round-{n}") == tip
        shown = cli(config, env, "review", "show", str(n), "--json")
        assert json.loads(shown.stdout)["state"] == "relayed"


def test_systemd_units_run_as_shipped(
    spawn: Spawn,
    upstream: UpstreamServer,
    seeded: tuple[Path, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bare, repo = seeded
    state = tmp_path / "state"  # plays /var/lib: the units say %S
    config = tmp_path / "gitgate.toml"
    config.write_text(
        dumps(
            {
                "server": {"bind": "127.0.0.1:0", "workers": 1},
                "upstream": {"git_url": upstream.url, "token": f"env:{UPSTREAM_TOKEN_ENV}"},
                "auth": {"required": False},
                "scan": {"workers": 1},
                "hooks": {"dir": str(tmp_path / "no-hooks")},
            }
        )
    )
    argv, unit_env, workdir = unit_exec("gitgate.service", config, state)
    assert "--bind" not in argv  # the config's server.bind applies
    assert unit_env == {"GITGATE_DATA_DIR": str(state / "gitgate")}
    workdir.mkdir(parents=True)  # StateDirectory=: systemd creates it
    with tempfile.TemporaryDirectory(prefix="gg-") as short:
        notify_path = os.path.join(short, "notify")
        with notify_socket(notify_path) as notify:
            env = gate_env(upstream, **unit_env, NOTIFY_SOCKET=notify_path)
            gate = spawn(argv, env, workdir)
            message, sender = notification(notify)
    assert "READY=1" in message.split("\n") and sender == gate.pid  # Type=notify, main pid
    git("clone", "-q", gate.remote(repo), str(tmp_path / "work"))
    assert rev(tmp_path / "work") == upstream_ref(bare, "refs/heads/main")
    assert gate.stop() == 0  # systemctl stop: SIGTERM, a clean exit
    db_file = workdir / "gitgate.db"
    assert db_file.is_file()

    from gitgate import config as config_mod
    from gitgate.cli.db import open_bound
    from gitgate.db import bind
    from gitgate.db.fields import utcnow
    from gitgate.store import sessions

    monkeypatch.setenv("GITGATE_DATA_DIR", unit_env["GITGATE_DATA_DIR"])
    cfg = config_mod.load(config)
    assert cfg.database.url == f"sqlite:///{db_file}"
    old_when = utcnow() - timedelta(days=200)
    try:
        with open_bound(cfg):
            old = sessions.record(started_at=old_when, service="upload-pack", repo=repo)
            recent = sessions.record(service="upload-pack", repo=repo)
        purge_argv, purge_env, purge_dir = unit_exec("gitgate-purge.service", config, state)
        assert purge_env == unit_env and purge_dir == workdir
        purged = subprocess.run(
            purge_argv,
            env=gate_env(upstream, **purge_env),
            cwd=purge_dir,
            text=True,
            capture_output=True,
            timeout=120,
        )
        assert purged.returncode == 0, purged.stderr
        assert "purged" in purged.stdout and "1 sessions" in purged.stdout, purged.stdout
        with open_bound(cfg):
            assert sessions.get(old) is None
            assert sessions.get(recent) is not None
    finally:
        bind(None)

    timer = read_unit("gitgate-purge.timer")
    assert timer["Timer"]["OnCalendar"] and all(timer["Timer"]["OnCalendar"])
    # Unit= defaults to the service with the timer's own name (systemd.timer(5))
    assert timer["Timer"].get("Unit", ["gitgate-purge.service"]) == ["gitgate-purge.service"]
    assert read_unit("gitgate-purge.service")["Service"]["Type"] == ["oneshot"]
