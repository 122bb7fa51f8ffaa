"""The gate as a token issuer: short-lived agent tokens signed with the gate's own key."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import jwt

from gitgate.auth import claims
from gitgate.auth.identity import AuthError, Identity
from gitgate.auth.issuers import GateIssuerConfig
from gitgate.auth.keys import SigningKey, load_or_create
from gitgate.auth.revocation import RevocationStore, ensure_not_revoked


class GateIssuer:
    """Issues and verifies gate tokens (``sub``, ``groups``, ``jti``, ``iat``, ``exp``, ``iss``,
    ``aud``).

    The key is loaded (or created) on first use rather than in ``__init__`` so that building the
    app never touches the disk and a CLI that only revokes needs no key. ``clock`` exists for
    tests that need tokens from the past.
    """

    def __init__(
        self,
        cfg: GateIssuerConfig,
        revocations: RevocationStore,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cfg = cfg
        self.revocations = revocations
        self._clock = clock
        self._key: SigningKey | None = None
        self._lock = threading.Lock()

    @property
    def signing_key(self) -> SigningKey:
        with self._lock:
            if self._key is None:
                self._key = load_or_create(self.cfg.key_dir, self.cfg.algorithm)
            return self._key

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

    def jwks(self) -> dict[str, Any]:
        """The public key as a JWKS, for services that want to verify gate tokens themselves."""
        return {"keys": [self.signing_key.public_jwk()]}

    def verify(self, token: str, header: dict[str, Any]) -> Identity:
        """Verify a gate token whose unverified ``iss`` named this issuer.

        Raises AuthError. Revocation is checked here too: every gate token has a jti.
        """
        key = self.signing_key
        if header.get("kid") not in (None, key.kid):
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
