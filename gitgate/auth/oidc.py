"""Tokens from an external OpenID Connect provider, verified against its published keys."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import jwt
from jwt import PyJWK, PyJWKSet

from gitgate.auth import claims
from gitgate.auth.identity import AuthError, Identity
from gitgate.auth.issuers import OidcIssuerConfig
from gitgate.auth.jwks_cache import JwksCache

log = logging.getLogger(__name__)


class OidcVerifier:
    """Verifies tokens of one OIDC issuer.

    With ``jwks_url`` keys come from a :class:`JwksCache`: cached for ``jwks_cache_s``; an
    unknown ``kid`` forces one re-fetch unless the last fetch was less than
    ``jwks_refresh_cooldown_s`` ago; one fetch at a time, failures cached with backoff, so a
    slow or dead identity provider costs its own tokens a 503 and nobody else anything.

    With ``jwks_file`` the file is read at start and read again when an unknown kid arrives and
    the file has changed since.
    """

    def __init__(self, cfg: OidcIssuerConfig) -> None:
        self.cfg = cfg
        self._client: JwksCache | None = None
        self._file_keys: PyJWKSet | None = None
        self._file_lock = threading.Lock()
        self._file_sig: tuple[int, int, int] | None = None
        if cfg.jwks_url is not None:
            self._client = JwksCache(
                cfg.name,
                cfg.jwks_url,
                timeout_s=cfg.jwks_timeout_s,
                cache_s=cfg.jwks_cache_s,
                refresh_cooldown_s=cfg.jwks_refresh_cooldown_s,
            )
        else:
            self._file_keys = self._read_file()

    def verify(self, token: str, header: dict[str, Any]) -> Identity:
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise AuthError("token key id (kid) malformed")
        if header.get("alg") not in self.cfg.algorithms:
            # Refuse before any key lookup: a forged alg must not trigger a JWKS fetch.
            raise AuthError("token algorithm not allowed")
        key = self._key_for(kid)
        payload = claims.verify(
            token,
            key,
            algorithms=self.cfg.algorithms,
            issuer=self.cfg.issuer,
            audience=self.cfg.audiences,
            leeway_s=self.cfg.leeway_s,
            required=(self.cfg.subject_claim,),
        )
        jti = payload.get("jti")
        return Identity(
            subject=claims.subject_from(payload, self.cfg.subject_claim),
            groups=claims.groups_from(claims.claim_at(payload, self.cfg.groups_claim)),
            issuer=self.cfg.name,
            token_id=jti if isinstance(jti, str) and jti else None,
        )

    def key_in_force(self, header: dict[str, Any]) -> object | None:
        """The key `verify` would use for this header now (the key set's object)."""
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            return None
        return self._key_for(kid)

    def _key_for(self, kid: str | None) -> PyJWK:
        if self._client is not None:
            if kid is None:
                raise AuthError("token has no key id (kid)")
            return self._from_client(kid)
        return self._from_file(kid)

    def _from_client(self, kid: str) -> PyJWK:
        assert self._client is not None
        return self._client.key(kid)

    def _from_file(self, kid: str | None) -> PyJWK:
        with self._file_lock:
            assert self._file_keys is not None
            key = _match(self._file_keys, kid)
            if key is None and kid is not None and self._file_signature() != self._file_sig:
                try:
                    self._file_keys = self._read_file()
                except ValueError as ex:
                    log.warning("%s", ex)
                    raise AuthError(f"no usable signing keys for issuer {self.cfg.name}") from None
                key = _match(self._file_keys, kid)
        if key is None:
            raise AuthError("unknown signing key (kid)" if kid else "token has no key id (kid)")
        return key

    def _file_signature(self) -> tuple[int, int, int] | None:
        assert self.cfg.jwks_file is not None
        try:
            st = self.cfg.jwks_file.stat()
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def _read_file(self) -> PyJWKSet:
        """Read the JWKS file; an unknown kid re-reads it only if the file changed since."""
        path = self.cfg.jwks_file
        assert path is not None
        self._file_sig = self._file_signature()
        try:
            return PyJWKSet.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, jwt.PyJWTError) as ex:
            raise ValueError(
                f"auth issuer {self.cfg.name!r}: jwks_file {path} is not a usable JWKS "
                f"({type(ex).__name__})"
            ) from None


def _match(keys: PyJWKSet, kid: str | None) -> PyJWK | None:
    """The signing key with ``kid``; without a kid only a set of exactly one key is unambiguous."""
    signing = [k for k in keys.keys if k.public_key_use in ("sig", None)]
    if kid is None:
        return signing[0] if len(signing) == 1 else None
    for key in signing:
        if key.key_id == kid:
            return key
    return None
