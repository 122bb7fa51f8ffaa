"""One API call's state and the refusal it may end in (shared by every gitgate.api module)."""

from __future__ import annotations

from typing import Any

import falcon

from gitgate.api.classify import Route
from gitgate.audit import EventFields
from gitgate.audit.recording import Audit
from gitgate.exchange import Caller


class ApiError(Exception):
    """A refusal in the API's own language: status and a JSON `message`."""

    def __init__(self, status: int, message: str, decision: str = "forbidden", **extra: Any):
        super().__init__(message)
        self.status, self.message, self.decision, self.extra = status, message, decision, extra


def bearer(authorization: str | None) -> str | None:
    """gh and PyGithub send `token <T>`; the authenticator knows Bearer and Basic."""
    if authorization and authorization[:6].lower() == "token ":
        return "Bearer " + authorization[6:].strip()
    return authorization


class ApiCall:
    """One request's state: who, what, and what its audit event says (gitgate.audit.recording)."""

    def __init__(self, req: falcon.Request, method: str, route: Route) -> None:
        self.req, self.method, self.route = req, method, route
        self.caller = Caller(
            repo="", source_addr=req.remote_addr or "", request_id=req.context.request_id
        )
        self.audit: Audit = req.context.audit
        self.audit.about(self.caller, "rest")

    @property
    def fields(self) -> EventFields:
        """What the call has learnt so far, for its audit event (written once, at the end)."""
        return self.audit.fields

    @property
    def label(self) -> str:
        return f"{self.method} {self.route.template or '(unclassified)'}"
