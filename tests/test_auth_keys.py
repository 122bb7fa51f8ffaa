"""Shared signing keys (issue #8 section 7), on SQLite and PostgreSQL: one identity for every
instance that shares the database, rotation, withdrawal, and a maximum token lifetime."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import peewee
import pytest

from gitgate.auth import Authenticator, AuthError, GateIssuer, GateIssuerConfig
from gitgate.auth.keyseal import SealError
from gitgate.auth.keystore import DirKeyStore
from gitgate.db import connection
from gitgate.db.models import GateSigningKey
from gitgate.store.revocations import DbRevocationStore
from gitgate.store.signing_keys import DbKeyStore

SECRET = b"0123456789abcdef-shared-secret"
DAY = 86400


def _instance(base: Path, secret: bytes = SECRET, max_ttl_s: int = 90 * DAY) -> GateIssuer:
    """What one gate instance builds: its own data dir, the shared database."""
    cfg = GateIssuerConfig(key_dir=base / "keys", max_ttl_s=max_ttl_s)
    keys = DbKeyStore(cfg.algorithm, lambda: secret, legacy_dir=cfg.key_dir, max_ttl_s=max_ttl_s)
    return GateIssuer(cfg, DbRevocationStore(), keys=keys)  # type: ignore[arg-type]


def _verify(issuer: GateIssuer, token: str) -> str:
    auth = Authenticator(issuer, [], issuer.revocations)
    return auth.authenticate(f"Bearer {token}").subject


def test_a_token_from_one_instance_verifies_on_another(db: peewee.Database, tmp_path: Path) -> None:
    a, b = _instance(tmp_path / "a"), _instance(tmp_path / "b")
    token, _ = b.issue(subject="agent-7", groups=["agents"], ttl_s=3600)
    assert _verify(a, token) == "agent-7"
    token_a, _ = a.issue(subject="agent-8", groups=[], ttl_s=3600)
    assert _verify(b, token_a) == "agent-8"
    assert jwt.get_unverified_header(token)["kid"] == jwt.get_unverified_header(token_a)["kid"]
    with connection():
        assert GateSigningKey.select().count() == 1


def test_private_key_is_stored_sealed(db: peewee.Database, tmp_path: Path) -> None:
    a = _instance(tmp_path / "a")
    key = a.signing_key
    from cryptography.hazmat.primitives import serialization

    raw = key.private_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    with connection():
        row = GateSigningKey.get()
    assert row.kid == key.kid and "d" not in row.public_jwk  # public half only, in the clear
    import base64

    assert raw not in base64.b64decode(row.sealed_private)
    # another secret can verify (public keys) but cannot issue
    other = _instance(tmp_path / "other", secret=b"another-secret-of-enough-bytes")
    token, _ = a.issue(subject="agent-7", groups=[], ttl_s=60)
    assert _verify(other, token) == "agent-7"
    with pytest.raises(SealError, match="same key_secret"):
        other.issue(subject="x", groups=[], ttl_s=60)


def test_rotation_keeps_old_tokens_until_they_expire(db: peewee.Database, tmp_path: Path) -> None:
    a, b = _instance(tmp_path / "a"), _instance(tmp_path / "b")
    old_token, _ = a.issue(subject="old", groups=[], ttl_s=3600)
    old_kid = a.signing_key.kid
    assert isinstance(a.keys, DbKeyStore)
    new_kid, retired = a.keys.rotate()
    assert retired == [old_kid] and new_kid != old_kid
    new_token, _ = b.issue(subject="new", groups=[], ttl_s=3600)
    assert jwt.get_unverified_header(new_token)["kid"] == new_kid
    fresh = _instance(tmp_path / "c")  # an instance that has cached nothing
    assert _verify(fresh, old_token) == "old" and _verify(fresh, new_token) == "new"
    # a token signed with the retired key *after* its retirement: only a thief could make one
    from datetime import timedelta

    from gitgate.auth.keyseal import unseal
    from gitgate.db.fields import utcnow

    with connection():
        GateSigningKey.update(retired_at=utcnow() - timedelta(minutes=10)).where(
            GateSigningKey.kid == old_kid
        ).execute()
        row = GateSigningKey.get(GateSigningKey.kid == old_kid)
    private = unseal(row.sealed_private, old_kid, SECRET)
    now = int(time.time())
    claims = {"iss": "gitgate", "aud": "gitgate", "sub": "thief", "jti": "j", "iat": now}
    forged = jwt.encode(
        {**claims, "exp": now + 60}, private, algorithm="EdDSA", headers={"kid": old_kid}
    )
    with pytest.raises(AuthError, match="retired key"):
        _verify(_instance(tmp_path / "d"), forged)


def test_withdrawing_a_leaked_key_fails_its_tokens_at_once(
    db: peewee.Database, tmp_path: Path
) -> None:
    a = _instance(tmp_path / "a")
    leaked, _ = a.issue(subject="agent-7", groups=[], ttl_s=3600)
    assert isinstance(a.keys, DbKeyStore)
    a.keys.rotate(withdraw_old=True)
    with pytest.raises(AuthError, match="unknown signing key"):
        _verify(_instance(tmp_path / "b"), leaked)
    fresh, _ = a.issue(subject="agent-7", groups=[], ttl_s=3600)
    assert _verify(_instance(tmp_path / "c"), fresh) == "agent-7"


def test_maximum_lifetime_on_issue_and_on_verify(db: peewee.Database, tmp_path: Path) -> None:
    a = _instance(tmp_path / "a", max_ttl_s=30 * DAY)
    with pytest.raises(ValueError, match="max_token_ttl"):
        a.issue(subject="agent-7", groups=[], ttl_s=31 * DAY)
    key = a.signing_key
    now = int(time.time())
    century = jwt.encode(
        {
            "iss": "gitgate",
            "aud": "gitgate",
            "sub": "agent-7",
            "jti": "j1",
            "iat": now,
            "exp": now + 100 * 365 * DAY,
        },
        key.private_key,
        algorithm=key.algorithm,
        headers={"kid": key.kid},
    )
    with pytest.raises(AuthError, match="lifetime exceeds"):
        _verify(a, century)
    # a backdated iat does not help: exp is also measured from now
    backdated = jwt.encode(
        {
            "iss": "gitgate",
            "aud": "gitgate",
            "sub": "agent-7",
            "jti": "j2",
            "iat": now + 365 * DAY,
            "exp": now + 366 * DAY,
        },
        key.private_key,
        algorithm=key.algorithm,
        headers={"kid": key.kid},
    )
    with pytest.raises(AuthError):
        _verify(a, backdated)
    ok, _ = a.issue(subject="agent-7", groups=[], ttl_s=30 * DAY)
    assert _verify(a, ok) == "agent-7"


def test_key_of_an_upgraded_gate_is_imported(db: peewee.Database, tmp_path: Path) -> None:
    before = GateIssuer(GateIssuerConfig(key_dir=tmp_path / "a" / "keys"), DbRevocationStore())  # type: ignore[arg-type]
    assert isinstance(before.keys, DirKeyStore)
    token, _ = before.issue(subject="agent-7", groups=[], ttl_s=3600)
    after = _instance(tmp_path / "a")  # same data dir, now with the database store
    assert _verify(after, token) == "agent-7"
    assert after.signing_key.kid == before.signing_key.kid
    with connection():
        assert [r.kid for r in GateSigningKey.select()] == [before.signing_key.kid]
