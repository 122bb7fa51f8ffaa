"""Identity through real `gitgate serve` processes (gunicorn, gthread workers).

Section 3 of issue #8: an identity provider that hangs must not hold the worker threads that a
valid gate-token clone needs. Section 7: gate tokens verify on every instance that shares the
database, keys rotate, lifetimes are capped.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures import jwks as j
from tests.fixtures.gate import UPSTREAM_TOKEN_ENV, write_config
from tests.fixtures.service import GateProcess, base_env, cli, serve_argv
from tests.fixtures.upstream import UpstreamServer, git

SLOW_ISS = "https://slow.example.test"
RULES = [{"name": "agents", "repos": ["acme/*"], "groups": ["agents"], "access": "write"}]


@pytest.fixture
def hanging() -> Iterator[j.HangingServer]:
    server = j.HangingServer().start()
    yield server
    server.stop()


def _status(port: int, path: str, token: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        resp = conn.getresponse()
        resp.read()
        return resp.status, resp.getheader("Retry-After") or ""
    finally:
        conn.close()


@pytest.mark.slow
def test_hanging_identity_provider_does_not_stall_a_gate_token_clone(
    tmp_path: Path,
    upstream: UpstreamServer,
    seeded: tuple[Path, str],
    hanging: j.HangingServer,
) -> None:
    _, repo = seeded
    oidc = {"name": "slow", "issuer": SLOW_ISS, "audience": "gitgate", "jwks_url": hanging.url}
    config = write_config(
        tmp_path / "gate.toml",
        tmp_path / "data",
        upstream.url,
        RULES,
        auth={"required": True, "oidc": [oidc]},
        server={"threads": 4},
    )
    env = base_env(**{UPSTREAM_TOKEN_ENV: upstream.token or ""})
    issued = cli(config, env, "token", "issue", "--subject", "agent-7", "--group", "agents")
    assert issued.returncode == 0, issued.stderr
    token = issued.stdout.strip()
    with GateProcess(serve_argv(config), env).start() as gate:
        assert gate.port is not None
        port = gate.port
        path = f"/{repo}.git/info/refs?service=git-upload-pack"
        statuses: list[tuple[int, str]] = []

        def forged() -> None:
            bad = j.mint(j.rsa_key(), j.claims(iss=SLOW_ISS, aud="gitgate"), kid="forged")
            statuses.append(_status(port, path, bad))

        threads = [threading.Thread(target=forged) for _ in range(20)]
        for t in threads:
            t.start()
        assert hanging.wait_for(1)
        started = time.monotonic()
        clone = git("clone", "-q", gate.remote(repo, token), str(tmp_path / "w"), check=False)
        elapsed = time.monotonic() - started
        assert clone.returncode == 0, clone.stderr
        # one fetch for twenty tokens (then the failure is cached): the threads the clone
        # needed were never all held by the hanging identity provider
        assert hanging.connections == 1
        hanging.release()
        for t in threads:
            t.join(60)
        assert len(statuses) == 20
        assert all(s == 503 and int(r) > 0 for s, r in statuses), statuses
        print(f"gate-token clone during a hanging JWKS fetch: {elapsed:.3f} s")
