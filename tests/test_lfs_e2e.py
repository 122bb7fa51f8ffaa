"""Git LFS through the gate, with the real git and git-lfs clients.

The gate does not relay LFS: every `/info/lfs/` request gets the JSON `{"message": ...}` that
git-lfs prints (never the token-bearing URL it prints for a bare 404), and a pointer pushed
without its object (git push --no-verify, or no git-lfs at all) is refused by the `lfs` check.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fixtures.gate import GateServer
from tests.fixtures.upstream import commit, git, upstream_ref

MakeGate = Callable[..., GateServer]
TOKEN = "agent-token-that-must-never-be-printed"
needs_git_lfs = pytest.mark.skipif(
    shutil.which("git-lfs") is None, reason="git-lfs is not installed (.ci/run installs it)"
)


def pointer(content: bytes) -> bytes:
    """What `git lfs` commits in place of `content`."""
    oid = hashlib.sha256(content).hexdigest()
    spec = "version https://git-lfs.github.com/spec/v1"
    return f"{spec}\noid sha256:{oid}\nsize {len(content)}\n".encode()


def lfs_home(tmp_path: Path) -> dict[str, str]:
    """A HOME whose git config has git-lfs's filters and hooks (`git lfs install`)."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {"HOME": str(home), "GIT_CONFIG_GLOBAL": str(home / ".gitconfig")}
    git("lfs", "install", "--skip-repo", env=env)
    return env


@needs_git_lfs
def test_lfs_push_gets_the_gates_message_and_no_token(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    bare, repo = seeded
    gate = make_gate()
    env = lfs_home(tmp_path)
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo, TOKEN), str(work), env=env)
    before = upstream_ref(bare, "refs/heads/main")
    git("lfs", "track", "*.bin", cwd=work, env=env)
    (work / "model.bin").write_bytes(os.urandom(2048))
    git("add", ".gitattributes", "model.bin", cwd=work, env=env)
    git("commit", "-q", "-m", "add a model", cwd=work, env=env)
    result = git("push", "origin", "HEAD:main", cwd=work, check=False, env=env)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "gitgate: Git LFS is not available through this gate" in output
    assert "git lfs migrate export" in output  # what to do next
    assert TOKEN not in output  # git-lfs printed the remote URL, token and all, on a bare 404
    assert "locking API" not in output  # lock verification is declined quietly
    assert upstream_ref(bare, "refs/heads/main") == before
    # bypassing git-lfs's pre-push hook leaves a pointer without its object: refused too
    result = git("push", "--no-verify", "origin", "HEAD:main", cwd=work, check=False, env=env)
    assert result.returncode != 0
    assert "(rule default: Git LFS pointers without their objects: model.bin)" in result.stderr
    assert "was not uploaded through the gate" in result.stderr
    assert TOKEN not in result.stdout + result.stderr
    assert upstream_ref(bare, "refs/heads/main") == before


