"""The gate's upstream credential end to end: a GitHub App behind a fake token endpoint."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures import jwks
from tests.fixtures.gate import GateServer
from tests.fixtures.upstream import UpstreamServer, git
from tests.test_upstream_cred import APP_ID, INSTALLATION, FakeGitHub

MakeGate = Callable[..., GateServer]


@pytest.fixture
def github_app(tmp_path: Path) -> Iterator[tuple[FakeGitHub, Path]]:
    key = jwks.rsa_key()
    pem = tmp_path / "app.pem"
    pem.write_bytes(jwks.private_pem(key))
    pem.chmod(0o600)
    server = FakeGitHub(key.public_key(), time.time)
    yield server, pem
    server.stop()


def test_github_app_installation_token_reaches_upstream(
    make_gate: MakeGate,
    seeded: tuple[Path, str],
    tmp_path: Path,
    upstream: UpstreamServer,
    github_app: tuple[FakeGitHub, Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, repo = seeded
    fake, pem = github_app
    upstream.token = "ghs_installation0001"  # what the first exchange hands out
    gate = make_gate(
        sections={
            "upstream": {
                "token": "",
                "api_url": fake.url,
                "app": {
                    "app_id": int(APP_ID),
                    "private_key": str(pem),
                    "installation_id": int(INSTALLATION),
                },
            }
        }
    )
    upstream.seen_auth.clear()
    git("clone", "-q", gate.remote(repo), str(tmp_path / "a"))
    assert fake.exchanges == 1
    assert set(upstream.seen_auth) == {upstream.expected_auth()}

    # the installation token stops working upstream (expired, revoked): the gate exchanges
    # a new one and retries once, and the agent notices nothing
    upstream.token = "ghs_installation0002"
    git("clone", "-q", gate.remote(repo), str(tmp_path / "b"))
    assert fake.exchanges == 2

    # upstream refuses whatever the gate has: the agent is told it is the gate's credential
    upstream.token = "something-else-entirely"
    result = git("clone", gate.remote(repo), str(tmp_path / "c"), check=False)
    assert result.returncode != 0
    assert "the gate's upstream credential was refused by upstream (HTTP 401)" in result.stderr
    assert "this is not your token" in result.stderr
    assert "credential" in caplog.text and "ghs_installation" not in caplog.text


def test_static_token_refused(
    make_gate: MakeGate,
    seeded: tuple[Path, str],
    tmp_path: Path,
    upstream: UpstreamServer,
    monkeypatch: Any,
) -> None:
    _, repo = seeded
    gate = make_gate()
    upstream.token = "rotated-away"
    result = git("clone", gate.remote(repo), str(tmp_path / "c"), check=False)
    assert result.returncode != 0
    assert "the gate's upstream credential was refused by upstream" in result.stderr
