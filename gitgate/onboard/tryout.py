"""`gitgate try`: the whole gate on one machine in a throwaway directory, no GitHub account.

It builds, under `./gitgate-try/` (or `--dir`): a local upstream holding `acme/app` (bare repos
behind `git http-backend`, see localupstream.py), a sample policy (`.github/workflows/**`
queued for the `maintainers` group, secrets refused), a data dir, an agent token for
`agent-7` (group `agents`) and an `env` file that points a second terminal at the gate. Then
it runs the real thing: `gitgate serve` (gunicorn) on a socket this process opened, so the port
is known before the gate starts and nothing races for it. Ctrl-C stops both servers and
deletes the directory: nothing of the try-out survives it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from types import FrameType

from gitgate.onboard.localupstream import LocalUpstream

MARKER = ".gitgate-try"  # only a directory holding it is ever deleted
REPO = "acme/app"
AGENT, AGENT_GROUP = "agent-7", "agents"
REVIEWER, REVIEWER_GROUP = "alice", "maintainers"
SEED_FILES = {
    "README.md": "# app\n\nA sample repository for the gitgate try-out.\n",
    "src/app.py": "def main() -> int:\n    return 1\n",
    ".github/workflows/ci.yml": "name: ci\non: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n",
}
_IDENTITY = {
    "GIT_AUTHOR_NAME": "Agent Seven",
    "GIT_AUTHOR_EMAIL": "agent-7@example.com",
    "GIT_COMMITTER_NAME": "Agent Seven",
    "GIT_COMMITTER_EMAIL": "agent-7@example.com",
}


class TryError(Exception):
    """Why the try-out cannot start; printed as it stands."""


def prepare_dir(root: Path) -> None:
    """An empty try-out dir: created, or emptied when a previous try-out left it."""
    if root.exists():
        if not (root / MARKER).exists():
            raise TryError(
                f"{root} exists and was not made by `gitgate try`; remove it or pass --dir"
            )
        shutil.rmtree(root)
    root.mkdir(parents=True)
    (root / MARKER).write_text("made by `gitgate try`; deleted when it stops\n")


def _git(*args: str, cwd: Path | None = None) -> None:
    env = {**os.environ, **_IDENTITY, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)
    except FileNotFoundError:
        raise TryError("git is not installed (or not on PATH): install git and retry") from None
    if proc.returncode != 0:
        raise TryError(f"git {' '.join(args)} failed: {proc.stderr.strip()}")


def seed_upstream(upstream_root: Path) -> Path:
    """A bare `acme/app` with one commit on main, pushable through http-backend."""
    bare = upstream_root / f"{REPO}.git"
    bare.parent.mkdir(parents=True)
    _git("init", "--bare", "--quiet", "-b", "main", str(bare))
    _git("config", "http.receivepack", "true", cwd=bare)
    with tempfile.TemporaryDirectory(prefix="gitgate-seed-") as tmp:
        work = Path(tmp)
        _git("init", "--quiet", "-b", "main", str(work))
        for name, text in SEED_FILES.items():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            (work / name).write_text(text)
        _git("add", "-A", cwd=work)
        _git("commit", "--quiet", "-m", "initial", cwd=work)
        _git("push", "--quiet", str(bare), "main:main", cwd=work)
    return bare


def _secret_file(path: Path, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")


def write_config(root: Path, upstream_url: str) -> Path:
    """The sample policy: agents write acme/app; workflows wait for a maintainer; secrets and
    the other deny checks refuse."""
    q = json.dumps
    text = f"""# gitgate try: a throwaway config (deleted when `gitgate try` stops)
[storage]
data_dir = {q(str(root / "data"))}

[upstream]
git_url = {q(upstream_url)}
token = {q("file:" + str(root / "upstream.token"))}

[hooks]
dir = {q(str(root / "hooks"))}

[scan]
workers = 1

[[rule]]
name = "try-agents"
repos = [{q(REPO)}]
groups = [{q(AGENT_GROUP)}]
access = "write"
protected_paths = [".github/workflows/**"]
reviewers = [{q(REVIEWER_GROUP)}]

