"""Reviewer sign-in with OpenID Connect: the authorization-code flow with PKCE (RFC 7636).

The issuer is one of ``[[auth.oidc]]`` (``review.oidc_issuer`` names it), so reviewers' groups
come from the same claim, and their id_tokens are verified by the same code as agents' tokens
(gitgate.auth.oidc: pinned algorithms, JWKS, issuer, expiry), with the client id as audience
and the nonce of this sign-in checked on top. The state, nonce and PKCE verifier live in a
short-lived signed cookie, so any instance can finish a sign-in another one started.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import logging
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import jwt

from gitgate.auth import AuthError, Identity
from gitgate.auth.oidc import OidcVerifier
from gitgate.config import Config
from gitgate.web.session import sign, unsign

log = logging.getLogger("gitgate.web")
LOGIN_TTL_S = 600
MAX_TOKEN_RESPONSE = 1024 * 1024


class IdentityProviderError(Exception):
    """The identity provider failed (down, error answer): the gate's problem, not the user's."""


class SignInRefused(Exception):
    """The sign-in itself is invalid (state mismatch, bad token): the user starts again."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class OidcLogin:
    def __init__(self, config: Config, key: bytes) -> None:
        from gitgate.auth.factory import oidc_issuers

        self.rv = config.review
        self.key = key
        issuer = next(i for i in oidc_issuers(config) if i.name == self.rv.oidc_issuer)
        self.verifier = OidcVerifier(dataclasses.replace(issuer, audience=self.rv.oidc_client_id))
        self.client_secret = ""
        if self.rv.oidc_client_secret:
            from gitgate.upstream.credential import load_token_ref

            try:
                self.client_secret = load_token_ref(self.rv.oidc_client_secret)
            except ValueError as ex:
                why = str(ex).removeprefix("upstream token: ")
                raise ValueError(f"review.oidc_client_secret: {why}") from None

    def begin(self, redirect_uri: str, next_path: str) -> tuple[str, str]:
        """The URL to send the browser to, and the signed login cookie to set."""
        state = secrets.token_urlsafe(24)
        nonce = secrets.token_urlsafe(24)
        verifier = secrets.token_urlsafe(48)
        challenge = _b64(hashlib.sha256(verifier.encode("ascii")).digest())
        query = urllib.parse.urlencode(
            {
                "response_type": "code",
                "client_id": self.rv.oidc_client_id,
                "redirect_uri": redirect_uri,
                "scope": " ".join(self.rv.oidc_scopes),
                "state": state,
                "nonce": nonce,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        sep = "&" if "?" in self.rv.oidc_authorization_endpoint else "?"
        cookie = sign(
            self.key,
            {
                "state": state,
                "nonce": nonce,
                "verifier": verifier,
                "next": next_path,
                "redirect_uri": redirect_uri,
                "exp": int(time.time()) + LOGIN_TTL_S,
            },
        )
        return f"{self.rv.oidc_authorization_endpoint}{sep}{query}", cookie

    def finish(self, cookie: str | None, code: str, state: str) -> tuple[Identity, str]:
        """Exchange the code, verify the id_token; returns the identity and where to go next."""
        login = unsign(self.key, cookie)
        if login is None:
            raise SignInRefused("the sign-in expired or was started in another browser")
        if not secrets.compare_digest(str(login["state"]), state):
            raise SignInRefused("the sign-in's state does not match")
        tokens = self._exchange(code, str(login["verifier"]), str(login["redirect_uri"]))
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise IdentityProviderError("the identity provider returned no id_token")
        try:
            header = jwt.get_unverified_header(id_token)
            ident = self.verifier.verify(id_token, header)
            nonce = jwt.decode(id_token, options={"verify_signature": False}).get("nonce")
        except (AuthError, jwt.PyJWTError) as ex:
            raise SignInRefused(f"the identity provider's id_token was refused: {ex}") from None
        if not isinstance(nonce, str) or not secrets.compare_digest(nonce, str(login["nonce"])):
            raise SignInRefused("the id_token's nonce does not match this sign-in")
        return ident, str(login.get("next") or "/-/review")

    def _exchange(self, code: str, verifier: str, redirect_uri: str) -> dict[str, Any]:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": self.rv.oidc_client_id,
            "code_verifier": verifier,
        }
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        if self.client_secret:  # client_secret_basic (RFC 6749 2.3.1)
            pair = (
                f"{urllib.parse.quote(self.rv.oidc_client_id, safe='')}:"
                f"{urllib.parse.quote(self.client_secret, safe='')}"
            )
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        request = urllib.request.Request(  # noqa: S310 - config validation allows only https/loopback
            self.rv.oidc_token_endpoint,
            data=urllib.parse.urlencode(form).encode(),
            headers=headers,
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
                body = resp.read(MAX_TOKEN_RESPONSE + 1)
        except urllib.error.HTTPError as ex:
            with ex:
                log.warning("review sign-in: token endpoint answered HTTP %s", ex.code)
            if ex.code == 400:  # invalid_grant: a used or expired code, a bad verifier
                raise SignInRefused("the identity provider refused the sign-in code") from None
            raise IdentityProviderError(f"token endpoint answered HTTP {ex.code}") from None
        except (OSError, urllib.error.URLError) as ex:
            log.warning("review sign-in: token endpoint unreachable: %s", type(ex).__name__)
            raise IdentityProviderError("token endpoint unreachable") from None
        if len(body) > MAX_TOKEN_RESPONSE:
            raise IdentityProviderError("token endpoint answer too large")
        try:
            data = json.loads(body)
        except ValueError:
            raise IdentityProviderError("token endpoint answer is not JSON") from None
        if not isinstance(data, dict):
            raise IdentityProviderError("token endpoint answer is not a JSON object")
        return data
