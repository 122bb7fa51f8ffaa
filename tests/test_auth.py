"""Authenticator: the attack matrix (one table) and the happy paths for gate and OIDC tokens."""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gitgate.auth import (
    Authenticator,
    AuthError,
    FileRevocationStore,
    GateIssuer,
    GateIssuerConfig,
    Identity,
    OidcIssuerConfig,
)
from tests.fixtures import jwks as j

OIDC_ISS = "https://idp.example.test"
OIDC_AUD = "gitgate-agents"


@dataclass
class World:
    gate: GateIssuer
    auth: Authenticator
    store: FileRevocationStore
    idp_key: object
    rogue_key: object
    server: j.JwksServer
    key_dir: Path

    def gate_token(self, **kw: object) -> str:
        return self.gate.issue(subject="agent-7", groups=["agents"], ttl_s=300, **kw)[0]

    def oidc_token(self, kid: str = "idp-1", key: object = None, **extra: object) -> str:
        payload = j.claims(iss=OIDC_ISS, aud=OIDC_AUD, groups=["agents"], **extra)
        return j.mint(key or self.idp_key, payload, kid=kid)

    def gate_claims(self, **extra: object) -> dict[str, object]:
        return j.claims(iss="gitgate", aud="gitgate", groups=["agents"], jti="x1", **extra)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base = tmp_path_factory.mktemp("auth")
    store = FileRevocationStore(base / "revoked.jsonl")
    gate = GateIssuer(GateIssuerConfig(key_dir=base / "keys"), store)
    idp_key, rogue_key = j.rsa_key(), j.rsa_key()
    with j.jwks_server(j.rsa_jwk(idp_key, "idp-1")) as server:
        oidc = OidcIssuerConfig(
            name="okta",
            issuer=OIDC_ISS,
            audience=OIDC_AUD,
            jwks_url=server.url,
            jwks_refresh_cooldown_s=0,
        )
        auth = Authenticator(gate, [oidc], store)
        yield World(gate, auth, store, idp_key, rogue_key, server, base / "keys")


def _gate_public(w: World) -> bytes:
    return j.public_pem(w.gate.signing_key.private_key)


def _gate_public_raw(w: World) -> bytes:
    x = w.gate.jwks()["keys"][0]["x"]
    return base64.urlsafe_b64decode(x + "=" * (-len(x) % 4))


def _revoked(w: World) -> str:
    token, jti = w.gate.issue(subject="agent-7", groups=[], ttl_s=300)
    w.store.revoke(jti, reason="leaked in a CI log")
    return "Bearer " + token


def _other_gate(w: World, tmp: Path) -> str:
    other = GateIssuer(GateIssuerConfig(key_dir=tmp), w.store)
    return "Bearer " + other.issue(subject="agent-7", groups=[], ttl_s=300)[0]


def _gate_at(w: World, offset: int, ttl: int = 600) -> str:
    past = GateIssuer(w.gate.cfg, w.store, clock=lambda: time.time() + offset)
    return "Bearer " + past.issue(subject="agent-7", groups=[], ttl_s=ttl)[0]