[rule.actions]
protected_paths = "queue"
secrets = "reject"
"""
    path = root / "gitgate.toml"
    path.write_text(text)
    return path


def issue_agent_token(config_path: Path) -> str:
    from gitgate import config as config_mod
    from gitgate.onboard.agent_setup import issue_token

    cfg = config_mod.load(config_path)
    token, _ = issue_token(cfg, AGENT, [AGENT_GROUP], 86400)
    return token


def open_listener(bind: str) -> socket.socket:
    """Listen on `bind` (HOST:PORT, port 0 for any); the default port falls back to any free
    one when taken (a real gate may already use 8418)."""
    host, _, port = bind.rpartition(":")
    if host not in ("", "127.0.0.1", "localhost"):
        # plain HTTP, a sample policy and a throwaway key: nothing to offer beyond this host
        raise TryError(f"--bind {bind!r}: the try-out listens on loopback only (127.0.0.1)")
    try:
        sock = socket.create_server((host or "127.0.0.1", int(port)))
    except ValueError:
        raise TryError(f"--bind {bind!r}: use HOST:PORT, e.g. 127.0.0.1:8418") from None
    except OSError as ex:
        if port != "8418":
            raise TryError(f"cannot listen on {bind}: {ex.strerror}") from None
        sock = socket.create_server((host or "127.0.0.1", 0))
    sock.set_inheritable(True)
    return sock


def write_env(root: Path, gate_url: str, token_file: Path, config_path: Path) -> Path:
    """What the second terminal sources: the gate's URL and token for the credential helper,
    the config for `gitgate review`, and agent-7's commit identity."""
    lines = {
        "GITGATE_URL": gate_url,
        "GITGATE_TOKEN_FILE": str(token_file),
        "GITGATE_CONFIG": str(config_path),
        **_IDENTITY,
    }
    path = root / "env"
    path.write_text("".join(f"export {k}={json.dumps(v)}\n" for k, v in lines.items()))
    return path


def _shown(path: Path) -> str:
    with contextlib.suppress(ValueError):
        return str(path.relative_to(Path.cwd()))
    return str(path)


def next_steps(root: Path, gate_url: str, upstream_url: str) -> str:
    env = _shown(root / "env")
    return f"""gitgate try: a throwaway gate on {gate_url}, relaying to a local upstream at
  {upstream_url} that holds {REPO}. Policy: pushes that touch .github/workflows/** wait for
  a reviewer of group {REVIEWER_GROUP}; secrets are refused. You are {AGENT} (group {AGENT_GROUP}).

This terminal now runs the gate (Ctrl-C stops it and deletes {_shown(root)}/).
In ANOTHER terminal, in this directory, follow the README's "Try it" section:

  . .venv/bin/activate && . {env}
  git clone -c credential.helper= -c credential.helper=gitgate "$GITGATE_URL/{REPO}.git"

gitgate try: ready
"""


def run(root: Path, bind: str, workers: int = 1) -> int:
    """Build everything, serve until Ctrl-C (or SIGTERM), then remove it all."""
    root = root.absolute()
    prepare_dir(root)
    upstream: LocalUpstream | None = None
    child: subprocess.Popen[bytes] | None = None
    sock: socket.socket | None = None
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        sock = open_listener(bind)  # first: a bad --bind fails before anything is built
        seed_upstream(root / "upstream")
        upstream_token = secrets.token_urlsafe(32)
        _secret_file(root / "upstream.token", upstream_token)
        upstream = LocalUpstream(root / "upstream", upstream_token).start()
        config_path = write_config(root, upstream.url)
        token_file = root / "agent.token"
        _secret_file(token_file, issue_agent_token(config_path))
        host, port = sock.getsockname()[:2]
        gate_url = f"http://{host}:{port}"
        write_env(root, gate_url, token_file, config_path)
        argv = [sys.executable, "-m", "gitgate", "serve", "--config", str(config_path)]
        argv += ["--bind", f"fd://{sock.fileno()}", "--workers", str(workers)]
        # its own session: Ctrl-C reaches this process only, which stops gunicorn's arbiter
        # with SIGTERM (its graceful stop) instead of signalling every worker and scanner
        with sock:  # gunicorn holds it once started
            child = subprocess.Popen(argv, pass_fds=(sock.fileno(),), start_new_session=True)
        print(next_steps(root, gate_url, upstream.url), flush=True)
        _stop_on_sigterm()
        with contextlib.suppress(KeyboardInterrupt):
            return _wait_interruptibly(child)
        return 0
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C must not skip this
            signal.signal(signum, signal.SIG_IGN)
        if sock is not None:
            sock.close()  # gunicorn holds its own copy once started
        if child is not None and child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:  # a stuck worker: the whole session goes
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)
                child.wait()
        if upstream is not None:
            upstream.stop()
        shutil.rmtree(root, ignore_errors=True)
        print(f"gitgate try: stopped; {_shown(root)}/ removed", file=sys.stderr, flush=True)
        for signum, previous in saved.items():
            signal.signal(signum, previous)


def _wait_interruptibly(child: subprocess.Popen[bytes]) -> int:
    """Wait for the gate, but stay stoppable by Ctrl-C and SIGTERM.

    The local upstream serves from other threads, and the kernel may deliver a signal to any
    of them: a bare blocking `child.wait()` in this thread would then never see EINTR and the
    Python handler (which runs only here) would wait until the gate exited by itself. A wait
    with a timeout polls in short sleeps, so the handler runs within ~50 ms wherever the
    signal landed."""
    while True:
        try:
            return child.wait(timeout=3600)
        except subprocess.TimeoutExpired:
            continue


def _stop_on_sigterm() -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)
