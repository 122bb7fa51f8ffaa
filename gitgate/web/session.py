"""Reviewer sessions: a signed cookie, its CSRF token, and who the reviewer is.

A session is a small signed cookie (HMAC-SHA256) holding the reviewer's subject, groups, how
they signed in, an expiry and a random CSRF token. Signed, not stored: any gate instance that
shares the key accepts it, and nothing needs a table. The key is ``review.session_secret``
(``env:``/``file:``; give all instances the same one) or, by default, a random key generated
into ``{data_dir}/keys/review-session.key`` on first use.

Cookies are ``HttpOnly`` (scripts never read them), ``SameSite=Lax`` (not sent with
cross-site POSTs; still sent on the top-level redirect back from the identity provider) and
``Secure`` unless ``review.cookie_secure = false``. Every form carries the session's CSRF
token, compared in constant time.

With ``review.trusted_headers`` the identity comes from the authenticating proxy's headers
on each request, but only from ``review.trusted_proxies``; the cookie then only carries the
CSRF token for that identity.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import falcon

from gitgate.config import Config

log = logging.getLogger("gitgate.web")
COOKIE = "gitgate_review"
LOGIN_COOKIE = "gitgate_review_login"
MAX_GROUPS = 200


@dataclass(frozen=True)
class Reviewer:
    subject: str
    groups: tuple[str, ...]
    csrf: str
    via: str  # "oidc" | "header"


def session_key(config: Config) -> bytes:
    """The HMAC key of session cookies (see the module docstring)."""
    ref = config.review.session_secret
    if ref:
        from gitgate.upstream.credential import load_token_ref

        try:
            return hashlib.sha256(load_token_ref(ref).encode()).digest()
        except ValueError as ex:
            why = str(ex).removeprefix("upstream token: ")
            raise ValueError(f"review.session_secret: {why}") from None
    path = Path(config.storage.data_dir) / "keys" / "review-session.key"
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        # Written whole under a temporary name, then linked into place: of several workers
        # starting at once, the first link wins and every worker reads that one key.
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(secrets.token_bytes(32))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    data = path.read_bytes()
    if len(data) != 32:
        raise RuntimeError(f"{path} is not a 32-byte key: delete it and restart the gate")
    return data


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(key: bytes, payload: dict[str, object]) -> str:
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    mac = hmac.new(key, body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def unsign(key: bytes, value: str | None) -> dict[str, object] | None:
    """The payload of a cookie this gate signed and that has not expired, else None."""
    if not value or value.count(".") != 1:
        return None
    body, mac = value.split(".")
    want = hmac.new(key, body.encode(), hashlib.sha256).digest()
    try:
        if not hmac.compare_digest(want, _unb64(mac)):
            return None
        data = json.loads(_unb64(body))
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("exp"), int | float):
        return None
    if data["exp"] < time.time():
        return None
    return data


class Sessions:
    """Issues, reads and clears reviewer sessions for one gate."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.review = config.review
        self.key = session_key(config)
        self.proxies = [ipaddress.ip_network(n, strict=False) for n in self.review.trusted_proxies]

    def set_cookie(
        self, resp: falcon.Response, name: str, value: str, max_age: int, path: str = "/-/review"
    ) -> None:
        resp.set_cookie(
            name,
            value,
            max_age=max_age,
            path=path,
            secure=self.review.cookie_secure,
            http_only=True,
            same_site="Lax",
        )

    def start(
        self, resp: falcon.Response, subject: str, groups: tuple[str, ...], via: str
    ) -> Reviewer:
        csrf = secrets.token_urlsafe(24)
        ttl = self.review.session_ttl
        payload = {
            "sub": subject,
            "groups": list(groups)[:MAX_GROUPS],
            "via": via,
            "csrf": csrf,
            "exp": int(time.time()) + ttl,
        }
        self.set_cookie(resp, COOKIE, sign(self.key, payload), ttl)
        return Reviewer(subject, tuple(groups)[:MAX_GROUPS], csrf, via)

    def end(self, resp: falcon.Response) -> None:
        self.set_cookie(resp, COOKIE, "", 0)
        resp.unset_cookie(COOKIE, path="/-/review")

    def reviewer(self, req: falcon.Request, resp: falcon.Response) -> Reviewer | None:
        """Who is asking: the proxy's headers (when trusted), else a valid session cookie."""
        data = unsign(self.key, req.cookies.get(COOKIE))
        header = self._from_headers(req)
        if header is not None:
            subject, groups = header
            if data and data.get("sub") == subject and data.get("via") == "header":
                return Reviewer(subject, groups, str(data["csrf"]), "header")
            return self.start(resp, subject, groups, "header")  # a CSRF token for this identity
        if data is None or data.get("via") != "oidc":
            return None
        groups_raw = data.get("groups")
        group_list = groups_raw if isinstance(groups_raw, list) else []
        return Reviewer(
            str(data["sub"]), tuple(str(g) for g in group_list), str(data["csrf"]), "oidc"
        )

    def _from_headers(self, req: falcon.Request) -> tuple[str, tuple[str, ...]] | None:
        if not self.review.trusted_headers:
            return None
        user = (req.get_header(self.review.user_header) or "").strip()
        if not user:
            return None
        if not self.trusted_peer(req.remote_addr):
            log.warning(
                "review: identity header from %s ignored: not in review.trusted_proxies",
                req.remote_addr,
            )
            return None
        raw = req.get_header(self.review.groups_header) or ""
        groups = tuple(g.strip() for g in raw.split(",") if g.strip())
        return user, groups

    def trusted_peer(self, addr: str | None) -> bool:
        try:
            ip = ipaddress.ip_address(addr or "")
        except ValueError:
            return False
        return any(ip in net for net in self.proxies)


def csrf_ok(reviewer: Reviewer, token: str | None) -> bool:
    return bool(token) and hmac.compare_digest(reviewer.csrf.encode(), (token or "").encode())
