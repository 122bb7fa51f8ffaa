"""The receive-pack advertisement as real git reads it through the gate, in each protocol
version a push can use (v2 has no push: git falls back to v0 for it)."""

from __future__ import annotations

import http.client
import io
from collections.abc import Callable
from pathlib import Path

import pytest

from gitgate.git.wire import parse_advertisement
from tests.fixtures.gate import GateServer
from tests.fixtures.upstream import commit, git, upstream_ref

MakeGate = Callable[..., GateServer]


def advertisement(gate: GateServer, repo: str, git_protocol: str | None) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", gate.server.server_port, timeout=30)
    headers = {"Git-Protocol": git_protocol} if git_protocol else {}
    conn.request("GET", f"/{repo}.git/info/refs?service=git-receive-pack", headers=headers)
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    assert resp.status == 200, body
    return body


@pytest.mark.parametrize(("version", "header"), [("0", None), ("1", "version=1")])
def test_push_in_each_protocol_version_sees_only_the_gates_capabilities(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path, version: str, header: str | None
) -> None:
    bare, repo = seeded
    gate = make_gate()
    adv = parse_advertisement(io.BytesIO(advertisement(gate, repo, header)).read)
    assert adv.version == int(version)
    assert adv.refs[b"refs/heads/main"] == upstream_ref(bare, "refs/heads/main").encode()
    assert adv.capabilities[-1] == b"agent=gitgate"  # filtered, whatever the version line
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo), str(work))
    new = commit(work, {"v.txt": version + "\n"}, "v")
    pushed = git("-c", f"protocol.version={version}", "push", "origin", "HEAD:main", cwd=work)
    assert pushed.returncode == 0, pushed.stderr
    assert upstream_ref(bare, "refs/heads/main") == new
