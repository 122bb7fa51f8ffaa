"""The gate's own credential towards upstream (GitHub): a static token or a GitHub App.

Agents never see this credential; the gate adds it to every upstream request. Secrets are
referenced (``env:NAME``, ``file:/path``), never written inline in a config file. Error
messages and ``describe()`` name the *source* of a secret and never its value.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import jwt

from gitgate.auth.urls import check_transport

log = logging.getLogger("gitgate.upstream_cred")  # the name admins filter on, kept across moves

#: GitHub accepts installation tokens as the password of HTTP Basic with this username.
GIT_USERNAME = "x-access-token"
#: Refresh an installation token this long before GitHub says it expires (GitHub: 1 hour).
REFRESH_MARGIN_S = 300
_APP_JWT_BACKDATE_S = 60  # GitHub's advice: absorb clock drift between us and GitHub
_APP_JWT_LIFETIME_S = 9 * 60  # GitHub refuses app JWTs valid for more than 10 minutes


class UpstreamCredentialError(Exception):
    """The upstream credential cannot be produced; the message is safe to log and show."""


class UpstreamCredential(Protocol):
    def authorization(self) -> str | None: ...
    def invalidate(self) -> None: ...
    def describe(self) -> str: ...


def load_token_ref(ref: str) -> str:
    """Read a secret from ``env:NAME`` or ``file:/path``; ValueError names the source only.

    Inline literal tokens are refused: a config file is read by many and often committed.
    """
    kind, sep, where = ref.partition(":")
    if not sep or kind not in ("env", "file") or not where:
        # APPSEC: `ref` may be the token itself, so it is not quoted back.
        raise ValueError(
            'upstream token: write "env:NAME" or "file:/path"; inline tokens are refused'
        )
    if kind == "env":
        value = os.environ.get(where)
        if value is None:
            raise ValueError(f"upstream token: environment variable {where} is not set")
    else:
        try:
            value = Path(where).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ValueError(f"upstream token: file {where} does not exist") from None
        except (OSError, UnicodeDecodeError) as ex:
            reason = getattr(ex, "strerror", None) or type(ex).__name__
            raise ValueError(f"upstream token: cannot read file {where}: {reason}") from None
    value = value.strip()
    if not value:
        raise ValueError(f"upstream token: {_source(ref)} is empty")
    return value


def basic_authorization(token: str) -> str:
    raw = f"{GIT_USERNAME}:{token}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


class StaticToken:
    """A personal access token (or similar) used as ``x-access-token:<token>`` Basic auth.

    A ``file:`` source is re-read when the file changes, so rotating the token needs no restart.
    If the file disappears or empties mid-rotation, the last good token is kept (with a warning):
    the old token may still work and a failed relay helps nobody.
    """

    def __init__(self, ref: str) -> None:
        self._ref = ref
        self._path = Path(ref[5:]) if ref.startswith("file:") else None
        self._lock = threading.Lock()
        self._signature = self._stat()
        self._token = load_token_ref(ref)  # fail at start-up, not on the first push

    def authorization(self) -> str | None:
        with self._lock:
            if self._path is not None:
                signature = self._stat()
                if signature != self._signature:
                    self._reload(signature)
            return basic_authorization(self._token)

    def invalidate(self) -> None:
        with self._lock:
            self._signature = None  # upstream said 401: re-read the file on next use

    def describe(self) -> str:
        return f"token from {_source(self._ref)}"

    def _stat(self) -> tuple[int, int, int] | None:
        if self._path is None:
            return None
        try:
            st = self._path.stat()
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def _reload(self, signature: tuple[int, int, int] | None) -> None:
        try:
            self._token = load_token_ref(self._ref)
        except ValueError as ex:
            log.warning("%s; keeping the previous token", ex)
            return
        self._signature = signature
        log.info("upstream token re-read from %s", _source(self._ref))


class GitHubApp:
    """Installation tokens of a GitHub App, exchanged with an app JWT and cached.

    The cached token is reused until ``REFRESH_MARGIN_S`` before its ``expires_at`` (GitHub
    tokens live an hour). One lock
    covers check-and-exchange, so a cold cache under concurrent pushes costs one exchange.
    ``clock`` (epoch seconds) is injectable so tests can move time without sleeping.
    """

    def __init__(
        self,
        app_id: int | str,
        private_key_path: Path | str,
        installation_id: int | str,
        api_url: str = "https://api.github.com",
        user_agent: str = "gitgate",
        *,
        clock: Callable[[], float] = time.time,
        timeout_s: float = 30.0,
    ) -> None:
        self.app_id = str(app_id)
        self.installation_id = str(installation_id)
        if not self.app_id or not self.installation_id.isdigit():
            raise ValueError("upstream.app: app_id and a numeric installation_id are required")
        check_transport(api_url, "upstream.api_url")
        self.api_url = api_url.rstrip("/")
        self.private_key_path = Path(str(private_key_path).removeprefix("file:"))
        self.user_agent = user_agent
        self._clock = clock
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0
        self._read_key()  # fail at start-up on a missing or unreadable key

    def authorization(self) -> str | None:
        with self._lock:
            now = self._clock()
            if self._token is None or now >= self._refresh_at:
                self._token, expires_at = self._exchange()
                # A token shorter-lived than twice the margin is used for half its life.
                self._refresh_at = expires_at - min(REFRESH_MARGIN_S, (expires_at - now) / 2)
            return basic_authorization(self._token)

    def invalidate(self) -> None:
        with self._lock:
            self._token = None

    def describe(self) -> str:
        return (
            f"GitHub App {self.app_id} installation {self.installation_id} "
            f"(key {self.private_key_path})"
        )

    def _fail(self, what: str) -> UpstreamCredentialError:
        return UpstreamCredentialError(f"GitHub App {self.app_id}: {what}")

    def _read_key(self) -> bytes:
        try:
            pem = self.private_key_path.read_bytes()
        except OSError as ex:
            raise self._fail(
                f"cannot read private key {self.private_key_path}: {ex.strerror}"
            ) from None
        if b"PRIVATE KEY-----" not in pem:
            raise self._fail(f"{self.private_key_path} is not a PEM private key")
        return pem

    def _app_jwt(self) -> str:
        now = int(self._clock())
        claims = {
            "iat": now - _APP_JWT_BACKDATE_S,
            "exp": now + _APP_JWT_LIFETIME_S,
            "iss": self.app_id,
        }
        try:
            return jwt.encode(claims, self._read_key(), algorithm="RS256")
        except (ValueError, TypeError, jwt.PyJWTError):
            raise self._fail(f"{self.private_key_path} is not a usable RSA key") from None

    def _exchange(self) -> tuple[str, float]:
        """POST the app JWT for an installation token; return ``(token, expires_at epoch)``."""
        app_jwt = self._app_jwt()
        url = f"{self.api_url}/app/installations/{self.installation_id}/access_tokens"
        request = urllib.request.Request(  # noqa: S310 -- scheme checked in __init__
            url,
            data=b"",
            method="POST",
            headers={
                "Authorization": f"Bearer {app_jwt}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
                "User-Agent": self.user_agent,
            },
        )
        try:
            # APPSEC: redirects are not followed; urllib would resend the app JWT elsewhere.
            with _OPENER.open(request, timeout=self._timeout_s) as resp:
                status, body = resp.status, resp.read(65536)
        except urllib.error.HTTPError as ex:
            detail = _github_message(ex.read(4096), app_jwt)
            ex.close()
            raise self._fail(
                f"installation token exchange failed: HTTP {ex.code}{detail}"
            ) from None
        except (urllib.error.URLError, OSError) as ex:
            reason = getattr(ex, "reason", None) or type(ex).__name__
            raise self._fail(f"cannot reach {self.api_url}: {reason}") from None
        token, expires_at = _parse_token_response(body)
        if token is None or expires_at is None:
            raise self._fail(f"unexpected answer to the token exchange (HTTP {status})")
        log.info("%s: new installation token, expires at %d", self.describe(), expires_at)
        return token, expires_at


def credential_from_config(
    token: str | None, app: dict[str, Any] | None, api_url: str
) -> UpstreamCredential | None:
    """Build the configured credential: ``token`` (a ref), or ``app``, or neither (None)."""
    if token and app:
        raise ValueError("upstream: give either upstream.token or upstream.app, not both")
    if token:
        return StaticToken(token)
    if not app:
        return None
    allowed = {"app_id", "private_key", "private_key_path", "installation_id", "user_agent"}
    unknown = sorted(set(app) - allowed)
    if unknown:
        raise ValueError(f"upstream.app: unknown keys {', '.join(unknown)}")
    key_path = app.get("private_key_path") or app.get("private_key")
    if not app.get("app_id") or not app.get("installation_id") or not key_path:
        raise ValueError("upstream.app: app_id, installation_id and private_key are required")
    return GitHubApp(
        app["app_id"],
        key_path,
        app["installation_id"],
        api_url=api_url,
        user_agent=app.get("user_agent") or "gitgate",
    )


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect())


def _source(ref: str) -> str:
    kind, _, where = ref.partition(":")
    return f"env {where}" if kind == "env" else f"file {where}"


def _parse_token_response(body: bytes) -> tuple[str | None, float | None]:
    try:
        data = json.loads(body)
        token, expires = data["token"], data["expires_at"]
        when = datetime.fromisoformat(expires.replace("Z", "+00:00"))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None, None
    if not isinstance(token, str) or not token or when.tzinfo is None:
        return None, None
    return token, when.timestamp()


def _github_message(body: bytes, app_jwt: str) -> str:
    """GitHub's short error text (e.g. "'Expiration time' claim is too far in the future")."""
    try:
        message = json.loads(body).get("message")
    except (ValueError, AttributeError):
        return ""
    if not isinstance(message, str) or not message or app_jwt in message:
        return ""
    return ": " + " ".join(message.split())[:200]
