"""The gate's upstream credential: token references, static tokens, GitHub App exchange."""

from __future__ import annotations

import base64
import json
import os
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest

from gitgate.upstream.credential import (
    GitHubApp,
    StaticToken,
    UpstreamCredentialError,
    credential_from_config,
    load_token_ref,
)
from tests.fixtures import jwks as j

APP_ID = "4242"
INSTALLATION = "77"
T0 = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


class FakeGitHub:
    """``POST /app/installations/{id}/access_tokens`` that checks the app JWT like GitHub does."""

    def __init__(self, public_key: Any, clock: Clock) -> None:
        self.public_key, self.clock = public_key, clock
        self.exchanges = 0
        self.lifetime_s = 3600
        self.status: int | None = None  # force an error status
        self.redirect_to: str | None = None
        self.seen_auth: list[str] = []
        self.bodies: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                fake.handle(self)

            def do_GET(self) -> None:
                fake.seen_auth.append(self.headers.get("Authorization", ""))
                self._send(404, {"message": "Not Found"})

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def handle(self, req: Any) -> None:
        auth = req.headers.get("Authorization", "")
        self.seen_auth.append(auth)
        if self.redirect_to:
            req.send_response(307)
            req.send_header("Location", self.redirect_to)
            req.send_header("Content-Length", "0")
            req.end_headers()
            return
        if req.path != f"/app/installations/{INSTALLATION}/access_tokens":
            return req._send(404, {"message": "Not Found"})
        if req.headers.get("Accept") != "application/vnd.github+json":
            return req._send(415, {"message": "Unsupported media type"})
        claims = self._check_app_jwt(auth)
        if claims is None or self.status is not None:
            return req._send(
                self.status or 401, {"message": "A JSON web token could not be decoded"}
            )
        with self._lock:
            self.exchanges += 1
            n = self.exchanges
        expires = datetime.fromtimestamp(self.clock() + self.lifetime_s, UTC)
        body = {
            "token": f"ghs_installation{n:04d}",
            "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        self.bodies.append(body)
        req._send(201, body)

    def _check_app_jwt(self, auth: str) -> dict[str, Any] | None:
        if not auth.startswith("Bearer "):
            return None
        try:
            claims = jwt.decode(
                auth[7:],
                self.public_key,
                algorithms=["RS256"],
                options={"verify_exp": False, "verify_iat": False, "require": ["iat", "exp"]},
            )
        except jwt.PyJWTError:
            return None
        now = self.clock()
        ok = (
            claims.get("iss") == APP_ID
            and claims["iat"] <= now
            and now < claims["exp"] <= now + 600
        )
        return claims if ok else None

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@pytest.fixture(scope="module")
def app_key() -> Any:
    return j.rsa_key()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def github(app_key: Any, clock: Clock) -> Iterator[FakeGitHub]:
    server = FakeGitHub(app_key.public_key(), clock)
    yield server
    server.stop()


@pytest.fixture
def key_file(tmp_path: Path, app_key: Any) -> Path:
    path = tmp_path / "app.pem"
    path.write_bytes(j.private_pem(app_key))
    path.chmod(0o600)
    return path


def _app(github: FakeGitHub, key_file: Path, clock: Clock) -> GitHubApp:
    return GitHubApp(APP_ID, key_file, INSTALLATION, api_url=github.url, clock=clock)


def _token_of(authorization: str | None) -> str:
    assert authorization is not None and authorization.startswith("Basic ")
    user, _, password = base64.b64decode(authorization[6:]).decode().partition(":")
    assert user == "x-access-token"
    return password


# --- token references ----------------------------------------------------------------------


def test_load_token_ref_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GG_TEST_TOKEN", " ghp_fromenv\n")
    assert load_token_ref("env:GG_TEST_TOKEN") == "ghp_fromenv"
    path = tmp_path / "token"
    path.write_text("ghp_fromfile\n")
    assert load_token_ref(f"file:{path}") == "ghp_fromfile"


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("env:GG_TEST_UNSET", "GG_TEST_UNSET is not set"),
        ("env:GG_TEST_EMPTY", "env GG_TEST_EMPTY is empty"),
        ("file:{tmp}/missing", "{tmp}/missing does not exist"),
        ("file:{tmp}/empty", "file {tmp}/empty is empty"),
        ("file:{tmp}", "cannot read file {tmp}"),
        ("ghp_inline_secret_value_123", "inline tokens are refused"),
        ("env:", "inline tokens are refused"),
        ("vault:ghp_inline_secret_value_123", "inline tokens are refused"),
    ],
)
def test_load_token_ref_errors_name_the_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ref: str, expected: str
) -> None:
    monkeypatch.delenv("GG_TEST_UNSET", raising=False)
    monkeypatch.setenv("GG_TEST_EMPTY", "  ")
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ValueError) as info:
        load_token_ref(ref.format(tmp=tmp_path))
    assert expected.format(tmp=tmp_path) in str(info.value)
    assert "ghp_inline_secret_value_123" not in str(info.value)


