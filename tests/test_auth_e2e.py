"""Identity and access end to end: real git with gate-issued and OIDC tokens."""

from __future__ import annotations

import http.client
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures import jwks
from tests.fixtures.gate import GateServer
from tests.fixtures.upstream import UpstreamServer, commit, git, upstream_ref

MakeGate = Callable[..., GateServer]
OIDC_ISS = "https://idp.example.test"

RULES = [
    {"name": "readers-only", "repos": ["acme/*"], "groups": ["readers"], "access": "read"},
    {"name": "agents-write", "repos": ["acme/app"], "groups": ["agents"], "access": "write"},
    {"name": "ops-only", "repos": ["acme/ops"], "groups": ["ops"], "access": "write"},
]


@pytest.fixture
def oidc() -> Iterator[tuple[jwks.JwksServer, Any]]:
    key = jwks.rsa_key()
    with jwks.jwks_server(jwks.rsa_jwk(key, "k1")) as server:
        yield server, key


@pytest.fixture
def gate(
    make_gate: MakeGate, seeded: tuple[Path, str], oidc: tuple[jwks.JwksServer, Any]
) -> GateServer:
    server, _ = oidc
    return make_gate(
        RULES,
        sections={
            "auth": {
                "required": True,
                "oidc": [
                    {
                        "name": "idp",
                        "issuer": OIDC_ISS,
                        "audience": "gitgate",
                        "jwks_url": server.url,
                    }
                ],
            }
        },
    )


def issue(
    gate: GateServer, capsys: pytest.CaptureFixture[str], subject: str, *groups: str
) -> tuple[str, str]:
    args = ["token", "issue", "--subject", subject, "--ttl", "1h"]
    for g in groups:
        args += ["--group", g]
    assert gate.cli(*args) == 0
    out, err = capsys.readouterr()
    jti = err.split("token id (jti): ")[1].split(";")[0]
    return out.strip(), jti


def get(gate: GateServer, path: str, auth: str | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", gate.server.server_port, timeout=30)
    conn.request("GET", path, headers={"Authorization": auth} if auth else {})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body


def test_gate_token_clone_push_and_401_flow(
    gate: GateServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    upstream: UpstreamServer,
    caplog: pytest.LogCaptureFixture,
    seeded: tuple[Path, str],
) -> None:
    caplog.set_level(logging.DEBUG)
    bare, repo = seeded
    token, _ = issue(gate, capsys, "agent-7", "agents")
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo, token), str(work))
    tip = commit(work, {"src/a.py": "a = 1\n"}, "a")
    result = git("push", "origin", "HEAD:main", cwd=work, check=False)
    assert result.returncode == 0, result.stderr
    assert upstream_ref(bare, "refs/heads/main") == tip

    # no credentials: 401 with the Basic challenge, so git asks its credential helper
    status, headers, body = get(gate, f"/{repo}.git/info/refs?service=git-upload-pack")
    assert status == 401 and headers["www-authenticate"] == 'Basic realm="gitgate"'
    assert body.count(b"\n") == 1
    # ...and the helper's answer works: credential.helper=store with the token as password
    creds = tmp_path / "creds"
    creds.write_text(f"http://agent-7:{token}@127.0.0.1:{gate.server.server_port}\n")
    result = git(
        "-c",
        f"credential.helper=store --file={creds}",
        "clone",
        "-q",
        gate.remote(repo),
        str(tmp_path / "helper"),
        check=False,
    )
    assert result.returncode == 0, result.stderr

    # upstream only ever saw the gate's credential, never the agent's token
    assert set(upstream.seen_auth) == {upstream.expected_auth()}
    assert token not in caplog.text and token not in result.stderr
    session_text = _all_session_records()
    assert token not in session_text and "agent-7" in session_text


def _all_session_records() -> str:
    import io

    from gitgate.db.fields import utcnow
    from gitgate.store import sessions

    out = io.StringIO()
    from datetime import timedelta

    sessions.export_jsonl(utcnow() - timedelta(days=1), out)
    return out.getvalue()


def test_oidc_token_and_revocation(
    gate: GateServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    oidc: tuple[jwks.JwksServer, Any],
    seeded: tuple[Path, str],
) -> None:
    _, repo = seeded
    _, key = oidc
    token = jwks.mint(
        key, jwks.claims(iss=OIDC_ISS, aud="gitgate", sub="svc-ci", groups=["agents"]), kid="k1"
    )
    git("clone", "-q", gate.remote(repo, token), str(tmp_path / "oidc"))

    gate_token, jti = issue(gate, capsys, "agent-9", "agents")
    status, _, _ = get(
        gate, f"/{repo}.git/info/refs?service=git-upload-pack", f"Bearer {gate_token}"
    )
    assert status == 200
    assert gate.cli("token", "revoke", jti, "--reason", "leaked in a log") == 0
    status, _, body = get(
        gate, f"/{repo}.git/info/refs?service=git-upload-pack", f"Bearer {gate_token}"
    )
    assert status == 401 and b"revoked" in body and gate_token.encode() not in body


def test_read_only_none_and_group_scoping(
    gate: GateServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    upstream: UpstreamServer,
    seeded: tuple[Path, str],
) -> None:
    _, repo = seeded
    upstream.create_repo("acme/ops")
    reader, _ = issue(gate, capsys, "reader-1", "readers")
    work = tmp_path / "r"
    git("clone", "-q", gate.remote(repo, reader), str(work))  # read: clone works
    commit(work, {"x.txt": "x\n"}, "x")
    result = git("push", "origin", "HEAD:main", cwd=work, check=False)
    assert result.returncode != 0
    assert "rule 'readers-only' gives you read access" in result.stderr

    stranger, _ = issue(gate, capsys, "stranger", "visitors")
    status, _, body = get(
        gate, f"/{repo}.git/info/refs?service=git-upload-pack", jwks.basic(stranger)
    )
    assert status == 403 and b"no rule gives you access" in body

    agent, _ = issue(gate, capsys, "agent-7", "agents")  # agents: acme/app only
    status, _, body = get(
        gate, "/acme/ops.git/info/refs?service=git-upload-pack", jwks.basic(agent)
    )
    assert status == 403
    ops, _ = issue(gate, capsys, "ops-1", "ops")
    status, _, _ = get(gate, "/acme/ops.git/info/refs?service=git-receive-pack", jwks.basic(ops))
    assert status == 200


def test_explain(gate: GateServer, capsys: pytest.CaptureFixture[str]) -> None:
    token, _ = issue(gate, capsys, "reader-1", "readers")
    assert (
        gate.cli("explain", "--token", token, "--repo", "acme/app", "--ref", "refs/heads/main") == 0
    )
    out = capsys.readouterr().out
    assert "rule[0] 'readers-only' applies" in out and "access: read" in out
    assert gate.cli("explain", "--subject", "x", "--group", "nobody", "--repo", "acme/app") == 1
    assert "no rule matches" in capsys.readouterr().out