@needs_git_lfs
def test_lfs_download_gets_the_gates_message(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    bare, repo = seeded
    seed = tmp_path / "direct"  # a pointer that reached upstream some other way
    git("clone", "-q", str(bare), str(seed))
    commit(seed, {".gitattributes": "*.bin filter=lfs diff=lfs merge=lfs -text\n"}, "track")
    commit(seed, {"model.bin": pointer(b"weights\n")}, "pointer")
    git("push", "-q", "origin", "HEAD:main", cwd=seed)
    gate = make_gate()
    env = lfs_home(tmp_path)
    result = git("clone", gate.remote(repo, TOKEN), str(tmp_path / "c"), check=False, env=env)
    output = result.stdout + result.stderr
    assert "smudge filter lfs failed" in output
    assert "gitgate: Git LFS is not available through this gate" in output
    assert "GIT_LFS_SKIP_SMUDGE=1" in output
    assert TOKEN not in output
    # the advice works: the clone succeeds with the pointer file checked out as it is
    skip = {**env, "GIT_LFS_SKIP_SMUDGE": "1"}
    git("clone", "-q", gate.remote(repo, TOKEN), str(tmp_path / "c2"), env=skip)
    assert (tmp_path / "c2" / "model.bin").read_bytes() == pointer(b"weights\n")


def test_pointer_without_git_lfs_is_refused_unless_allowed(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    """No git-lfs on the agent's side at all: a hand-written pointer is still noticed."""
    bare, repo = seeded
    gate = make_gate()
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo), str(work))
    before = upstream_ref(bare, "refs/heads/main")
    tip = commit(work, {"data/big.bin": pointer(b"x" * 10)}, "pointer only")
    result = git("push", "origin", "HEAD:main", cwd=work, check=False)
    assert result.returncode != 0
    assert "(rule default: Git LFS pointers without their objects: data/big.bin)" in result.stderr
    oid = hashlib.sha256(b"x" * 10).hexdigest()
    assert f"sha256:{oid[:12]}" in result.stderr and f"commit {tip[:12]}" in result.stderr
    assert upstream_ref(bare, "refs/heads/main") == before
    # a text file that only mentions the spec is not a pointer
    git("reset", "-q", "--hard", "HEAD~1", cwd=work)
    text = "see version https://git-lfs.github.com/spec/v1 for the format\n"
    ok = commit(work, {"docs/lfs.md": text}, "docs")
    assert git("push", "origin", "HEAD:main", cwd=work, check=False).returncode == 0
    assert upstream_ref(bare, "refs/heads/main") == ok
    # a site that uploads LFS objects another way says so per rule
    allow = make_gate([{"name": "lfs-elsewhere", "actions": {"lfs": "allow"}}])
    git("remote", "set-url", "origin", allow.remote(repo), cwd=work)
    tip = commit(work, {"data/big.bin": pointer(b"x" * 10)}, "pointer only")
    result = git("push", "origin", "HEAD:main", cwd=work, check=False)
    assert result.returncode == 0, result.stderr
    assert upstream_ref(bare, "refs/heads/main") == tip


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/acme/app.git/info/lfs/objects/batch"),
        ("POST", "/acme/App/info/lfs/objects/batch"),
        ("GET", "/acme/app.git/info/lfs/locks"),
        ("POST", "/acme/app.git/info/lfs/locks/verify"),
        ("PUT", "/acme/app.git/info/lfs/objects/" + "a" * 64),
        ("GET", "/acme/app.git/info/lfs"),
        ("POST", "/acme/a..b.git/info/lfs/objects/batch"),
    ],
)
def test_every_lfs_request_gets_json(
    make_gate: MakeGate, seeded: tuple[Path, str], method: str, path: str
) -> None:
    gate = make_gate()
    conn = http.client.HTTPConnection("127.0.0.1", gate.server.server_port, timeout=30)
    conn.request(
        method,
        path,
        body=b'{"operation": "upload", "objects": []}',
        headers={
            "Accept": "application/vnd.git-lfs+json",
            "Authorization": "Basic " + "YWdlbnQ6c2VjcmV0LXRva2Vu",  # agent:secret-token
        },
    )
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    # 404 for the locking API (git-lfs skips lock verification quietly), 422 for the rest
    assert resp.status == (404 if "/info/lfs/locks" in path or "a..b" in path else 422)
    assert resp.getheader("Content-Type") == "application/vnd.git-lfs+json"
    message = json.loads(body)["message"]
    assert message.startswith("gitgate: ")
    assert "secret-token" not in message and "127.0.0.1" not in message
    if "a..b" in path:
        assert resp.status == 404 and "invalid repository name" in message
        return
    assert "Git LFS is not available through this gate" in message
    from gitgate.store import sessions

    [record] = sessions.list_sessions()  # audited like every request, under the canonical name
    assert (record["service"], record["decision"], record["repo"]) == ("lfs", "reject", "acme/app")
