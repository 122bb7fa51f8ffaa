"""OIDC key handling against a loopback JWKS server: caching, rotation, outages."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.warnings import InsecureKeyLengthWarning

from gitgate.auth import Authenticator, AuthError, FileRevocationStore, OidcIssuerConfig
from tests.fixtures import jwks as j

ISS = "https://idp.example.test"
AUD = "gitgate"


@pytest.fixture(scope="module")
def keys() -> tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]:
    return j.rsa_key(), j.rsa_key()


def _auth(tmp_path: Path, url: str, cooldown: float = 0) -> Authenticator:
    cfg = OidcIssuerConfig(
        name="okta", issuer=ISS, audience=AUD, jwks_url=url, jwks_refresh_cooldown_s=cooldown
    )
    return Authenticator(None, [cfg], FileRevocationStore(tmp_path / "revoked.jsonl"))


def _bearer(key: rsa.RSAPrivateKey, kid: str | None, **extra: object) -> str:
    return "Bearer " + j.mint(key, j.claims(iss=ISS, aud=AUD, **extra), kid=kid)


def test_keys_are_cached(tmp_path: Path, keys: tuple[rsa.RSAPrivateKey, ...]) -> None:
    with j.jwks_server(j.rsa_jwk(keys[0], "k1")) as server:
        auth = _auth(tmp_path, server.url)
        for _ in range(3):
            assert auth.authenticate(_bearer(keys[0], "k1")).issuer == "okta"
        assert server.hits == 1


def test_key_rotation_new_kid_accepted_after_refetch(
    tmp_path: Path, keys: tuple[rsa.RSAPrivateKey, ...]
) -> None:
    old, new = keys
    with j.jwks_server(j.rsa_jwk(old, "k1")) as server:
        auth = _auth(tmp_path, server.url)
        assert auth.authenticate(_bearer(old, "k1")).subject == "agent-7"
        server.keys = [j.rsa_jwk(old, "k1"), j.rsa_jwk(new, "k2")]
        assert auth.authenticate(_bearer(new, "k2", sub="agent-8")).subject == "agent-8"
        assert server.hits == 2
        # The old key is retired: once the set is re-fetched, its tokens stop working.
        server.keys = [j.rsa_jwk(new, "k2")]
        with pytest.raises(AuthError, match="unknown signing key"):
            auth.authenticate(_bearer(new, "k3"))  # forces a refetch
        with pytest.raises(AuthError, match="unknown signing key"):
            auth.authenticate(_bearer(old, "k1"))


def test_unknown_kid_after_refresh_is_refused(
    tmp_path: Path, keys: tuple[rsa.RSAPrivateKey, ...]
) -> None:
    with j.jwks_server(j.rsa_jwk(keys[0], "k1")) as server:
        auth = _auth(tmp_path, server.url)
        with pytest.raises(AuthError, match=r"unknown signing key \(kid\)"):
            auth.authenticate(_bearer(keys[1], "nope"))
        assert server.hits == 1  # the set was fetched for this very token: no second fetch
        with pytest.raises(AuthError, match=r"unknown signing key \(kid\)"):
            auth.authenticate(_bearer(keys[1], "nope"))
        assert server.hits == 2  # a later unknown kid forces one refresh (no cooldown here)


def test_refresh_cooldown_keeps_forged_kids_from_hammering_the_idp(
    tmp_path: Path, keys: tuple[rsa.RSAPrivateKey, ...]
) -> None:
    with j.jwks_server(j.rsa_jwk(keys[0], "k1")) as server:
        auth = _auth(tmp_path, server.url, cooldown=3600)
        assert auth.authenticate(_bearer(keys[0], "k1"))
        for i in range(5):
            with pytest.raises(AuthError, match="unknown signing key"):
                auth.authenticate(_bearer(keys[1], f"forged-{i}"))
        assert server.hits == 1


def test_jwks_url_down_is_an_auth_error(
    tmp_path: Path, keys: tuple[rsa.RSAPrivateKey, ...], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    auth = _auth(tmp_path, j.closed_port_url())
    header = _bearer(keys[0], "k1")
    with pytest.raises(AuthError, match="cannot fetch signing keys of issuer okta"):
        auth.authenticate(header)
    assert header.split()[1] not in caplog.text


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (503, b'{"error": "maintenance"}', "cannot fetch signing keys"),
        (200, b"<html>login</html>", "no usable signing keys"),
        (200, b"[]", "no usable signing keys"),
        (200, b'{"keys": []}', "no usable signing keys"),
        (200, b'{"keys": [{"kty": "RSA", "kid": "k1"}]}', "no usable signing keys"),
    ],
)
def test_broken_jwks_answers_are_auth_errors(
    tmp_path: Path,
    keys: tuple[rsa.RSAPrivateKey, ...],
    status: int,
    body: bytes,
    expected: str,
) -> None:
    with j.jwks_server() as server:
        server.status, server.body = status, body
        auth = _auth(tmp_path, server.url)
        with pytest.raises(AuthError, match=expected):
            auth.authenticate(_bearer(keys[0], "k1"))


def test_jwks_outage_after_caching_keeps_known_keys_working(
    tmp_path: Path, keys: tuple[rsa.RSAPrivateKey, ...]
) -> None:
    with j.jwks_server(j.rsa_jwk(keys[0], "k1")) as server:
        auth = _auth(tmp_path, server.url)
        assert auth.authenticate(_bearer(keys[0], "k1"))
        server.status = 500
        assert auth.authenticate(_bearer(keys[0], "k1"))  # served from the cache
        with pytest.raises(AuthError, match="cannot fetch signing keys"):
            auth.authenticate(_bearer(keys[1], "k2"))  # refresh needed, IdP down


def test_weak_rsa_key_in_jwks_is_refused(tmp_path: Path) -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with j.jwks_server(j.rsa_jwk(weak, "weak")) as server:
        auth = _auth(tmp_path, server.url)
        with pytest.warns(InsecureKeyLengthWarning):
            token = "Bearer " + j.mint(weak, j.claims(iss=ISS, aud=AUD), kid="weak")
        with pytest.raises(AuthError, match="signing key rejected"):
            auth.authenticate(token)


def test_jwk_alg_binds_the_key(tmp_path: Path, keys: tuple[rsa.RSAPrivateKey, ...]) -> None:
    """A JWK published for PS256 cannot verify an RS256 token, even if both are configured."""
    with j.jwks_server(j.rsa_jwk(keys[0], "k1", alg="PS256")) as server:
        cfg = OidcIssuerConfig(
            name="okta",
            issuer=ISS,
            audience=AUD,
            jwks_url=server.url,
            algorithms=("RS256", "PS256"),
        )
        auth = Authenticator(None, [cfg], FileRevocationStore(tmp_path / "r"))
        with pytest.raises(AuthError, match="algorithm not allowed"):
            auth.authenticate(_bearer(keys[0], "k1"))
        ps = j.mint(keys[0], j.claims(iss=ISS, aud=AUD), alg="PS256", kid="k1")
        assert auth.authenticate(f"Bearer {ps}").subject == "agent-7"