def test_static_token_rereads_a_rotated_file(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("ghp_one")
    cred = StaticToken(f"file:{path}")
    assert _token_of(cred.authorization()) == "ghp_one"
    tmp = tmp_path / "token.new"
    tmp.write_text("ghp_two")
    os.replace(tmp, path)  # how rotation tools replace a file
    assert _token_of(cred.authorization()) == "ghp_two"
    path.unlink()  # mid-rotation gap: the last good token stays in use
    assert _token_of(cred.authorization()) == "ghp_two"
    assert cred.describe() == f"token from file {path}"


def test_static_token_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GG_TEST_TOKEN", "ghp_env")
    cred = StaticToken("env:GG_TEST_TOKEN")
    cred.invalidate()
    assert _token_of(cred.authorization()) == "ghp_env"
    assert cred.describe() == "token from env GG_TEST_TOKEN"
    assert "ghp_env" not in cred.describe()


# --- GitHub App -------------------------------------------------------------------------------


def test_app_token_is_cached_until_five_minutes_before_expiry(
    github: FakeGitHub, key_file: Path, clock: Clock
) -> None:
    app = _app(github, key_file, clock)
    first = _token_of(app.authorization())
    assert first == "ghs_installation0001"
    clock.now += 3600 - 301
    assert _token_of(app.authorization()) == first
    assert github.exchanges == 1
    clock.now += 2  # now inside the 5-minute margin
    assert _token_of(app.authorization()) == "ghs_installation0002"
    assert github.exchanges == 2


def test_short_lived_tokens_are_used_for_half_their_life(
    github: FakeGitHub, key_file: Path, clock: Clock
) -> None:
    github.lifetime_s = 120
    app = _app(github, key_file, clock)
    app.authorization()
    clock.now += 59
    app.authorization()
    assert github.exchanges == 1
    clock.now += 1
    app.authorization()
    assert github.exchanges == 2


def test_invalidate_forces_a_new_exchange(github: FakeGitHub, key_file: Path, clock: Clock) -> None:
    app = _app(github, key_file, clock)
    assert _token_of(app.authorization()) == "ghs_installation0001"
    app.invalidate()
    assert _token_of(app.authorization()) == "ghs_installation0002"


def test_cold_cache_under_concurrency_costs_one_exchange(
    github: FakeGitHub, key_file: Path, clock: Clock
) -> None:
    app = _app(github, key_file, clock)
    barrier = threading.Barrier(8)
    seen: list[str] = []

    def use() -> None:
        barrier.wait()
        seen.append(_token_of(app.authorization()))

    threads = [threading.Thread(target=use) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == ["ghs_installation0001"] * 8
    assert github.exchanges == 1


def _assert_safe(message: str, github: FakeGitHub, key_file: Path) -> None:
    assert APP_ID in message
    for auth in github.seen_auth:
        assert auth.partition(" ")[2] not in message
    for body in github.bodies:
        assert body["token"] not in message
    assert "PRIVATE KEY" not in message
    pem_body = key_file.read_text().splitlines()[1]
    assert pem_body not in message


def test_exchange_refused_is_a_clean_error(
    github: FakeGitHub, key_file: Path, clock: Clock
) -> None:
    app = _app(github, key_file, clock)
    app.authorization()
    github.status = 401
    app.invalidate()
    with pytest.raises(UpstreamCredentialError) as info:
        app.authorization()
    message = str(info.value)
    assert re.search(r"GitHub App 4242: .*HTTP 401", message)
    assert "could not be decoded" in message
    _assert_safe(message, github, key_file)


def test_wrong_app_key_is_refused_by_the_fake(
    github: FakeGitHub, tmp_path: Path, clock: Clock
) -> None:
    """The fake really checks the app JWT: a different key gets a 401."""
    other = tmp_path / "other.pem"
    other.write_bytes(j.private_pem(j.rsa_key()))
    app = GitHubApp(APP_ID, other, INSTALLATION, api_url=github.url, clock=clock)
    with pytest.raises(UpstreamCredentialError, match="HTTP 401") as info:
        app.authorization()
    _assert_safe(str(info.value), github, other)


def test_redirect_is_not_followed(github: FakeGitHub, key_file: Path, clock: Clock) -> None:
    github.redirect_to = github.url + "/elsewhere"
    app = _app(github, key_file, clock)
    with pytest.raises(UpstreamCredentialError, match="HTTP 307"):
        app.authorization()
    assert len(github.seen_auth) == 1  # the app JWT was not sent to the redirect target


def test_unreachable_api_and_bad_answers(github: FakeGitHub, key_file: Path, clock: Clock) -> None:
    down = GitHubApp(APP_ID, key_file, INSTALLATION, api_url=j.closed_port_url(), clock=clock)
    with pytest.raises(UpstreamCredentialError, match="GitHub App 4242: cannot reach"):
        down.authorization()
    wrong_installation = GitHubApp(APP_ID, key_file, "1", api_url=github.url, clock=clock)
    with pytest.raises(UpstreamCredentialError, match="HTTP 404"):
        wrong_installation.authorization()


def test_app_config_errors(tmp_path: Path, key_file: Path) -> None:
    with pytest.raises(UpstreamCredentialError, match=r"GitHub App 4242: cannot read private key"):
        GitHubApp(APP_ID, tmp_path / "nope.pem", INSTALLATION)
    (tmp_path / "bad.pem").write_text("not a key")
    with pytest.raises(UpstreamCredentialError, match="not a PEM private key"):
        GitHubApp(APP_ID, tmp_path / "bad.pem", INSTALLATION)
    with pytest.raises(ValueError, match="https"):
        GitHubApp(APP_ID, key_file, INSTALLATION, api_url="http://api.github.example")
    assert "key " + str(key_file) in GitHubApp(APP_ID, key_file, INSTALLATION).describe()


def test_credential_from_config(
    tmp_path: Path, key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GG_TEST_TOKEN", "ghp_env")
    api = "https://api.github.com"
    assert credential_from_config(None, None, api) is None
    assert isinstance(credential_from_config("env:GG_TEST_TOKEN", None, api), StaticToken)
    app = {"app_id": 4242, "private_key": str(key_file), "installation_id": 77}
    cred = credential_from_config("", app, api)
    assert isinstance(cred, GitHubApp) and cred.api_url == api
    with pytest.raises(ValueError, match="not both"):
        credential_from_config("env:GG_TEST_TOKEN", app, api)
    with pytest.raises(ValueError, match="unknown keys secret"):
        credential_from_config(None, {**app, "secret": "x"}, api)
    with pytest.raises(ValueError, match="required"):
        credential_from_config(None, {"app_id": 1}, api)