Case = Callable[[World, Path], str | None]
ATTACKS: list[tuple[str, Case, str]] = [
    ("no header", lambda w, t: None, "no credentials"),
    ("empty password", lambda w, t: j.basic(""), "no credentials"),
    ("unsupported scheme", lambda w, t: "Digest abc", "unsupported authorization scheme"),
    ("basic not base64", lambda w, t: "Basic !!!", "malformed Basic"),
    ("garbage", lambda w, t: "Bearer not-a-jwt", "token malformed"),
    ("garbage basic", lambda w, t: j.basic("a.b.c"), "token malformed"),
    ("too large", lambda w, t: "Bearer " + "a" * 9000, "token too large"),
    ("no iss", lambda w, t: "Bearer " + j.forge_none({"sub": "x"}), "no issuer"),
    ("alg none gate", lambda w, t: "Bearer " + j.forge_none(w.gate_claims()), "not allowed"),
    (
        "alg none oidc",
        lambda w, t: j.basic(j.forge_none(j.claims(iss=OIDC_ISS, aud=OIDC_AUD), kid="idp-1")),
        "not allowed",
    ),
    (
        "hs256 keyed with gate public pem",
        lambda w, t: "Bearer " + j.forge_hs256(w.gate_claims(), _gate_public(w)),
        "not allowed",
    ),
    (
        "hs256 keyed with gate raw public key",
        lambda w, t: (
            "Bearer "
            + j.forge_hs256(w.gate_claims(), _gate_public_raw(w), kid=w.gate.signing_key.kid)
        ),
        "not allowed",
    ),
    (
        "hs256 keyed with oidc public pem",
        lambda w, t: (
            "Bearer "
            + j.forge_hs256(
                j.claims(iss=OIDC_ISS, aud=OIDC_AUD), j.public_pem(w.idp_key), kid="idp-1"
            )
        ),
        "not allowed",
    ),
    ("expired gate", lambda w, t: _gate_at(w, -3600), "token expired"),
    ("expired oidc", lambda w, t: "Bearer " + w.oidc_token(ttl=-120), "token expired"),
    ("iat in future gate", lambda w, t: _gate_at(w, 3600), "not yet valid"),
    (
        "nbf in future oidc",
        lambda w, t: "Bearer " + w.oidc_token(nbf=int(time.time()) + 600),
        "not yet valid",
    ),
    (
        "unknown iss",
        lambda w, t: (
            "Bearer "
            + j.mint(w.idp_key, j.claims(iss="https://evil.test", aud=OIDC_AUD), kid="idp-1")
        ),
        "unknown issuer",
    ),
    (
        "oidc key claims gate iss",
        lambda w, t: "Bearer " + j.mint(w.idp_key, w.gate_claims(), kid=w.gate.signing_key.kid),
        "not allowed",
    ),
    (
        "wrong aud oidc",
        lambda w, t: (
            "Bearer " + j.mint(w.idp_key, j.claims(iss=OIDC_ISS, aud="someone-else"), kid="idp-1")
        ),
        "audience",
    ),
    (
        "wrong aud gate",
        lambda w, t: (
            "Bearer "
            + GateIssuer(GateIssuerConfig(key_dir=w.key_dir, audience="other"), w.store).issue(
                subject="a", groups=[], ttl_s=60
            )[0]
        ),
        "audience",
    ),
    (
        "missing exp",
        lambda w, t: (
            "Bearer "
            + j.mint(w.idp_key, {"iss": OIDC_ISS, "aud": OIDC_AUD, "sub": "a"}, kid="idp-1")
        ),
        "lacks the exp claim",
    ),
    ("unknown kid", lambda w, t: "Bearer " + w.oidc_token("rogue", w.rogue_key), "unknown"),
    ("no kid", lambda w, t: "Bearer " + w.oidc_token(None), "no key id"),
    (
        "known kid, wrong key",
        lambda w, t: "Bearer " + w.oidc_token("idp-1", w.rogue_key),
        "signature invalid",
    ),
    ("other gate key", _other_gate, "unknown signing key"),
    (
        "tampered gate",
        lambda w, t: "Bearer " + j.tamper(w.gate_token(), groups=["admins"]),
        "signature invalid",
    ),
    (
        "tampered oidc",
        lambda w, t: "Bearer " + j.tamper(w.oidc_token(), sub="root"),
        "signature invalid",
    ),
    ("revoked gate", lambda w, t: _revoked(w), "token revoked"),
]


@pytest.mark.parametrize(
    ("build", "expected"), [a[1:] for a in ATTACKS], ids=[a[0] for a in ATTACKS]
)
def test_attack_is_refused(
    world: World,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    build: Case,
    expected: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    header = build(world, tmp_path)
    with pytest.raises(AuthError) as info:
        world.auth.authenticate(header)
    message = str(info.value)
    assert expected in message
    assert "\n" not in message and len(message) < 120
    for secret in _secrets_in(header):
        assert secret not in message
        assert secret not in caplog.text


def _secrets_in(header: str | None) -> list[str]:
    """The credential part of a header, raw and (for Basic) decoded."""
    scheme, _, value = (header or "").partition(" ")
    found = [value] if len(value) > 3 else []
    if scheme == "Basic":
        with contextlib.suppress(ValueError):
            found.append(base64.b64decode(value, validate=True).decode().partition(":")[2])
    return [s for s in found if len(s) > 3]


def test_gate_token_via_basic_and_bearer(world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    token, jti = world.gate.issue(subject="agent-7", groups=["agents", "ci", "agents"], ttl_s=60)
    expected = Identity(subject="agent-7", groups=("agents", "ci"), issuer="gate", token_id=jti)
    assert world.auth.authenticate(j.basic(token, username="whatever")) == expected
    assert world.auth.authenticate(f"Bearer {token}") == expected
    assert world.auth.authenticate(f"bearer   {token}  ") == expected
    assert token not in caplog.text


def test_oidc_token_via_jwks_url(world: World) -> None:
    token = world.oidc_token(jti="idp-jti-1")
    identity = world.auth.authenticate(j.basic(token))
    assert identity == Identity("agent-7", ("agents",), "okta", "idp-jti-1")


def test_revoked_oidc_jti_is_refused(world: World) -> None:
    token = world.oidc_token(jti="idp-jti-revoked")
    assert world.auth.authenticate(f"Bearer {token}").token_id == "idp-jti-revoked"
    world.store.revoke("idp-jti-revoked")
    with pytest.raises(AuthError, match="token revoked"):
        world.auth.authenticate(f"Bearer {token}")


def test_unreadable_revocation_list_fails_closed(world: World, tmp_path: Path) -> None:
    (tmp_path / "revoked.jsonl").mkdir()  # a directory: open() fails
    broken = FileRevocationStore(tmp_path / "revoked.jsonl")
    gate = GateIssuer(world.gate.cfg, broken)
    auth = Authenticator(gate, [], broken)
    token, _ = gate.issue(subject="a", groups=[], ttl_s=60)
    with pytest.raises(AuthError, match="revocation list unavailable"):
        auth.authenticate(f"Bearer {token}")


def _oidc_auth(tmp_path: Path, **cfg: object) -> Authenticator:
    store = FileRevocationStore(tmp_path / "revoked.jsonl")
    base: dict[str, object] = {"name": "kc", "issuer": OIDC_ISS, "audience": OIDC_AUD}
    return Authenticator(None, [OidcIssuerConfig(**(base | cfg))], store)


def test_oidc_with_jwks_file_and_audience_list(world: World, tmp_path: Path) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [j.rsa_jwk(world.idp_key, "idp-1")]}))
    auth = _oidc_auth(tmp_path, jwks_file=path, audience=["first", OIDC_AUD])
    assert auth.authenticate(f"Bearer {world.oidc_token()}").subject == "agent-7"
    with pytest.raises(AuthError, match="unknown signing key"):
        auth.authenticate(f"Bearer {world.oidc_token('rogue', world.rogue_key)}")
    # Rotation by rewriting the file: the unknown kid triggers a re-read.
    keys = [j.rsa_jwk(world.idp_key, "idp-1"), j.rsa_jwk(world.rogue_key, "rogue")]
    path.write_text(json.dumps({"keys": keys}))
    assert auth.authenticate(f"Bearer {world.oidc_token('rogue', world.rogue_key)}")


