"""Sign-in and sign-out of the review page: OIDC (authorization code + PKCE) or the
authenticating proxy's headers (nothing to do here: every request carries them)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import falcon

from gitgate.web.oidc_login import IdentityProviderError, SignInRefused
from gitgate.web.session import LOGIN_COOKIE, csrf_ok

if TYPE_CHECKING:
    from gitgate.web.routes import Web


def _safe_next(value: str | None) -> str:
    """Only a path of the review UI: never an open redirect to somewhere else."""
    if value and value.startswith("/-/review") and "//" not in value and "\\" not in value:
        return value
    return "/-/review"


class Login:
    def __init__(self, web: Web) -> None:
        self.web = web

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        from gitgate.web.base import html

        if self.web.oidc is None:
            html(resp, "signin.html", **self.web.page(req, resp, who=None, next="/-/review"))
            return
        redirect = self.web.config.review.oidc_redirect_url or f"{req.prefix}/-/review/callback"
        url, cookie = self.web.oidc.begin(redirect, _safe_next(req.get_param("next")))
        self.web.sessions.set_cookie(resp, LOGIN_COOKIE, cookie, 600)
        raise falcon.HTTPSeeOther(url)


class Callback:
    def __init__(self, web: Web) -> None:
        self.web = web

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        def fail(status: str, message: str) -> None:
            self.web.error(req, resp, status, None, "Sign-in failed", message)

        if self.web.oidc is None:
            return fail(falcon.HTTP_404, "OIDC sign-in is not configured on this gate.")
        error = req.get_param("error")
        if error:
            return fail(
                falcon.HTTP_403,
                f"The identity provider refused the sign-in ({error[:100]}). "
                "Sign in again, or ask your identity provider's admin.",
            )
        code, state = req.get_param("code"), req.get_param("state")
        if not code or not state:
            return fail(falcon.HTTP_400, "The sign-in answer lacks its code or state: start again.")
        try:
            ident, next_path = self.web.oidc.finish(req.cookies.get(LOGIN_COOKIE), code, state)
        except SignInRefused as ex:
            return fail(falcon.HTTP_403, f"{ex}. Sign in again.")
        except IdentityProviderError as ex:
            return fail(
                falcon.HTTP_502,
                f"The identity provider did not answer properly ({ex}). This is not your "
                "fault: try again in a minute, or tell the gate's operators.",
            )
        self.web.sessions.start(resp, ident.subject, tuple(ident.groups), "oidc")
        self.web.sessions.set_cookie(resp, LOGIN_COOKIE, "", 0)
        raise falcon.HTTPSeeOther(_safe_next(next_path))


class Logout:
    def __init__(self, web: Web) -> None:
        self.web = web

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        from gitgate.web.base import read_form

        who = self.web.sessions.reviewer(req, resp)
        if who is not None and not csrf_ok(who, read_form(req).get("csrf")):
            raise falcon.HTTPForbidden(description="sign-out form without this session's token")
        self.web.sessions.end(resp)
        raise falcon.HTTPSeeOther("/-/review")
