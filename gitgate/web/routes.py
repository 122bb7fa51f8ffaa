"""`/-/review`: the queue, one page per queued push, decisions, sign-in, static files.

Decisions go through :func:`gitgate.outcomes.approval.record_review` and
:func:`gitgate.outcomes.approval.relay_stored`, exactly as `gitgate review approve|reject` does: the
same rules (the push's reviewer groups, N distinct approvals, never the pusher) in the same
code, and the final approval relays from this request, exactly once.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import falcon

from gitgate.db.models import PUSH_STATES
from gitgate.runtime import Runtime
from gitgate.store.review import may_review
from gitgate.web.base import PREFIX, Static, html, read_form
from gitgate.web.session import Reviewer, Sessions, csrf_ok

log = logging.getLogger("gitgate.web")
MAX_LIST = 100  # newest first; the filters narrow it (bench/bench_review.py)


class Web:
    """What every page needs: the runtime, sessions, and who may see or decide what."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.config = runtime.config
        self.sessions = Sessions(self.config)
        self.oidc: Any = None
        if self.config.review.oidc_issuer:
            from gitgate.web.oidc_login import OidcLogin

            self.oidc = OidcLogin(self.config, self.sessions.key)

    def viewer_groups(self) -> set[str]:
        groups = {g for r in self.config.rule for g in r.reviewers}
        return groups | set(self.config.review.auditor_groups)

    def may_view(self, who: Reviewer) -> bool:
        allowed = self.viewer_groups()
        return "*" in allowed or bool(allowed & set(who.groups))

    def is_auditor(self, who: Reviewer) -> bool:
        allowed = set(self.config.review.auditor_groups)
        return "*" in allowed or bool(allowed & set(who.groups))

    def page(self, req: falcon.Request, resp: falcon.Response, **ctx: Any) -> dict[str, Any]:
        return {"prefix": PREFIX, "oidc": self.oidc is not None, **ctx}

    def error(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        status: str,
        who: Reviewer | None,
        title: str,
        message: str,
    ) -> None:
        """Render the error page: what went wrong and what to do, in the page's own frame."""
        html(
            resp,
            "error.html",
            status,
            **self.page(req, resp, who=who, title=title, message=message),
        )

    def require(self, req: falcon.Request, resp: falcon.Response) -> Reviewer | None:
        """The signed-in reviewer allowed to see the review pages, or None (page rendered)."""
        who = self.sessions.reviewer(req, resp)
        if who is None:
            html(
                resp,
                "signin.html",
                falcon.HTTP_401,
                **self.page(req, resp, next=req.relative_uri, who=None),
            )
            return None
        if not self.may_view(who):
            self.error(
                req,
                resp,
                falcon.HTTP_403,
                who,
                "Not a reviewer",
                f"{who.subject} is in no reviewer or auditor group of this gate. "
                "Ask an admin to add one of your groups to a rule's reviewers.",
            )
            return None
        return who


class QueuePage:
    def __init__(self, web: Web) -> None:
        self.web = web

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        from gitgate.ops.maintenance import expire_and_announce
        from gitgate.store.webviews import find_pushes

        who = self.web.require(req, resp)
        if who is None:
            return
        state = req.get_param("state") or "pending"
        if state not in (*PUSH_STATES, "all"):
            state = "pending"
        repo = (req.get_param("repo") or "").strip()
        expire_and_announce()
        pushes = find_pushes(None if state == "all" else state, repo or None, MAX_LIST)
        html(
            resp,
            "queue.html",
            **self.web.page(
                req,
                resp,
                who=who,
                pushes=pushes,
                state=state,
                repo=repo,
                states=PUSH_STATES,
                limit=MAX_LIST,
            ),
        )


