"""Signature and claim verification shared by the gate and OIDC issuers.

Every pyjwt failure is mapped to a fixed, short AuthError text. pyjwt's own messages are not
passed on: they are not written for the client and a future version might quote input.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jwt

from gitgate.auth.identity import AuthError

_MESSAGES: tuple[tuple[type[Exception], str], ...] = (
    (jwt.ExpiredSignatureError, "token expired"),
    (jwt.ImmatureSignatureError, "token not yet valid"),
    (jwt.InvalidAudienceError, "token audience not accepted"),
    (jwt.InvalidIssuerError, "token issuer not accepted"),
    (jwt.InvalidAlgorithmError, "token algorithm not allowed"),
    (jwt.InvalidSignatureError, "token signature invalid"),
    (jwt.InvalidKeyError, "token signing key rejected"),
    (jwt.InvalidIssuedAtError, "token issued-at (iat) invalid"),
    (jwt.DecodeError, "token malformed"),
)
_SAFE_CLAIM_NAMES = frozenset({"exp", "iss", "aud", "sub", "jti", "iat"})


def verify(
    token: str,
    key: Any,
    *,
    algorithms: Sequence[str],
    issuer: str,
    audience: Sequence[str],
    leeway_s: int,
    required: Sequence[str],
) -> dict[str, Any]:
    """Verify signature, ``iss``, ``aud``, ``exp`` (and ``nbf``/``iat`` when present).

    ``algorithms`` is the issuer's pinned list: the token header cannot widen it, and a PyJWK
    key additionally binds its own algorithm (pyjwt checks both).
    """
    try:
        return jwt.decode(
            token,
            key,
            algorithms=list(algorithms),
            issuer=issuer,
            audience=list(audience),
            leeway=leeway_s,
            options={
                "require": ["exp", "iss", "aud", *required],
                "verify_signature": True,
                "enforce_minimum_key_length": True,
            },
        )
    except jwt.MissingRequiredClaimError as ex:
        claim = ex.claim if ex.claim in _SAFE_CLAIM_NAMES else "required"
        raise AuthError(f"token lacks the {claim} claim") from None
    except (jwt.PyJWTError, ValueError, TypeError) as ex:
        raise AuthError(message_for(ex)) from None


def message_for(ex: Exception) -> str:
    """The client-safe text for a pyjwt exception."""
    for kind, message in _MESSAGES:
        if isinstance(ex, kind):
            return message
    return "token invalid"


def claim_at(claims: dict[str, Any], name: str) -> Any:
    """Claim ``name``; a dotted name walks nested objects unless it exists as-is at top level."""
    if name in claims:
        return claims[name]
    value: Any = claims
    for part in name.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def groups_from(value: Any) -> tuple[str, ...]:
    """Normalise a groups claim: absent -> (), one string -> (it,), list of strings -> tuple.

    Anything else is refused rather than guessed at, because groups decide who may approve.
    """
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(g, str) and g for g in value):
        raise AuthError("token groups claim is not a list of names")
    return tuple(dict.fromkeys(value))  # de-duplicated, order kept


def subject_from(claims: dict[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value.strip():
        raise AuthError("token subject is missing or empty")
    return value
