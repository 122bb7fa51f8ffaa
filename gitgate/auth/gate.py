"""The gate as a token issuer: short-lived agent tokens signed with the gate's own key.

Keys come from a KeyStore (the database in a deployment: every instance verifies every other
instance's tokens). Every token names its key (``kid``) and lives at most ``max_ttl_s``: issuing
refuses more, and verification refuses a token whose ``exp`` lies further than that from its
``iat`` or from now, so neither a mistake nor a stolen key yields a token for a century.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import jwt

from gitgate.auth import claims
from gitgate.auth.identity import AuthError, Identity
from gitgate.auth.issuers import GATE_ALGORITHMS, GateIssuerConfig
from gitgate.auth.keys import SigningKey
from gitgate.auth.keystore import DirKeyStore, KeyStore
from gitgate.auth.revocation import RevocationStore, ensure_not_revoked

TOO_LONG = (
    "token lifetime exceeds the gate's maximum (auth.max_token_ttl): "
    "ask the gitgate admin for a new, shorter-lived token"
)


class GateIssuer:
    """Issues and verifies gate tokens (``sub``, ``groups``, ``jti``, ``iat``, ``exp``, ``iss``,
    ``aud``).

    Keys are loaded (or created) on first use rather than in ``__init__`` so that building the
    app never touches the disk or the database and a CLI that only revokes needs no key.
    Without a ``keys`` store the single key file in ``cfg.key_dir`` is used. ``clock`` exists
    for tests that need tokens from the past.
    """

    def __init__(
        self,
        cfg: GateIssuerConfig,
        revocations: RevocationStore,
        *,
        keys: KeyStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cfg = cfg
        self.revocations = revocations
        self.keys: KeyStore = keys or DirKeyStore(cfg.key_dir, cfg.algorithm)
        self._clock = clock

    @property
    def signing_key(self) -> SigningKey:
        return self.keys.signing_key()

    def issue(self, *, subject: str, groups: Sequence[str], ttl_s: int) -> tuple[str, str]:
        """Return ``(token, jti)``. Keep the token secret; the jti is what revocation names."""
        if not subject or not subject.strip():
            raise ValueError("subject must not be empty")
        if isinstance(groups, str):
            raise TypeError("groups must be a sequence of names, not one string")
        if not all(isinstance(g, str) and g for g in groups):
            raise ValueError("groups must be non-empty strings")
        if ttl_s <= 0:
            raise ValueError("ttl_s must be positive")
        if ttl_s > self.cfg.max_ttl_s:
            raise ValueError(
                f"a lifetime of {ttl_s} s is over auth.max_token_ttl ({self.cfg.max_ttl_s} s): "
                "issue a shorter-lived token, or raise auth.max_token_ttl"
            )
        key = self.signing_key
        now = int(self._clock())
        jti = uuid.uuid4().hex
        payload = {
            "iss": self.cfg.issuer,
            "aud": self.cfg.audience,
            "sub": subject,
            "groups": list(dict.fromkeys(groups)),
            "jti": jti,
            "iat": now,
            "exp": now + int(ttl_s),
        }
        token = jwt.encode(
            payload,
            key.private_key,
            algorithm=key.algorithm,
            headers={"kid": key.kid, "typ": "JWT"},
        )
        return token, jti

    def revoke(self, jti: str, *, reason: str = "") -> None:
        self.revocations.revoke(jti, reason=reason)

    def _check_lifetime(self, payload: dict[str, Any], retired_at: float | None) -> None:
        exp, iat = payload.get("exp"), payload.get("iat")
        if not isinstance(exp, int | float) or not isinstance(iat, int | float):
            raise AuthError("token exp or iat malformed")
        limit = self.cfg.max_ttl_s + self.cfg.leeway_s
        if exp - iat > limit or exp - self._clock() > limit:
            raise AuthError(TOO_LONG)
        if retired_at is not None and iat > retired_at + self.cfg.leeway_s:
            # only a holder of a retired private key could sign after its retirement
            raise AuthError("token signed with a retired key: ask the gitgate admin for a new one")

    def jwks(self) -> dict[str, Any]:
        """The public key as a JWKS, for services that want to verify gate tokens themselves."""
        return {"keys": [self.signing_key.public_jwk()]}

    def key_in_force(self, header: dict[str, Any]) -> object | None:
        """The key `verify` would use for this header now (the key store's cached object)."""
        kid = header.get("kid")
        return self.keys.verification_key(kid) if isinstance(kid, str) and kid else None

    def verify(self, token: str, header: dict[str, Any]) -> Identity:
        """Verify a gate token whose unverified ``iss`` named this issuer.

        Raises AuthError. Revocation is checked here too: every gate token has a jti.
        """
        if header.get("alg") not in GATE_ALGORITHMS:
            raise AuthError("token algorithm not allowed")  # before any key lookup
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthError("token has no key id (kid)")
        key = self.keys.verification_key(kid)  # a failing store is the gate's fault (503)
        if key is None:
            raise AuthError("unknown signing key (kid)")
        payload = claims.verify(
            token,
            key.public_key,
            algorithms=(key.algorithm,),
            issuer=self.cfg.issuer,
            audience=(self.cfg.audience,),
            leeway_s=self.cfg.leeway_s,
            required=("sub", "jti", "iat"),
        )
        self._check_lifetime(payload, key.retired_at)
        jti = payload["jti"]
        if not isinstance(jti, str) or not jti:
            raise AuthError("token lacks the jti claim")
        ensure_not_revoked(self.revocations, jti)
        return Identity(
            subject=claims.subject_from(payload, "sub"),
            groups=claims.groups_from(payload.get("groups")),
            issuer=self.cfg.name,
            token_id=jti,
        )