class PushPage:
    def __init__(self, web: Web) -> None:
        self.web = web

    def _show(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        who: Reviewer,
        push_id: int,
        status: str = falcon.HTTP_200,
        message: str = "",
    ) -> None:
        from gitgate.store import queue

        info = queue.get(push_id)
        if info is None:
            self.web.error(
                req,
                resp,
                falcon.HTTP_404,
                who,
                "No such push",
                f"There is no queued push #{push_id}. Go back to the queue.",
            )
            return
        may_decide = info.state == "pending" and may_review(info.reviewer_groups, who.groups)
        html(
            resp,
            "push.html",
            status,
            **self.web.page(
                req,
                resp,
                who=who,
                push=info,
                s=info.summary,
                remaining=max(info.approvals_required - len(info.approvers), 0),
                may_decide=may_decide,
                own=who.subject == info.pusher_subject,
                version=version(info),
                message=message,
            ),
        )

    def on_get(self, req: falcon.Request, resp: falcon.Response, push_id: int) -> None:
        from gitgate.ops.maintenance import expire_and_announce

        who = self.web.require(req, resp)
        if who is None:
            return
        expire_and_announce()
        self._show(req, resp, who, push_id)

    def on_post(self, req: falcon.Request, resp: falcon.Response, push_id: int) -> None:
        """Approve or reject, with the CSRF token of the reviewer's session."""
        from gitgate.audit import notify
        from gitgate.outcomes.approval import record_review, relay_stored

        who = self.web.require(req, resp)
        if who is None:
            return
        form = read_form(req)
        if not csrf_ok(who, form.get("csrf")):
            self.web.error(
                req,
                resp,
                falcon.HTTP_403,
                who,
                "Form refused",
                "This form was not sent from your current review session (missing "
                "or wrong CSRF token). Nothing was decided: reload the push's page and "
                "decide again.",
            )
            return
        verdict = form.get("verdict")
        if verdict not in ("approve", "reject"):
            raise falcon.HTTPBadRequest(description="verdict must be approve or reject")
        comment = (form.get("comment") or "").strip()[:2000]
        try:
            outcome = record_review(push_id, verdict, who.subject, who.groups, comment)
        except LookupError:
            self._show(req, resp, who, push_id)
            return
        message = outcome.message
        from gitgate.audit.metrics import REVIEW_DECISIONS

        if outcome.recorded:
            REVIEW_DECISIONS.labels(verdict).inc()
        if getattr(outcome, "claimed", False):
            result = relay_stored(push_id, self.web.runtime.upstream)
            message = f"{message}. Relay: {result.state}: {result.reason}"
        notify.wake()
        status = falcon.HTTP_200 if outcome.recorded else falcon.HTTP_409
        self._show(req, resp, who, push_id, status, message)


def version(info: Any) -> str:
    """Changes whenever a decision or a state change happens: the page reloads on it."""
    return f"{info.state}:{len(info.decisions)}"


class PushState:
    """`GET …/push/{id}/state`: JSON the page polls to notice other reviewers' decisions."""

    def __init__(self, web: Web) -> None:
        self.web = web

    def on_get(self, req: falcon.Request, resp: falcon.Response, push_id: int) -> None:
        from gitgate.store import queue

        resp.content_type = falcon.MEDIA_JSON
        who = self.web.sessions.reviewer(req, resp)
        if who is None or not self.web.may_view(who):
            resp.status = falcon.HTTP_401 if who is None else falcon.HTTP_403
            resp.text = json.dumps({"message": "sign in to the review page again"})
            return
        info = queue.get(push_id)
        if info is None:
            resp.status = falcon.HTTP_404
            resp.text = json.dumps({"message": f"no queued push #{push_id}"})
            return
        resp.text = json.dumps(
            {
                "id": info.id,
                "state": info.state,
                "approvals": len(info.approvers),
                "required": info.approvals_required,
                "version": version(info),
            }
        )


def add_routes(app: falcon.App, runtime: Runtime) -> None:
    from gitgate.web.audit import AuditPage
    from gitgate.web.signin import Callback, Login, Logout

    web = Web(runtime)
    app.add_route(PREFIX, QueuePage(web))
    app.add_route(PREFIX + "/push/{push_id:int}", PushPage(web))
    app.add_route(PREFIX + "/push/{push_id:int}/state", PushState(web))
    app.add_route(PREFIX + "/static/{name}", Static())
    app.add_route(PREFIX + "/login", Login(web))
    app.add_route(PREFIX + "/callback", Callback(web))
    app.add_route(PREFIX + "/logout", Logout(web))
    audit = AuditPage(web)
    app.add_route(PREFIX + "/audit", audit)
    app.add_route(PREFIX + "/audit/export", audit, suffix="export")
