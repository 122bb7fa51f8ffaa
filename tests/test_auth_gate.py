"""The gate as issuer: its signing key on disk, issuing tokens, and the revocation file."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import jwt
import pytest

from gitgate.auth import (
    Authenticator,
    AuthError,
    FileRevocationStore,
    GateIssuer,
    GateIssuerConfig,
    RevocationStore,
)


def _gate(key_dir: Path, store: FileRevocationStore, **cfg: object) -> GateIssuer:
    return GateIssuer(GateIssuerConfig(key_dir=key_dir, **cfg), store)


def test_key_is_created_private_and_reused(tmp_path: Path) -> None:
    store = FileRevocationStore(tmp_path / "revoked.jsonl")
    key_dir = tmp_path / "keys"
    gate = _gate(key_dir, store)
    assert not key_dir.exists()  # nothing touches the disk before first use
    token, _ = gate.issue(subject="agent-7", groups=[], ttl_s=60)
    files = list(key_dir.iterdir())
    assert [f.name for f in files] == ["gate-ed25519.pem"]
    assert files[0].stat().st_mode & 0o777 == 0o600
    assert key_dir.stat().st_mode & 0o777 == 0o700
    # A second process (another instance) verifies with the same key.
    again = Authenticator(_gate(key_dir, store), [], store)
    assert again.authenticate(f"Bearer {token}").subject == "agent-7"


def test_concurrent_first_use_agrees_on_one_key(tmp_path: Path) -> None:
    """Workers starting together: every one ends up with the single key that won the race."""
    store = FileRevocationStore(tmp_path / "revoked.jsonl")
    gates = [_gate(tmp_path / "keys", store) for _ in range(8)]
    barrier = threading.Barrier(len(gates))
    kids: list[str] = []

    def first_use(gate: GateIssuer) -> None:
        barrier.wait()
        kids.append(gate.signing_key.kid)

    threads = [threading.Thread(target=first_use, args=(g,)) for g in gates]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(kids) == 8 and len(set(kids)) == 1
    assert [p.name for p in (tmp_path / "keys").iterdir()] == ["gate-ed25519.pem"]


def test_es256_gate_tokens(tmp_path: Path) -> None:
    store = FileRevocationStore(tmp_path / "revoked.jsonl")
    gate = _gate(tmp_path, store, algorithm="ES256", issuer="gg", audience="aud", name="g2")
    token, jti = gate.issue(subject="agent-7", groups=["a"], ttl_s=60)
    assert jwt.get_unverified_header(token)["alg"] == "ES256"
    identity = Authenticator(gate, [], store).authenticate(f"Bearer {token}")
    assert (identity.issuer, identity.token_id, identity.groups) == ("g2", jti, ("a",))


def test_token_claims_and_published_key(tmp_path: Path) -> None:
    gate = _gate(tmp_path, FileRevocationStore(tmp_path / "r"))
    token, jti = gate.issue(subject="agent-7", groups=["x"], ttl_s=120)
    jwks = gate.jwks()
    (jwk,) = jwks["keys"]
    assert "d" not in jwk  # public half only
    assert jwt.get_unverified_header(token)["kid"] == jwk["kid"] == gate.signing_key.kid
    key = jwt.PyJWK(jwk)
    claims = jwt.decode(token, key, algorithms=["EdDSA"], audience="gitgate")
    assert set(claims) == {"iss", "aud", "sub", "groups", "jti", "iat", "exp"}
    assert claims["jti"] == jti and claims["exp"] - claims["iat"] == 120


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"subject": "", "groups": [], "ttl_s": 60}, ValueError),
        ({"subject": "a", "groups": [], "ttl_s": 0}, ValueError),
        ({"subject": "a", "groups": "admins", "ttl_s": 60}, TypeError),
        ({"subject": "a", "groups": [""], "ttl_s": 60}, ValueError),
    ],
)
def test_issue_refuses_bad_input(tmp_path: Path, kwargs: dict, error: type) -> None:
    gate = _gate(tmp_path, FileRevocationStore(tmp_path / "r"))
    with pytest.raises(error):
        gate.issue(**kwargs)


def test_key_of_wrong_type_is_refused(tmp_path: Path) -> None:
    store = FileRevocationStore(tmp_path / "r")
    _gate(tmp_path, store, algorithm="ES256").issue(subject="a", groups=[], ttl_s=1)
    (tmp_path / "gate-ed25519.pem").write_bytes((tmp_path / "gate-es256.pem").read_bytes())
    with pytest.raises(ValueError, match="not a key for EdDSA"):
        _gate(tmp_path, store).issue(subject="a", groups=[], ttl_s=1)


def test_revocation_store_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "data" / "revoked.jsonl"
    writer, reader = FileRevocationStore(path), FileRevocationStore(path)
    assert isinstance(writer, RevocationStore)
    assert not reader.is_revoked("j1")  # no file yet
    writer.revoke("j1", reason="leaked")
    assert reader.is_revoked("j1") and not reader.is_revoked("j2")
    writer.revoke("j2")
    assert reader.is_revoked("j2")  # re-read because the file changed
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(e["jti"], e["reason"]) for e in entries] == [("j1", "leaked"), ("j2", "")]
    assert path.stat().st_mode & 0o777 == 0o600
    with pytest.raises(ValueError):
        writer.revoke("")


def test_revocation_store_skips_torn_lines(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "revoked.jsonl"
    path.write_text('{"jti": "a"}\n{"jti": "b", "rea\n[1]\n\n{"jti": "c"}\n')
    store = FileRevocationStore(path)
    with caplog.at_level(logging.WARNING):
        assert store.is_revoked("a") and store.is_revoked("c")
    assert not store.is_revoked("b")
    assert "line 2" in caplog.text and "line 3" in caplog.text


def test_revocation_by_another_process_is_seen(tmp_path: Path) -> None:
    store = FileRevocationStore(tmp_path / "revoked.jsonl")
    gate = _gate(tmp_path / "keys", store)
    auth = Authenticator(gate, [], store)
    token, jti = gate.issue(subject="agent-7", groups=[], ttl_s=60)
    assert auth.authenticate(f"Bearer {token}").token_id == jti
    FileRevocationStore(tmp_path / "revoked.jsonl").revoke(jti, reason="ops")
    with pytest.raises(AuthError, match="token revoked"):
        auth.authenticate(f"Bearer {token}")
