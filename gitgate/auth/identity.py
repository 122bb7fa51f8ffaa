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


class AuthUnavailable(AuthError):
    """The gate could not decide, through its own fault: its database or an identity provider
    did not answer.

    A subclass so that every caller that fails closed on AuthError still does; the web layer
    tells the two apart, because a 401 makes git's credential helper *erase* the agent's stored
    token, while this deserves a 503 with ``Retry-After`` and the token left alone.
    """

    def __init__(self, message: str, *, retry_after_s: int = 10) -> None:
        super().__init__(message)
        self.retry_after_s = max(1, int(retry_after_s))
