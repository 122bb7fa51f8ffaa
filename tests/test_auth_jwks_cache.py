"""A slow identity provider cannot stall everyone (issue #8 section 3), unit level.

A JWKS endpoint that hangs: one fetch per issuer at a time, a deadline on it, failures cached
with backoff, and other issuers (and the gate's own tokens) never wait for it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitgate.auth import (
    Authenticator,
    AuthError,
    AuthUnavailable,
    FileRevocationStore,
    GateIssuer,
    GateIssuerConfig,
    OidcIssuerConfig,
)
from gitgate.auth.jwks_cache import BACKOFF_MIN_S, JwksCache
from tests.fixtures import jwks as j

SLOW_ISS = "https://slow.example.test"
FAST_ISS = "https://fast.example.test"


@pytest.fixture
def hanging() -> Iterator[j.HangingServer]:
    server = j.HangingServer().start()
    yield server
    server.stop()


def _forged(iss: str) -> str:
    """No valid signature needed: only the iss (and an allowed alg and a kid)."""
    return "Bearer " + j.mint(j.rsa_key(), j.claims(iss=iss, aud="gitgate"), kid="forged")


def test_hanging_issuer_is_fetched_once_and_its_failure_cached(
    hanging: j.HangingServer,
) -> None:
    now = [1000.0]
    cache = JwksCache("slow", hanging.url, timeout_s=0.5, clock=lambda: now[0])
    errors: list[Exception] = []

    def ask() -> None:
        try:
            cache.key("k1")
        except Exception as ex:
            errors.append(ex)

    threads = [threading.Thread(target=ask) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert hanging.connections == 1  # twenty callers, one fetch
    assert len(errors) == 20 and all(isinstance(e, AuthUnavailable) for e in errors)
    assert all("issuer slow" in str(e) for e in errors)
    assert sum("not answering" in str(e) for e in errors) >= 1  # the fetcher and its waiters

    # the failure is cached: no new fetch, the answer says when to come back
    with pytest.raises(AuthUnavailable) as info:
        cache.key("k1")
    assert hanging.connections == 1
    assert 0 < info.value.retry_after_s <= BACKOFF_MIN_S
    # after the backoff one new fetch; failing again doubles the backoff
    now[0] += BACKOFF_MIN_S + 1
    with pytest.raises(AuthUnavailable) as info:
        cache.key("k1")
    assert hanging.connections == 2
    assert info.value.retry_after_s == 2 * BACKOFF_MIN_S


def test_other_issuers_and_gate_tokens_do_not_wait(
    hanging: j.HangingServer, tmp_path: Path
) -> None:
    key = j.rsa_key()
    store = FileRevocationStore(tmp_path / "revoked.jsonl")
    gate = GateIssuer(GateIssuerConfig(key_dir=tmp_path / "keys"), store)
    with j.jwks_server(j.rsa_jwk(key, "k1")) as fast:
        slow_cfg = OidcIssuerConfig(
            name="slow",
            issuer=SLOW_ISS,
            audience="gitgate",
            jwks_url=hanging.url,
            jwks_timeout_s=60,
        )
        fast_cfg = OidcIssuerConfig(
            name="fast", issuer=FAST_ISS, audience="gitgate", jwks_url=fast.url
        )
        auth = Authenticator(gate, [slow_cfg, fast_cfg], store)
        outcomes: list[str] = []
        done = threading.Condition()

        def forged() -> None:
            try:
                auth.authenticate(_forged(SLOW_ISS))
                outcome = "200"
            except AuthUnavailable:
                outcome = "503"
            except AuthError:
                outcome = "401"
            with done:
                outcomes.append(outcome)
                done.notify_all()

        threads = [threading.Thread(target=forged) for _ in range(20)]
        for t in threads:
            t.start()
        assert hanging.wait_for(1)
        # the slow fetch is still hanging (60 s deadline): everything else goes on meanwhile
        token, _ = gate.issue(subject="agent-7", groups=["agents"], ttl_s=60)
        assert auth.authenticate(f"Bearer {token}").subject == "agent-7"
        good = j.mint(key, j.claims(iss=FAST_ISS, aud="gitgate", sub="svc"), kid="k1")
        assert auth.authenticate(f"Bearer {good}").subject == "svc"
        # beyond the fetcher and two waiters, callers are told at once to retry
        with done:
            assert done.wait_for(lambda: len(outcomes) >= 17, 30)
            assert outcomes == ["503"] * len(outcomes)
        assert hanging.connections == 1
        hanging.release()
        for t in threads:
            t.join(30)
        assert outcomes == ["503"] * 20


def test_whole_fetch_has_a_deadline_and_a_size_cap(tmp_path: Path) -> None:
    with j.jwks_server() as server:
        server.body = b'{"keys": [' + b" " * (2 * 1024 * 1024) + b"]}"
        cache = JwksCache("big", server.url, timeout_s=5)
        with pytest.raises(AuthUnavailable, match="no usable signing keys for issuer big"):
            cache.key("k1")


def test_known_keys_outlive_their_cache_while_the_provider_is_down() -> None:
    key = j.rsa_key()
    now = [0.0]
    with j.jwks_server(j.rsa_jwk(key, "k1")) as server:
        cache = JwksCache("idp", server.url, cache_s=300, clock=lambda: now[0])
        assert cache.key("k1").key_id == "k1"
        server.status = 500
        now[0] += 301  # the set is stale: one refresh is tried, fails, the known key still works
        assert cache.key("k1").key_id == "k1"
        assert cache.key("k1").key_id == "k1"  # during the backoff: no new request
        assert server.hits == 2
        with pytest.raises(AuthUnavailable, match="cannot fetch signing keys of issuer idp"):
            cache.key("k2")  # a key it never had cannot be made up
        assert server.hits == 2


def test_a_drip_fed_answer_cannot_stretch_the_deadline() -> None:
    """One byte per 50 ms never trips a per-read timeout; the whole-fetch deadline does."""
    import socket

    listener = socket.create_server(("127.0.0.1", 0))
    sent = [0]
    stop = threading.Event()

    def drip() -> None:
        conn, _ = listener.accept()
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n")
        try:
            for _ in range(400):  # 20 s of body if nobody hangs up
                if stop.wait(0.05):
                    break
                conn.sendall(b" ")
                sent[0] += 1
        except OSError:
            pass  # the gate hung up: what this test wants
        conn.close()

    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/jwks.json"
    cache = JwksCache("drip", url, timeout_s=0.5)
    with pytest.raises(AuthUnavailable, match="cannot fetch signing keys of issuer drip"):
        cache.key("k1")
    stop.set()
    thread.join(10)
    listener.close()
    assert sent[0] < 400  # the gate gave up long before the body ended
