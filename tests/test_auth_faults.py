"""The gate's own faults are not blamed on the agent (issue #8 section 4, database part).

A 401 makes git's credential helper erase the agent's stored token; a database that went away
or an identity provider that is down must give 503 with ``Retry-After`` instead, and ``serve``
must say so in one line.
"""

from __future__ import annotations

import http.client
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures import db as dbfix
from tests.fixtures import jwks as j
from tests.fixtures.gate import GateServer
from tests.fixtures.service import base_env
from tests.fixtures.tcpproxy import TcpProxy
from tests.fixtures.toml import dumps
from tests.fixtures.upstream import git

RULES = [{"name": "agents", "repos": ["acme/*"], "groups": ["agents"], "access": "write"}]


@pytest.fixture
def pg_behind_proxy() -> Iterator[tuple[str, TcpProxy]]:
    """A fresh PostgreSQL database reached through a proxy the test can cut."""
    reason = dbfix.postgres_unreachable()
    if reason:
        pytest.skip(reason)
    name = f"gitgate_t_{secrets.token_hex(6)}"
    dbfix._admin(f"CREATE DATABASE {name}")
    proxy = TcpProxy(dbfix.PG_HOST, dbfix.PG_PORT).start()
    try:
        yield f"postgresql://postgres@127.0.0.1:{proxy.port}/{name}", proxy
    finally:
        proxy.stop()
        dbfix._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(gate: GateServer, path: str, token: str) -> tuple[int, dict[str, str], str]:
    conn = http.client.HTTPConnection("127.0.0.1", gate.server.server_port, timeout=60)
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    resp = conn.getresponse()
    body = resp.read().decode()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body


@pytest.mark.postgres
def test_database_unreachable_is_503_and_git_keeps_the_token(
    make_gate: Any,
    seeded: tuple[Path, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    pg_behind_proxy: tuple[str, TcpProxy],
) -> None:
    url, proxy = pg_behind_proxy
    _, repo = seeded
    gate = make_gate(RULES, sections={"auth": {"required": True}}, db_url=url)
    assert gate.cli("token", "issue", "--subject", "agent-7", "--group", "agents") == 0
    token = capsys.readouterr().out.strip()
    creds = tmp_path / "creds"
    creds.write_text(f"http://agent-7:{token}@127.0.0.1:{gate.server.server_port}\n")
    helper = ["-c", f"credential.helper=store --file={creds}"]
    git(*helper, "clone", "-q", gate.remote(repo), str(tmp_path / "ok"))

    proxy.stop()  # the database host goes away

    status, headers, body = _get(gate, f"/{repo}.git/info/refs?service=git-upload-pack", token)
    assert status == 503, body
    assert int(headers["retry-after"]) > 0
    assert "gate's fault" in body and "try again" in body and token not in body
    assert "www-authenticate" not in headers

    result = git(*helper, "clone", "-q", gate.remote(repo), str(tmp_path / "down"), check=False)
    assert result.returncode != 0
    assert "503" in result.stderr or "gate's fault" in result.stderr
    conn = http.client.HTTPConnection("127.0.0.1", gate.server.server_port, timeout=60)
    conn.request("GET", "/readyz")
    ready = conn.getresponse()
    assert ready.status == 503 and b"database unreachable" in ready.read()
    conn.close()
    # git erases a stored credential only on 401: the agent's token survives the outage
    assert token in creds.read_text()


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("postgresql://postgres:pw-xyz@127.0.0.1:{port}/gitgate", "cannot reach the database"),
        ("sqlite:////nonexistent/gitgate-dir/gitgate.db", "database.url: directory"),
    ],
)
def test_serve_with_unreachable_database_says_one_line(tmp_path: Path, url: str, says: str) -> None:
    config = tmp_path / "gate.toml"
    config.write_text(
        dumps(
            {
                "storage": {"data_dir": str(tmp_path / "data")},
                "database": {"url": url.format(port=_closed_port())},
            }
        )
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gitgate",
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--config",
            str(config),
        ],
        env=base_env(HOME=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"gitgate: {says}") and "database.url" in lines[0]
    assert "pw-xyz" not in result.stderr


def test_identity_provider_down_is_503_for_its_tokens_only(
    make_gate: Any,
    seeded: tuple[Path, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, repo = seeded
    idp = "https://idp.example.test"
    oidc = {"name": "idp", "issuer": idp, "audience": "gitgate", "jwks_url": j.closed_port_url()}
    gate = make_gate(RULES, sections={"auth": {"required": True, "oidc": [oidc]}})
    key = j.rsa_key()
    token = j.mint(key, j.claims(iss=idp, aud="gitgate", groups=["agents"]), kid="k1")
    creds = tmp_path / "creds"
    creds.write_text(f"http://svc:{token}@127.0.0.1:{gate.server.server_port}\n")
    helper = ["-c", f"credential.helper=store --file={creds}"]
    result = git(*helper, "clone", "-q", gate.remote(repo), str(tmp_path / "down"), check=False)
    assert result.returncode != 0
    assert token in creds.read_text()  # a 401 would have made git erase it
    status, headers, body = _get(gate, f"/{repo}.git/info/refs?service=git-upload-pack", token)
    assert status == 503 and int(headers["retry-after"]) > 0
    assert "issuer idp" in body and "gate's fault" in body
    # the gate's own tokens are not held up by the dead provider
    assert gate.cli("token", "issue", "--subject", "agent-7", "--group", "agents") == 0
    own = capsys.readouterr().out.strip()
    git("clone", "-q", gate.remote(repo, own), str(tmp_path / "own"))
