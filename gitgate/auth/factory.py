"""Build the authenticator and the gate issuer from the config."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

from gitgate.auth.authenticator import Authenticator
from gitgate.auth.gate import GateIssuer
from gitgate.auth.identity import Identity
from gitgate.auth.issuers import GateIssuerConfig, OidcIssuerConfig
from gitgate.auth.keyseal import load_secret
from gitgate.auth.revocation import RevocationStore
from gitgate.config import Config

if TYPE_CHECKING:
    from gitgate.store.signing_keys import DbKeyStore


def revocation_store() -> RevocationStore:
    """Revocations live in the bound database, so every gate instance sees them."""
    from gitgate.store.revocations import DbRevocationStore

    return DbRevocationStore()  # type: ignore[return-value]  # revoke() also returns bool


def gate_issuer(config: Config, revocations: RevocationStore) -> GateIssuer:
    """The gate issuer with its keys in the bound database, shared by every instance."""
    cfg = GateIssuerConfig(
        key_dir=Path(config.storage.data_dir) / "keys",
        algorithm=config.auth.gate_algorithm,
        audience=config.auth.gate_audience,
        max_ttl_s=config.auth.max_token_ttl,
    )
    return GateIssuer(cfg, revocations, keys=key_store(config, cfg))


def key_store(config: Config, cfg: GateIssuerConfig) -> DbKeyStore:
    from gitgate.store.signing_keys import DbKeyStore

    secret = functools.partial(load_secret, config.auth.key_secret, cfg.key_dir / "key-secret")
    return DbKeyStore(
        cfg.algorithm,
        secret,
        legacy_dir=cfg.key_dir,
        max_ttl_s=cfg.max_ttl_s,
        leeway_s=cfg.leeway_s,
    )


def oidc_issuers(config: Config) -> list[OidcIssuerConfig]:
    return [
        OidcIssuerConfig(
            name=o.name or f"oidc-{i + 1}",
            issuer=o.issuer,
            audience=o.audience if len(o.audience) != 1 else o.audience[0],
            jwks_url=o.jwks_url or None,
            jwks_file=Path(o.jwks_file) if o.jwks_file else None,
            algorithms=tuple(o.algorithms),
            groups_claim=o.groups_claim,
            subject_claim=o.subject_claim,
            leeway_s=o.leeway,
            jwks_timeout_s=o.jwks_timeout,
        )
        for i, o in enumerate(config.auth.oidc)
    ]


def authenticator_from_config(
    config: Config, revocations: RevocationStore | None = None
) -> Authenticator:
    revocations = revocations or revocation_store()
    gate = gate_issuer(config, revocations) if config.auth.gate_issuer else None
    return Authenticator(gate, oidc_issuers(config), revocations)


def authenticate_token(config: Config, token: str) -> Identity:
    """Verify a token given on the command line exactly as the gate verifies agents
    (raises AuthError). Needs the database bound: revocations live there."""
    return authenticator_from_config(config).authenticate(f"Bearer {token}")
