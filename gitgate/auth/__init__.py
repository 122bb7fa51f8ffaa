"""Agent identity: who is pushing.

The gate accepts JWTs it issued itself (``GateIssuer``) and JWTs from configured OpenID Connect
providers. ``Authenticator.authenticate`` turns an ``Authorization`` header into an ``Identity``
or raises ``AuthError`` whose message can be shown to the client as is.
"""

from gitgate.auth.authenticator import Authenticator, token_from_header
from gitgate.auth.gate import GateIssuer
from gitgate.auth.identity import AuthError, AuthUnavailable, Identity
from gitgate.auth.issuers import GateIssuerConfig, OidcIssuerConfig
from gitgate.auth.revocation import FileRevocationStore, RevocationStore

__all__ = [
    "AuthError",
    "AuthUnavailable",
    "Authenticator",
    "FileRevocationStore",
    "GateIssuer",
    "GateIssuerConfig",
    "Identity",
    "OidcIssuerConfig",
    "RevocationStore",
    "token_from_header",
]
