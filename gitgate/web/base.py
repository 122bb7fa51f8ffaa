"""What every review route shares: security headers, rendering, bounded forms, static files."""

from __future__ import annotations

import logging
from importlib import resources
from typing import Any

import falcon

from gitgate.web.render import diff_css, render

log = logging.getLogger("gitgate.web")
PREFIX = "/-/review"
MAX_FORM_BYTES = 64 * 1024
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
STATIC = {"review.css": "text/css; charset=utf-8", "review.js": "text/javascript; charset=utf-8"}


def database_down(req: falcon.Request, resp: falcon.Response, ex: Exception, _p: Any) -> None:
    """The gate's database failing is the gate's fault: a 503 that says so (HTML on the review
    pages, JSON for their poll, plain text that git shows as `remote:` elsewhere)."""
    log.error("database error on %s: %s", req.path, type(ex).__name__)
    if not req.path.startswith(PREFIX):
        resp.status = falcon.HTTP_503
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = (
            "gitgate: the gate cannot reach its database; this is not your fault: try again "
            "in a minute, or tell the gate's operators\n"
        )
        return
    if req.path.endswith("/state"):
        resp.status = falcon.HTTP_503
        resp.content_type = falcon.MEDIA_JSON
        resp.text = '{"message": "the gate\'s database is unavailable; the page retries"}'
        return
    html(
        resp,
        "error.html",
        falcon.HTTP_503,
        prefix=PREFIX,
        who=None,
        title="The gate cannot reach its database",
        message="This is not your fault, and nothing was decided. Try again in a minute; "
        "if it persists, tell the gate's operators.",
    )


class SecurityHeaders:
    """A strict CSP and friends on every page of the review UI (and nothing cached)."""

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, ok: bool
    ) -> None:
        if not req.path.startswith(PREFIX):
            return
        resp.set_header("Content-Security-Policy", CSP)
        resp.set_header("X-Content-Type-Options", "nosniff")
        resp.set_header("X-Frame-Options", "DENY")
        resp.set_header("Referrer-Policy", "same-origin")
        if not req.path.startswith(PREFIX + "/static/"):
            resp.set_header("Cache-Control", "no-store")


def html(resp: falcon.Response, template: str, status: str = falcon.HTTP_200, **ctx: Any) -> None:
    resp.status = status
    resp.content_type = "text/html; charset=utf-8"
    resp.text = render(template, **ctx)


def read_form(req: falcon.Request) -> dict[str, str]:
    """A small urlencoded form (bounded: the review forms hold a comment at most)."""
    import urllib.parse

    length = req.content_length or 0
    if length > MAX_FORM_BYTES:
        raise falcon.HTTPPayloadTooLarge(description="form too large (64 KiB at most)")
    if not (req.content_type or "").startswith("application/x-www-form-urlencoded"):
        return {}
    body = req.bounded_stream.read(MAX_FORM_BYTES).decode("utf-8", "replace")
    return {k: v for k, v in urllib.parse.parse_qsl(body, keep_blank_values=True)}


class Static:
    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        if name == "diff.css":
            resp.content_type = "text/css; charset=utf-8"
            resp.text = diff_css()
            return
        if name not in STATIC:
            raise falcon.HTTPNotFound(description=f"no static file {name!r}")
        resp.content_type = STATIC[name]
        resp.data = resources.files("gitgate.web").joinpath("static", name).read_bytes()
        resp.set_header("Cache-Control", "max-age=300")
