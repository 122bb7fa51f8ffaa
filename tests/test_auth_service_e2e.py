"""Identity through real `gitgate serve` processes (gunicorn, gthread workers).

Section 3 of issue #8: an identity provider that hangs must not hold the worker threads that a
valid gate-token clone needs. Section 7: gate tokens verify on every instance that shares the
database, keys rotate, lifetimes are capped.
"""

from __future__ import annotations

import http.client
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures import db as dbfix
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
        queue={"max_held": 2},  # must stay below server.threads (config validation, #14)
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

        key = j.rsa_key()
        forged = [j.mint(key, j.claims(iss=SLOW_ISS, aud="gitgate"), kid="x") for _ in range(20)]
        threads = [
            threading.Thread(target=lambda t=t: statuses.append(_status(port, path, t)))
            for t in forged
        ]
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


@pytest.fixture
def pg_url() -> Iterator[str]:
    """One fresh PostgreSQL database for several gate processes."""
    reason = dbfix.postgres_unreachable()
    if reason:
        pytest.skip(reason)
    name = f"gitgate_t_{secrets.token_hex(6)}"
    dbfix._admin(f"CREATE DATABASE {name}")
    try:
        yield f"postgresql://postgres@{dbfix.PG_HOST}:{dbfix.PG_PORT}/{name}"
    finally:
        dbfix._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.mark.slow
@pytest.mark.postgres
def test_two_instances_share_one_identity(
    tmp_path: Path, upstream: UpstreamServer, seeded: tuple[Path, str], pg_url: str
) -> None:
    _, repo = seeded
    env = base_env(
        **{UPSTREAM_TOKEN_ENV: upstream.token or "", "GITGATE_KEY_SECRET": secrets.token_hex(32)}
    )
    auth = {"required": True, "key_secret": "env:GITGATE_KEY_SECRET", "max_token_ttl": "30d"}
    configs = [
        write_config(
            tmp_path / f"{n}.toml", tmp_path / f"data-{n}", upstream.url, RULES, pg_url, auth=auth
        )
        for n in ("a", "b")
    ]

    def issue(config: Path, *extra: str) -> str:
        result = cli(
            config, env, "token", "issue", "--subject", "agent-7", "--group", "agents", *extra
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    with (
        GateProcess(serve_argv(configs[0]), env).start() as a,
        GateProcess(serve_argv(configs[1]), env).start() as b,
    ):
        from_b = issue(configs[1])
        git("clone", "-q", a.remote(repo, from_b), str(tmp_path / "via-a"))  # B's token on A
        from_a = issue(configs[0])
        git("clone", "-q", b.remote(repo, from_a), str(tmp_path / "via-b"))

        rotated = cli(configs[0], env, "token", "rotate-key")
        assert rotated.returncode == 0, rotated.stderr
        assert "retired key" in rotated.stdout and "until they expire" in rotated.stdout
        after = issue(configs[1])
        assert _kid(after) != _kid(from_b)
        for gate, token in ((a, after), (b, after), (a, from_b), (b, from_a)):
            status, _ = _status(
                gate.port or 0, f"/{repo}.git/info/refs?service=git-upload-pack", token
            )
            assert status == 200

        too_long = cli(configs[1], env, "token", "issue", "--subject", "x", "--ttl", "100d")
        assert too_long.returncode == 2
        assert "longer than auth.max_token_ttl" in too_long.stderr and not too_long.stdout

        listing = cli(configs[1], env, "token", "keys")
        assert listing.returncode == 0
        assert _kid(after) in listing.stdout and "active" in listing.stdout
        assert _kid(from_b) in listing.stdout and "retired" in listing.stdout


def _kid(token: str) -> str:
    import jwt

    return str(jwt.get_unverified_header(token)["kid"])