def test_jwks_file_single_key_allows_missing_kid(world: World, tmp_path: Path) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [j.rsa_jwk(world.idp_key, "idp-1")]}))
    auth = _oidc_auth(tmp_path, jwks_file=path)
    assert auth.authenticate(f"Bearer {world.oidc_token(None)}").issuer == "kc"


@pytest.mark.parametrize(
    ("claim", "extra", "groups"),
    [
        ("roles", {"roles": ["dev", "ops"]}, ("dev", "ops")),
        ("realm_access.roles", {"realm_access": {"roles": ["dev"]}}, ("dev",)),
        ("https://example.com/groups", {"https://example.com/groups": "one"}, ("one",)),
        ("roles", {}, ()),
    ],
)
def test_groups_claim_mapping(
    world: World, tmp_path: Path, claim: str, extra: dict[str, object], groups: tuple[str, ...]
) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [j.rsa_jwk(world.idp_key, "idp-1")]}))
    auth = _oidc_auth(tmp_path, jwks_file=path, groups_claim=claim, subject_claim="email")
    payload = j.claims(iss=OIDC_ISS, aud=OIDC_AUD, email="bot@example.test", **extra)
    identity = auth.authenticate(f"Bearer {j.mint(world.idp_key, payload, kid='idp-1')}")
    assert identity.groups == groups
    assert identity.subject == "bot@example.test"


def test_groups_claim_of_wrong_type_is_refused(world: World, tmp_path: Path) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [j.rsa_jwk(world.idp_key, "idp-1")]}))
    auth = _oidc_auth(tmp_path, jwks_file=path)
    token = j.mint(world.idp_key, j.claims(iss=OIDC_ISS, aud=OIDC_AUD, groups=[1]), kid="idp-1")
    with pytest.raises(AuthError, match="groups claim"):
        auth.authenticate(f"Bearer {token}")


@pytest.mark.parametrize("alg", ["HS256", "hs512", "none"])
def test_hmac_or_none_in_config_is_refused(alg: str) -> None:
    with pytest.raises(ValueError, match="not allowed"):
        OidcIssuerConfig(
            name="x", issuer="i", audience="a", jwks_url="https://i/jwks", algorithms=(alg,)
        )


def test_config_refuses_plain_http_jwks_and_ambiguous_sources(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="https"):
        OidcIssuerConfig(name="x", issuer="i", audience="a", jwks_url="http://idp.test/jwks")
    with pytest.raises(ValueError, match="exactly one"):
        OidcIssuerConfig(name="x", issuer="i", audience="a")
    with pytest.raises(ValueError, match="algorithm"):
        GateIssuerConfig(key_dir=tmp_path, algorithm="RS256")


def test_duplicate_iss_is_refused(tmp_path: Path) -> None:
    store = FileRevocationStore(tmp_path / "r")
    gate = GateIssuer(GateIssuerConfig(key_dir=tmp_path), store)
    clash = OidcIssuerConfig(name="x", issuer="gitgate", audience="a", jwks_url="https://i/j")
    with pytest.raises(ValueError, match="already used"):
        Authenticator(gate, [clash], store)
