"""The gate's domain errors, mapped to HTTP once (`add_handlers`), in the client's channel.

Resources raise; they do not build error responses. Each handler notes the refusal on the
request's audit event (gitgate.audit.recording) and answers in the channel the request came on:
git reads a `text/plain` body and shows it as `remote: ...` (so every refusal says what to do
next); the queue API (`req.context.channel = "json"`) reads JSON `{"message": ...}`.

APPSEC: a 401 makes git's credential helper *erase* the agent's stored token, so the gate's
own failures (identity provider or database down, `AuthUnavailable`) are a 503 with
`Retry-After` on git's channel, never a 401.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Literal

import falcon

from gitgate.audit.recording import Audit
from gitgate.auth import AuthError, AuthUnavailable
from gitgate.upstream.http import UpstreamError

Channel = Literal["git", "json"]
#: How the app renders an HTTPError as text (gitgate.app); passed in, so there is one renderer.
TextRenderer = Callable[[falcon.Request, falcon.Response, falcon.HTTPError, object], None]


class Refusal(Exception):
    """The gate refuses a request (or cannot use upstream's answer), before any byte of it
    goes upstream. `message` is what the client reads; `decision` and `reason` are what the
    audit records (`reason` None: the message says it all, or it is not the caller's)."""

    def __init__(
        self,
        http: falcon.HTTPError,
        decision: str,
        reason: str | None = None,
        upstream_status: int | None = None,
    ) -> None:
        super().__init__(http.description)
        self.http, self.decision, self.reason = http, decision, reason
        self.upstream_status = upstream_status


def channel(req: falcon.Request) -> Channel:
    """Which channel the request came on (a resource sets `req.context.channel`)."""
    return "json" if req.context.get("channel") == "json" else "git"


def _audit(req: falcon.Request) -> Audit | None:
    audit = req.context.get("audit")
    return audit if isinstance(audit, Audit) else None


def _note(req: falcon.Request, decision: str, error: str | None, status: int | None) -> None:
    audit = _audit(req)
    if audit is not None:
        audit.note(decision=decision, error=error, upstream_status=status)


def _json_401(req: falcon.Request, resp: falcon.Response, ex: AuthError) -> None:
    resp.status = falcon.HTTP_401
    resp.content_type = falcon.MEDIA_JSON
    message = f"gitgate: {ex}. Send your gitgate token as a Bearer token"
    resp.text = json.dumps({"message": message}, sort_keys=True)
    resp.set_header("WWW-Authenticate", 'Bearer realm="gitgate"')


def add_handlers(app: falcon.App, text: TextRenderer) -> None:
    """Map the domain errors to HTTP for every route of `app`."""

    def refused(req: falcon.Request, resp: falcon.Response, ex: Refusal, params: object) -> None:
        _note(req, ex.decision, ex.reason, ex.upstream_status)
        text(req, resp, ex.http, params)

    def upstream_failed(
        req: falcon.Request, resp: falcon.Response, ex: UpstreamError, params: object
    ) -> None:
        _note(req, "error", str(ex), ex.status)
        failed = falcon.HTTPBadGateway(title="upstream error", description=f"gitgate: {ex}")
        text(req, resp, failed, params)

    def unauthenticated(
        req: falcon.Request, resp: falcon.Response, ex: AuthError, params: object
    ) -> None:
        if channel(req) == "json":
            _json_401(req, resp, ex)
            return
        _note(req, "unauthenticated", str(ex), None)
        hint = (
            ""
            if "password" in str(ex)
            else ". Use a valid gitgate token as the password "
            "(http://agent:TOKEN@gate/...) or through a credential helper; "
            "ask the gitgate admin for a new one"
        )
        denied = falcon.HTTPUnauthorized(
            title="authentication required",
            description=f"gitgate: {ex}{hint}",
            headers={"WWW-Authenticate": 'Basic realm="gitgate"'},
        )
        text(req, resp, denied, params)

    def unavailable(
        req: falcon.Request, resp: falcon.Response, ex: AuthUnavailable, params: object
    ) -> None:
        if channel(req) == "json":  # the queue API's clients are not credential helpers
            _json_401(req, resp, ex)
            return
        _note(req, "error", str(ex), None)
        down = falcon.HTTPServiceUnavailable(
            title="gate unavailable",
            description=f"gitgate: {ex} (request {req.context.request_id}). This is the "
            "gate's fault, not your token's: keep your credentials and try again in "
            f"{ex.retry_after_s} s; if it persists, tell the gitgate admin.",
            retry_after=ex.retry_after_s,
        )
        text(req, resp, down, params)

    app.add_error_handler(Refusal, refused)  # type: ignore[arg-type]
    app.add_error_handler(UpstreamError, upstream_failed)  # type: ignore[arg-type]
    app.add_error_handler(AuthError, unauthenticated)  # type: ignore[arg-type]
    app.add_error_handler(AuthUnavailable, unavailable)  # type: ignore[arg-type]
