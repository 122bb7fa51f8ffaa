"""git-credential-gitgate and `gitgate agent-setup`, with the real git client.

The issue: a token in the remote URL spreads into `.git/config`, `.gitmodules` and git-lfs
output. These tests clone and push through the gate with plain remotes and the helper, then
look for the token everywhere it used to land.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fixtures.gate import GateServer
from tests.fixtures.upstream import UpstreamServer, commit, git, git_env, upstream_ref

MakeGate = Callable[..., GateServer]
BIN = Path(sys.executable).parent  # where pip put gitgate and git-credential-gitgate
RULES = [{"name": "agents-write", "repos": ["acme/*"], "groups": ["agents"], "access": "write"}]


def helper_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """git's environment with the helper on PATH and a HOME of its own."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {**git_env(home), "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    env["GIT_CONFIG_GLOBAL"] = str(home / ".gitconfig")  # where agent-setup's lines write
    return {**env, **extra}


def fill(env: dict[str, str], url: str) -> subprocess.CompletedProcess[str]:
    """`git credential fill` through the helper, as git does before an HTTP request."""
    return subprocess.run(
        [
            "git",
            "-c",
            "credential.helper=",
            "-c",
            "credential.helper=gitgate",
            "credential",
            "fill",
        ],
        input=f"url={url}\n\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_helper_hands_the_token_only_to_the_gate(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("eyJ.agent-token.sig\n")
    env = helper_env(
        tmp_path, GITGATE_URL="http://127.0.0.1:8418", GITGATE_TOKEN_FILE=str(token_file)
    )
    ok = fill(env, "http://127.0.0.1:8418/acme/app.git")
    assert ok.returncode == 0, ok.stderr
    assert "password=eyJ.agent-token.sig" in ok.stdout.splitlines()
    # another host, another port, another scheme: no answer, so git has no credential
    for url in (
        "https://github.com/acme/app.git",
        "http://127.0.0.1:9999/acme/app.git",
        "https://127.0.0.1:8418/acme/app.git",
    ):
        other = fill(env, url)
        assert other.returncode != 0, url
        assert "agent-token" not in other.stdout + other.stderr
    # no gate URL: nothing is handed out, and the message says what to set
    no_url = fill({k: v for k, v in env.items() if k != "GITGATE_URL"}, "http://127.0.0.1:8418/x")
    assert no_url.returncode != 0
    assert "agent-token" not in no_url.stdout
    assert "set GITGATE_URL" in no_url.stderr
    # $GITGATE_TOKEN works too; a missing token file is named, not guessed around
    env_token = {**env, "GITGATE_TOKEN": "tok-from-env"}
    del env_token["GITGATE_TOKEN_FILE"]
    assert "password=tok-from-env" in fill(env_token, "http://127.0.0.1:8418/a.git").stdout
    missing = fill({**env, "GITGATE_TOKEN_FILE": str(tmp_path / "nope")}, "http://127.0.0.1:8418/")
    assert missing.returncode != 0 and "cannot read the token file" in missing.stderr


def test_helper_store_and_erase_write_nothing(tmp_path: Path) -> None:
    helper = BIN / "git-credential-gitgate"
    request = "protocol=http\nhost=127.0.0.1:8418\nusername=gitgate\npassword=secret-tok\n\n"
    before = sorted(p.name for p in tmp_path.iterdir())
    for op in ("store", "erase"):
        proc = subprocess.run(
            [str(helper), op], input=request, capture_output=True, text=True, cwd=tmp_path
        )
        assert proc.returncode == 0 and proc.stdout == "" and proc.stderr == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.slow
def test_agent_setup_lines_clone_and_push_with_no_token_on_disk(
    make_gate: MakeGate,
    seeded: tuple[Path, str],
    upstream: UpstreamServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bare, repo = seeded
    lib = upstream.create_repo("acme/lib")
    seed = tmp_path / "lib-seed"
    git("clone", "-q", str(lib), str(seed))
    commit(seed, {"lib.py": "y = 2\n"}, "lib")
    git("push", "-q", "origin", "HEAD:main", cwd=seed)
    gate = make_gate(RULES, sections={"auth": {"required": True}})
    token_file = tmp_path / "agent.token"
    assert (
        gate.cli(
            "agent-setup",
            "--subject",
            "agent-7",
            "--group",
            "agents",
            "--repo",
            repo,
            "--url",
            gate.url,
            "--token-file",
            str(token_file),
            "--ttl",
            "1h",
        )
        == 0
    )
    lines, err = capsys.readouterr()
    token = token_file.read_text().strip()
    assert token.count(".") == 2 and oct(token_file.stat().st_mode & 0o777) == "0o600"
    assert token not in lines and "revoke with: gitgate token revoke" in err
    assert f"git clone {gate.url}/{repo}.git" in lines
    host = gate.url.split("//")[1]
    assert f"export GH_HOST={host}" in lines and f"base_url='{gate.url}/api/v3'" in lines

    # run the printed lines exactly, in a sandbox of their own
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    env = helper_env(tmp_path)
    run = subprocess.run(
        ["bash", "-euc", lines], cwd=sandbox, env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    for line in lines.splitlines():  # the sandbox keeps the exported variables
        if line.startswith("export "):
            key, _, value = shlex.split(line[len("export ") :])[0].partition("=")
            env[key] = value
    work = sandbox / "app"
    commit(work, {"src/new.py": "x = 1\n"}, "add new")
    sub = git("submodule", "add", "-q", f"{gate.url}/acme/lib.git", "lib", cwd=work, env=env)
    git("commit", "-q", "-m", "lib as a submodule", cwd=work, env=env)
    assert f"url = {gate.url}/acme/lib.git" in (work / ".gitmodules").read_text()
    push = git("push", "origin", "HEAD:main", cwd=work, env=env)
    assert (
        upstream_ref(bare, "refs/heads/main") == git("rev-parse", "HEAD", cwd=work).stdout.strip()
    )

    # nowhere on disk: the repo's config, .gitmodules, the global config, git's output
    on_disk = [work / ".git" / "config", work / ".gitmodules", tmp_path / "home" / ".gitconfig"]
    on_disk += [work / ".git" / "modules" / "lib" / "config"]
    for path in on_disk:
        assert token not in path.read_text(), path
    assert token not in push.stdout + push.stderr + run.stdout + run.stderr + sub.stderr
    gitconfig = (tmp_path / "home" / ".gitconfig").read_text()
    assert "helper = gitgate" in gitconfig and f'[credential "{gate.url}"]' in gitconfig
    # upstream saw only the gate's credential
    assert all(a is None or token not in a for a in upstream.seen_auth)

    if not shutil.which("git-lfs"):
        pytest.skip("git-lfs is not installed (.ci/run installs it): LFS output not checked")
    git("lfs", "install", "--local", cwd=work, env=env)
    git("lfs", "track", "*.bin", cwd=work, env=env)
    commit(
        work,
        {
            ".gitattributes": (work / ".gitattributes").read_text(),
            "data/blob.bin": os.urandom(2048),
        },
        "lfs object",
        env=env,
    )
    lfs = git("push", "origin", "HEAD:main", cwd=work, env=env, check=False)
    lfs_env = git("lfs", "env", cwd=work, env=env)
    out = lfs.stdout + lfs.stderr + lfs_env.stdout + lfs_env.stderr
    assert f"{gate.url}/{repo}.git/info/lfs" in out  # git-lfs did talk to the gate...
    assert token not in out  # ...and printed no token
    for path in (work / ".git" / "config", *(work / ".git" / "lfs").rglob("*")):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path
