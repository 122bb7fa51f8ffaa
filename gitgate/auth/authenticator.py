"""From an HTTP ``Authorization`` header to an Identity.

git sends credentials as HTTP Basic (the token is the password, the username is whatever the
credential helper had), other clients send ``Bearer``. RFC 8725 order of operations: the
*unverified* ``iss`` only selects which issuer's keys and settings to use; everything that
matters is then verified with that issuer's pinned algorithms.
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import jwt

from gitgate.auth.gate import GateIssuer
from gitgate.auth.identity import AuthError, AuthUnavailable, Identity
from gitgate.auth.issuers import OidcIssuerConfig
from gitgate.auth.oidc import OidcVerifier
from gitgate.auth.revocation import RevocationStore, ensure_not_revoked
from gitgate.auth.tokencache import SigningKeys, TokenCache, Verified

log = logging.getLogger(__name__)

#: Real tokens are well under 4 KiB; refusing larger input early bounds the parsing work.
MAX_TOKEN_CHARS = 8192
NO_CREDENTIALS = "no credentials: use your gitgate token as the password"


class _Verifier(SigningKeys, Protocol):
    """An issuer: verifies its tokens; `key_in_force` (gitgate.auth.tokencache) names the key
    it would use now, so that a cached token stands only while that key does."""

    def verify(self, token: str, header: dict[str, Any]) -> Identity: ...


class Authenticator:
    """Checks agent tokens from the gate itself and from configured OIDC issuers."""

    def __init__(
        self,
        gate: GateIssuer | None,
        oidc: Sequence[OidcIssuerConfig],
        revocations: RevocationStore,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.revocations = revocations
        self._verified = TokenCache(clock=clock)  # gitgate.auth.tokencache: why it is safe
        self._gate = gate
        self._by_iss: dict[str, _Verifier] = {}
        names: set[str] = set()
        verifiers: list[tuple[str, str, _Verifier]] = []
        if gate is not None:
            verifiers.append((gate.cfg.name, gate.cfg.issuer, gate))
        verifiers += [(cfg.name, cfg.issuer, OidcVerifier(cfg)) for cfg in oidc]
        for name, iss, verifier in verifiers:
            if name in names:
                raise ValueError(f"auth issuer name {name!r} is used twice")
            if iss in self._by_iss:
                raise ValueError(f"auth issuer {name!r}: iss {iss!r} is already used")
            names.add(name)
            self._by_iss[iss] = verifier

    def authenticate(self, authorization_header: str | None) -> Identity:
        """Return the verified Identity, or raise AuthError with a client-safe message."""
        try:
            identity = self._authenticate(authorization_header)
        except AuthError as ex:
            # git always asks once without credentials first; that is not worth an info line.
            level = logging.DEBUG if ex.message == NO_CREDENTIALS else logging.INFO
            log.log(level, "authentication failed: %s", ex.message)
            raise
        log.debug("authenticated %s via issuer %s", identity.subject, identity.issuer)
        return identity

    def _authenticate(self, authorization_header: str | None) -> Identity:
        token = token_from_header(authorization_header)
        key = TokenCache.key(token)
        known = self._verified.get(key)
        if known is not None and self._key_in_force(known.verifier, known.header) == known.key:
            try:  # verified before, with the key still in force: only revocation can change
                for store in known.revocations:
                    ensure_not_revoked(store, known.identity.token_id or "")
            except AuthError as ex:
                if not isinstance(ex, AuthUnavailable):
                    self._verified.drop(key)
                raise
            return known.identity
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except (jwt.PyJWTError, ValueError, TypeError):
            raise AuthError("token malformed: expected a JWT") from None
        iss = unverified.get("iss")
        if not isinstance(iss, str) or not iss:
            raise AuthError("token has no issuer (iss)")
        verifier = self._by_iss.get(iss)
        if verifier is None:
            raise AuthError("unknown issuer")
        checked: list[RevocationStore] = []
        try:
            identity = verifier.verify(token, header)
            gate = self._gate if verifier is self._gate else None
            if identity.token_id is not None:
                if gate is not None:
                    checked.append(gate.revocations)  # GateIssuer.verify checked it
                if gate is None or gate.revocations is not self.revocations:
                    ensure_not_revoked(self.revocations, identity.token_id)
                    checked.append(self.revocations)
        except AuthError:
            raise
        except Exception as ex:
            # Not a verdict on the token: the gate itself failed (database, key store). Fail
            # closed, but as the gate's fault so the agent keeps its credentials.
            log.error("cannot verify a token of %s: %s", iss, type(ex).__name__)
            raise AuthUnavailable("the gate cannot verify tokens right now") from None
        exp = unverified.get("exp")  # verified with the signature just now; required
        signed_by = self._key_in_force(verifier, header)
        if signed_by is not None and isinstance(exp, int | float) and not isinstance(exp, bool):
            self._verified.put(
                key,
                Verified(identity, tuple(checked), float(exp), verifier, header, signed_by),
            )
        return identity

    def _key_in_force(self, verifier: SigningKeys, header: dict[str, Any]) -> object | None:
        """The key `verifier` holds for this header now; None when it holds none. A cached
        token is served only while this equals the key that verified it (same material, same
        retirement): a key withdrawn, retired or replaced sends it to full verification."""
        try:
            return verifier.key_in_force(header)
        except Exception:  # AuthError, or a key store down: verification decides and says
            return None


def token_from_header(value: str | None) -> str:
    """The token from ``Basic base64(user:token)`` or ``Bearer token``; raises AuthError."""
    if value is None or not value.strip():
        raise AuthError(NO_CREDENTIALS)
    scheme, _, rest = value.strip().partition(" ")
    rest = rest.strip()
    if scheme.lower() == "bearer":
        token = rest
    elif scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(rest, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise AuthError("malformed Basic credentials") from None
        _, sep, token = decoded.partition(":")
        if not sep:
            raise AuthError("malformed Basic credentials")
    else:
        raise AuthError("unsupported authorization scheme: use Basic or Bearer")
    token = token.strip()
    if not token:
        raise AuthError(NO_CREDENTIALS)
    if len(token) > MAX_TOKEN_CHARS:
        raise AuthError("token too large")
    return token
