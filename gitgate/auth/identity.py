"""Who is pushing: the result of authentication, and the one error it can raise."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Identity:
    """An authenticated agent.

    Frozen because the identity travels with the push through checks, policy and audit; nothing
    downstream may widen it after the signature was verified.
    """

    subject: str
    groups: tuple[str, ...]
    issuer: str  # issuer *name* from config ("gate", "okta"), not the iss URL
    token_id: str | None  # jti, if the token has one


class AuthError(Exception):
    """Authentication failed.

    APPSEC: the message is shown to the client (git prints it), so it is one short line chosen
    from fixed texts here; it never contains the token, a claim value or a library message.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message
