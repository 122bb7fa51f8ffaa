"""Sealing the gate's private signing keys for the database, and the secret that seals them.

Gate instances that share a database must verify each other's tokens, so the signing keys live
in the database. Verification needs only the public half, stored as a JWK; the private half is
stored sealed (AES-256-GCM, key derived with HKDF-SHA256 from ``auth.key_secret``, the key id
as associated data so a sealed key cannot be moved to another row). Reading the database alone
therefore lets nobody mint tokens; issuing needs the database *and* the secret.

Without ``auth.key_secret`` a random secret is created once in ``{data_dir}/keys/key-secret``
(0600): one instance works with no setup. Several instances that issue tokens set the same
``key_secret`` (``env:NAME`` or ``file:/path``) on each.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from gitgate.auth.keys import PrivateKey

MIN_SECRET_BYTES = 16
_INFO = b"gitgate gate signing key seal v1"


class SealError(Exception):
    """The sealed key cannot be opened (another secret) or the secret is unusable."""


def load_secret(spec: str, default_file: Path) -> bytes:
    """The sealing secret from ``env:NAME``, ``file:/path`` or (empty) ``default_file``,
    which is created with a random secret on first use."""
    if spec.startswith("env:"):
        value = os.environ.get(spec[4:], "")
        where = f"environment variable {spec[4:]}"
    elif spec.startswith("file:"):
        try:
            value = Path(spec[5:]).read_text(encoding="utf-8")
        except OSError as ex:
            raise SealError(f"auth.key_secret: cannot read {spec[5:]} ({ex.strerror})") from None
        where = f"file {spec[5:]}"
    elif spec:
        raise SealError('auth.key_secret: write "env:NAME" or "file:/path"')
    else:
        return _default_secret(default_file)
    value = value.strip()
    if len(value.encode("utf-8")) < MIN_SECRET_BYTES:
        raise SealError(
            f"auth.key_secret: {where} is empty or shorter than {MIN_SECRET_BYTES} bytes "
            "(use e.g. `openssl rand -hex 32`)"
        )
    return value.encode("utf-8")


def _default_secret(path: Path) -> bytes:
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)  # exactly one concurrent creator wins; all read its secret
        finally:
            tmp.unlink(missing_ok=True)
    return path.read_text(encoding="utf-8").strip().encode("utf-8")


def _aead(secret: bytes) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret)
    return AESGCM(key)


def seal(private_key: PrivateKey, kid: str, secret: bytes) -> str:
    der = private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    nonce = secrets.token_bytes(12)
    sealed = nonce + _aead(secret).encrypt(nonce, der, kid.encode("ascii"))
    return base64.b64encode(sealed).decode("ascii")


def unseal(sealed: str, kid: str, secret: bytes) -> PrivateKey:
    raw = base64.b64decode(sealed)
    try:
        der = _aead(secret).decrypt(raw[:12], raw[12:], kid.encode("ascii"))
    except InvalidTag:
        raise SealError(
            f"signing key {kid} was sealed with another auth.key_secret: give every gate "
            "instance that issues tokens the same key_secret (see docs/deploy.md)"
        ) from None
    key = serialization.load_der_private_key(der, password=None)
    return key  # type: ignore[return-value]  # only gate keys (Ed25519, P-256) are sealed
