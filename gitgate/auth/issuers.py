"""Configuration of the token issuers the gate trusts.

RFC 8725 (JWT best current practice) asks for algorithms pinned per issuer. The checks here run
when the configuration is built, so a dangerous setting stops the gate at start-up instead of
quietly weakening it: HMAC algorithms are refused because a verifier holding only a *public* key
would then accept tokens "signed" with that public key, and ``none`` is no signature at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gitgate.auth.urls import check_transport

#: Asymmetric algorithms pyjwt can verify with a public key; nothing else is accepted.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
GATE_ALGORITHMS = ("EdDSA", "ES256")


def pinned_algorithms(algorithms: Sequence[str], where: str) -> tuple[str, ...]:
    """Return ``algorithms`` as a tuple, or raise ValueError for HS*, ``none`` or unknown names."""
    if isinstance(algorithms, str):
        algorithms = (algorithms,)
    if not algorithms:
        raise ValueError(f"{where}: at least one signing algorithm is required")
    for alg in algorithms:
        if alg.upper().startswith("HS") or alg.lower() == "none":
            raise ValueError(f"{where}: algorithm {alg} is not allowed (RFC 8725)")
        if alg not in ASYMMETRIC_ALGORITHMS:
            allowed = ", ".join(sorted(ASYMMETRIC_ALGORITHMS))
            raise ValueError(f"{where}: unknown algorithm {alg!r} (use one of {allowed})")
    return tuple(algorithms)


@dataclass
class GateIssuerConfig:
    """The gate issues its own tokens (the embedded default issuer).

    ``key_dir`` comes first so it can be the only argument; every other field has a default.
    """

    key_dir: Path
    name: str = "gate"
    issuer: str = "gitgate"
    audience: str = "gitgate"
    algorithm: str = "EdDSA"  # Ed25519; or "ES256" (P-256) where Ed25519 is not accepted
    leeway_s: int = 30
    max_ttl_s: int = 90 * 86400  # auth.max_token_ttl

    def __post_init__(self) -> None:
        self.key_dir = Path(self.key_dir)
        if self.algorithm not in GATE_ALGORITHMS:
            raise ValueError(
                f"auth issuer {self.name!r}: algorithm {self.algorithm!r} is not one of "
                f"{', '.join(GATE_ALGORITHMS)}"
            )
        _check_common(self.name, self.issuer, self.leeway_s)
        if self.max_ttl_s <= 0:
            raise ValueError(f"auth issuer {self.name!r}: max_token_ttl must be positive")


@dataclass
class OidcIssuerConfig:
    """An external identity provider whose tokens the gate accepts.

    Keys come from ``jwks_url`` (fetched and cached by pyjwt's ``PyJWKClient``) or from a static
    ``jwks_file``; exactly one of them. ``groups_claim`` may name a nested claim with dots
    (``realm_access.roles``); an exact top-level claim of that name wins (Auth0 style
    ``https://example.com/groups``).
    """

    name: str
    issuer: str
    audience: str | list[str]
    jwks_url: str | None = None
    jwks_file: Path | None = None
    algorithms: tuple[str, ...] = ("RS256",)
    groups_claim: str = "groups"
    subject_claim: str = "sub"
    leeway_s: int = 30
    #: JWKS cache lifetime; after it the set is fetched again on the next request.
    jwks_cache_s: float = 300.0
    #: Minimum time between forced re-fetches caused by an unknown ``kid``; keeps a stream of
    #: forged tokens from turning the gate into a load generator against the identity provider.
    jwks_refresh_cooldown_s: float = 30.0
    #: For the whole fetch (connect, headers, body): a hanging provider must fail fast.
    jwks_timeout_s: float = 3.0
    audiences: tuple[str, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        where = f"auth issuer {self.name!r}"
        _check_common(self.name, self.issuer, self.leeway_s)
        self.jwks_url = self.jwks_url or None
        self.jwks_file = Path(self.jwks_file) if self.jwks_file else None
        if (self.jwks_url is None) == (self.jwks_file is None):
            raise ValueError(f"{where}: give exactly one of jwks_url or jwks_file")
        if self.jwks_url is not None:
            check_transport(self.jwks_url, f"{where} jwks_url")
        aud = [self.audience] if isinstance(self.audience, str) else list(self.audience)
        if not aud or not all(isinstance(a, str) and a for a in aud):
            raise ValueError(f"{where}: audience is required")
        self.audiences = tuple(aud)
        self.algorithms = pinned_algorithms(self.algorithms, where)
        if not 0 < self.jwks_timeout_s <= 60:
            raise ValueError(f"{where}: jwks_timeout must be between 1 and 60 seconds")
        if not self.subject_claim or not self.groups_claim:
            raise ValueError(f"{where}: subject_claim and groups_claim must not be empty")


def _check_common(name: str, issuer: str, leeway_s: int) -> None:
    if not name:
        raise ValueError("auth issuer: name is required")
    if not issuer:
        raise ValueError(f"auth issuer {name!r}: issuer (the iss value) is required")
    if not 0 <= leeway_s <= 300:
        raise ValueError(f"auth issuer {name!r}: leeway_s must be between 0 and 300 seconds")
