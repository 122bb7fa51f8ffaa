"""Bad input gets a clear error and changes nothing: raw HTTP against the gate."""

from __future__ import annotations

import http.client
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from dulwich.protocol import pkt_line

from tests.fixtures.gate import GateServer
from tests.fixtures.upstream import commit, git, git_env, rev, upstream_ref

MakeGate = Callable[..., GateServer]
ZERO = b"0" * 40


def post(
    gate: GateServer, path: str, body: bytes, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", gate.server.server_port, timeout=30)
    conn.request(
        "POST",
        path,
        body=body,
        headers={"Content-Type": "application/x-git-receive-pack-request", **(headers or {})},
    )
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data


def command(old: bytes, new: bytes, ref: bytes, caps: bytes = b"report-status") -> bytes:
    return pkt_line(old + b" " + new + b" " + ref + b"\0" + caps + b"\n")


@pytest.fixture
def gate(make_gate: MakeGate, seeded: tuple[Path, str]) -> GateServer:
    return make_gate()


URL = "/acme/app.git/git-receive-pack"


FATAL = b"\x03gitgate: bad push request: "  # side-band 3: git prints it as `remote: ...`


def test_truncated_pkt_line(gate: GateServer) -> None:
    status, body = post(gate, URL, b"00a0short")
    assert status == 200  # in-band: git hides an HTTP error's body
    assert FATAL in body and b"truncated" in body and b"tell the gitgate admin" in body


def test_bad_length_prefix(gate: GateServer) -> None:
    status, body = post(gate, URL, b"-001" + b"x" * 20)
    assert status == 200
    assert FATAL in body and b"malformed pkt-line" in body


def test_bad_ref_name_and_ids(gate: GateServer) -> None:
    status, body = post(gate, URL, command(ZERO, b"1" * 40, b"refs/heads/a..b") + b"0000")
    assert status == 200 and body[4:].startswith(b"ERR gitgate: bad push request: invalid")
    status, body = post(gate, URL, pkt_line(b"zz " + b"1" * 40 + b" refs/heads/x\n") + b"0000")
    assert status == 200 and b"malformed ref update" in body


def test_missing_pack(gate: GateServer) -> None:
    """Refs were read: the report names each one, as git's own receive-pack would."""
    status, body = post(gate, URL, command(ZERO, b"1" * 40, b"refs/heads/x") + b"0000")
    assert status == 200
    assert body[4:].startswith(b"unpack error bad push request: the push has ref updates")
    assert b"ng refs/heads/x bad push request: the push has ref updates but no pack" in body
    status, body = post(
        gate, URL, command(ZERO, b"1" * 40, b"refs/heads/x", b"report-status side-band-64k")
    )
    assert status == 200
    assert b"\x02error: gitgate: bad push request" in body and b"\x01" in body


def test_garbage_pack_is_refused_in_band(gate: GateServer, seeded: tuple[Path, str]) -> None:
    bare, _ = seeded
    before = upstream_ref(bare, "refs/heads/main")
    garbage = b"PACK\x00\x00\x00\x02\x00\x00\x00\x01" + b"\xff" * 64
    status, body = post(
        gate, URL, command(before.encode(), b"1" * 40, b"refs/heads/main") + b"0000" + garbage
    )
    assert status == 200
    assert b"unpack error" in body and b"ng refs/heads/main unpack failed" in body
    assert upstream_ref(bare, "refs/heads/main") == before


def test_probe_and_unknown_service(gate: GateServer) -> None:
    status, body = post(gate, URL, b"0000")  # git's probe before a chunked upload
    assert status == 200 and body == b""
    conn = http.client.HTTPConnection("127.0.0.1", gate.server.server_port, timeout=30)
    conn.request("GET", "/acme/app.git/info/refs")  # dumb protocol
    resp = conn.getresponse()
    assert resp.status == 403 and b"smart HTTP" in resp.read()


def test_oversize_push_is_refused_in_band(make_gate: MakeGate, seeded: tuple[Path, str]) -> None:
    bare, _ = seeded
    gate = make_gate(sections={"storage": {"max_push_bytes": 10_000}})
    before = upstream_ref(bare, "refs/heads/main")
    body = (
        command(before.encode(), b"1" * 40, b"refs/heads/main") + b"0000" + b"PACK" + b"\0" * 50_000
    )
    status, data = post(gate, URL, body)
    assert status == 200
    assert b"exceeds the gate's limit" in data
    assert upstream_ref(bare, "refs/heads/main") == before


def _pack(work: Path, new: str, old: str) -> bytes:
    proc = subprocess.run(
        ["git", "pack-objects", "--revs", "--stdout", "-q"],
        cwd=work,
        env=git_env(),
        input=f"{new}\n^{old}\n".encode(),
        capture_output=True,
        check=True,
    )
    return proc.stdout


@pytest.mark.parametrize("caps", [b"report-status", b""])
def test_clients_without_side_band(
    gate: GateServer, seeded: tuple[Path, str], tmp_path: Path, caps: bytes
) -> None:
    """Old or minimal clients: the report comes without band framing, or not at all."""
    bare, repo = seeded
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo), str(work))
    old = rev(work)
    new = commit(work, {"plain.txt": "plain\n"}, "plain client")
    body = command(old.encode(), new.encode(), b"refs/heads/main", caps) + b"0000"
    status, data = post(gate, URL, body + _pack(work, new, old))
    assert status == 200
    if caps:
        assert data == pkt_line(b"unpack ok\n") + pkt_line(b"ok refs/heads/main\n") + b"0000"
    else:
        assert data == b""
    assert upstream_ref(bare, "refs/heads/main") == new


def test_upstream_redirect_names_the_new_repo() -> None:
    from gitgate.git.access import moved_to

    assert moved_to("https://github.com/acme/new-name.git/info/refs?service=x") == "acme/new-name"
    assert moved_to("https://github.com/login") == ""
    assert moved_to("https://github.com/../etc/x") == ""
