"""Verified tokens are remembered (gitgate.auth.tokencache), never past what verifying allows.

The cache skips the signature check for a token seen before; these tests hold it to the
rules that make that safe: revocation is still checked on every request, an entry ends with
the token's `exp` and within a minute, a different token is verified in full, and the cache
is bounded.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest

from gitgate.auth import (
    Authenticator,
    AuthError,
    AuthUnavailable,
    FileRevocationStore,
    GateIssuer,
    GateIssuerConfig,
    Identity,
)
from gitgate.auth.tokencache import TokenCache, Verified


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Counted:
    """The gate issuer, counting full verifications."""

    def __init__(self, gate: GateIssuer) -> None:
        self.gate, self.calls = gate, 0
        real = gate.verify

        def verify(token: str, header: dict[str, Any]) -> Identity:
            self.calls += 1
            return real(token, header)

        gate.verify = verify  # type: ignore[method-assign]


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[GateIssuer, FileRevocationStore, Counted]]:
    store = FileRevocationStore(tmp_path / "revoked.jsonl")
    gate = GateIssuer(GateIssuerConfig(key_dir=tmp_path / "keys"), store)
    yield gate, store, Counted(gate)


def bearer(token: str) -> str:
    return f"Bearer {token}"


def test_a_token_seen_before_is_not_verified_again(setup: Any) -> None:
    gate, store, counted = setup
    auth = Authenticator(gate, [], store)
    token, jti = gate.issue(subject="agent-7", groups=["a"], ttl_s=600)
    first = auth.authenticate(bearer(token))
    basic = base64.b64encode(b"x:" + token.encode()).decode()
    again = auth.authenticate(f"Basic {basic}")  # the same token, as git sends it
    assert first == again and first.token_id == jti
    assert counted.calls == 1


def test_revocation_is_checked_on_every_request(setup: Any) -> None:
    gate, store, _ = setup
    auth = Authenticator(gate, [], store)
    token, jti = gate.issue(subject="agent-7", groups=[], ttl_s=600)
    auth.authenticate(bearer(token))
    store.revoke(jti, reason="leaked")
    with pytest.raises(AuthError, match="revoked"):
        auth.authenticate(bearer(token))
    with pytest.raises(AuthError, match="revoked"):
        auth.authenticate(bearer(token))


def test_a_failing_revocation_store_fails_closed_on_a_cached_token(
    setup: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate, store, _ = setup
    auth = Authenticator(gate, [], store)
    token, _ = gate.issue(subject="agent-7", groups=[], ttl_s=600)
    auth.authenticate(bearer(token))

    def down(jti: str) -> bool:
        raise OSError("disk gone")

    monkeypatch.setattr(store, "is_revoked", down)
    with pytest.raises(AuthUnavailable):
        auth.authenticate(bearer(token))


def test_an_entry_ends_with_the_token_and_within_a_minute(setup: Any) -> None:
    gate, store, counted = setup
    token, _ = gate.issue(subject="agent-7", groups=[], ttl_s=600)
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    clock = Clock(exp - 600)
    auth = Authenticator(gate, [], store, clock=clock)
    auth.authenticate(bearer(token))
    clock.now += 59
    auth.authenticate(bearer(token))
    assert counted.calls == 1
    clock.now += 2  # a minute after it was verified: verified again
    auth.authenticate(bearer(token))
    assert counted.calls == 2

    short, _ = gate.issue(subject="agent-8", groups=[], ttl_s=30)
    short_exp = jwt.decode(short, options={"verify_signature": False})["exp"]
    clock.now = short_exp - 30
    auth.authenticate(bearer(short))
    clock.now = short_exp  # the token's own end comes first: not served from the cache
    auth.authenticate(bearer(short))  # (really verified: the real clock is still before exp)
    assert counted.calls == 4


def test_a_key_no_longer_in_force_sends_the_token_to_full_verification(
    setup: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate, store, counted = setup
    auth = Authenticator(gate, [], store)
    token, _ = gate.issue(subject="agent-7", groups=[], ttl_s=600)
    auth.authenticate(bearer(token))
    auth.authenticate(bearer(token))
    assert counted.calls == 1
    monkeypatch.setattr(gate, "key_in_force", lambda header: object())  # re-read, rotated
    auth.authenticate(bearer(token))
    assert counted.calls == 2


def test_another_token_is_verified_in_full(setup: Any) -> None:
    gate, store, counted = setup
    auth = Authenticator(gate, [], store)
    token, _ = gate.issue(subject="agent-7", groups=[], ttl_s=600)
    auth.authenticate(bearer(token))
    head, payload, signature = token.split(".")
    # Change the signature's first character: it carries six bits of the first byte, so the
    # result is always well-formed base64url with a different signature. (Changing the last
    # characters could land on padding bits: a malformed token, refused before verifying.)
    tampered = f"{head}.{payload}.{'B' if signature[0] == 'A' else 'A'}{signature[1:]}"
    with pytest.raises(AuthError):
        auth.authenticate(bearer(tampered))
    assert counted.calls == 2


def test_the_cache_is_bounded() -> None:
    clock = Clock(1000.0)
    cache = TokenCache(capacity=2, clock=clock)
    who = Identity("a", (), "gate", None)

    class Issuer:
        def key_in_force(self, header: dict[str, Any]) -> object:
            return "k"

    for name in ("one", "two", "three"):
        cache.put(TokenCache.key(name), Verified(who, (), 2000.0, Issuer(), {}, "k"))
    assert cache.get(TokenCache.key("one")) is None  # the least recently used went first
    assert cache.get(TokenCache.key("two")) is not None
    assert cache.get(TokenCache.key("three")) is not None
