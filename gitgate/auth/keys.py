"""The gate's own signing key: created once, atomically, readable only by the gate's user.

Several gunicorn workers start at the same time and may all find no key. Each writes a complete
key to a private temporary file and hard-links it to the final name; ``link`` fails if the name
exists, so exactly one key wins and every process then reads that one. A reader never sees a
half-written file, which ``O_EXCL`` on the final name alone would not guarantee.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from jwt.algorithms import ECAlgorithm, OKPAlgorithm

log = logging.getLogger(__name__)

_FILE_NAMES = {"EdDSA": "gate-ed25519.pem", "ES256": "gate-es256.pem"}
PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class SigningKey:
    """A private key with its RFC 7638 thumbprint as ``kid``."""

    algorithm: str
    private_key: PrivateKey
    kid: str

    @property
    def public_key(self) -> Any:
        return self.private_key.public_key()

    def public_jwk(self) -> dict[str, Any]:
        """The public half as a JWK (with kid, alg and use), e.g. to publish a JWKS."""
        jwk = _public_jwk(self.private_key)
        return {**jwk, "kid": self.kid, "alg": self.algorithm, "use": "sig"}


def load_or_create(key_dir: Path, algorithm: str) -> SigningKey:
    """Load the gate key for ``algorithm`` from ``key_dir``, creating it on first use."""
    path = key_dir / _FILE_NAMES[algorithm]
    if not path.exists():
        _create(path, algorithm)
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        log.warning("%s is accessible to other users (mode %o); use chmod 600", path, mode)
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    expected = ed25519.Ed25519PrivateKey if algorithm == "EdDSA" else ec.EllipticCurvePrivateKey
    if not isinstance(loaded, expected):
        raise ValueError(f"{path}: not a key for {algorithm}")
    if isinstance(loaded, ec.EllipticCurvePrivateKey) and not isinstance(
        loaded.curve, ec.SECP256R1
    ):
        raise ValueError(f"{path}: ES256 needs a P-256 key")
    return SigningKey(algorithm, loaded, thumbprint(_public_jwk(loaded)))


def generate(algorithm: str) -> SigningKey:
    """A new key for ``algorithm`` (EdDSA: Ed25519, ES256: P-256), kid = its thumbprint."""
    key: PrivateKey = (
        ed25519.Ed25519PrivateKey.generate()
        if algorithm == "EdDSA"
        else ec.generate_private_key(ec.SECP256R1())
    )
    return SigningKey(algorithm, key, thumbprint(_public_jwk(key)))


def existing(key_dir: Path, algorithm: str) -> SigningKey | None:
    """The key a gate before shared keys kept in ``key_dir``, if any (to import it)."""
    if not (key_dir / _FILE_NAMES[algorithm]).exists():
        return None
    return load_or_create(key_dir, algorithm)


def public_from_jwk(jwk: dict[str, Any]) -> Any:
    """The verification key of a stored public JWK (OKP/Ed25519 or EC/P-256 only)."""
    if jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519":
        return OKPAlgorithm.from_jwk(jwk)
    if jwk.get("kty") == "EC" and jwk.get("crv") == "P-256":
        return ECAlgorithm.from_jwk(jwk)
    raise ValueError("not a gate key (Ed25519 or P-256)")


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 JWK thumbprint: SHA-256 over the required members in canonical JSON."""
    required = ("crv", "kty", "x", "y") if jwk["kty"] == "EC" else ("crv", "kty", "x")
    canonical = json.dumps({k: jwk[k] for k in required}, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _public_jwk(private_key: PrivateKey) -> dict[str, Any]:
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        return dict(OKPAlgorithm.to_jwk(private_key.public_key(), as_dict=True))
    return dict(ECAlgorithm.to_jwk(private_key.public_key(), as_dict=True))


def _create(path: Path, algorithm: str) -> None:
    key: PrivateKey = (
        ed25519.Ed25519PrivateKey.generate()
        if algorithm == "EdDSA"
        else ec.generate_private_key(ec.SECP256R1())
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return  # another process won the race; its key is complete, use that one
        _fsync_dir(path.parent)
        log.info("created gate signing key %s (%s)", path, algorithm)
    finally:
        tmp.unlink(missing_ok=True)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
