"""The auditor's view: session records searched by identity, repo, decision and time, and a
JSON Lines export of the same search. Read-only, for ``review.auditor_groups`` only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import falcon

if TYPE_CHECKING:
    from gitgate.web.routes import Web

DECISIONS = (
    "allow",
    "reject",
    "queue",
    "mask",
    "error",
    "forbidden",
    "unauthenticated",
    "dry-run",
    "break-glass",
    "probe",
)


def _when(value: str | None) -> datetime | None:
    """A date (2026-11-30) or ISO time, taken as UTC; anything else is no filter."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class AuditPage:
    def __init__(self, web: Web) -> None:
        self.web = web

    def _filters(self, req: falcon.Request) -> dict[str, Any]:
        decision = req.get_param("decision") or None
        return {
            "subject": (req.get_param("subject") or "").strip() or None,
            "repo": (req.get_param("repo") or "").strip() or None,
            "decision": decision if decision in DECISIONS else None,
            "since": _when(req.get_param("since")),
            "until": _when(req.get_param("until")),
        }

    def _auditor(self, req: falcon.Request, resp: falcon.Response) -> Any:
        who = self.web.require(req, resp)
        if who is None:
            return None
        if not self.web.is_auditor(who):
            self.web.error(
                req,
                resp,
                falcon.HTTP_403,
                who,
                "Auditors only",
                "The session records are for review.auditor_groups. Ask an admin "
                "to add one of your groups there.",
            )
            return None
        return who

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        from gitgate.store.webviews import search_sessions
        from gitgate.web.base import html

        who = self._auditor(req, resp)
        if who is None:
            return
        filters = self._filters(req)
        records = search_sessions(**filters, limit=200)
        keys = ("subject", "repo", "decision", "since", "until")
        query = {k: req.get_param(k) or "" for k in keys}
        html(
            resp,
            "audit.html",
            **self.web.page(
                req,
                resp,
                who=who,
                records=records,
                q=query,
                decisions=DECISIONS,
                export=f"/-/review/audit/export?{urlencode(query)}",
            ),
        )

    def on_get_export(self, req: falcon.Request, resp: falcon.Response) -> None:
        from gitgate.store.webviews import export_sessions

        if self._auditor(req, resp) is None:
            return
        resp.content_type = "application/x-ndjson"
        resp.set_header("Content-Disposition", 'attachment; filename="gitgate-sessions.jsonl"')
        resp.stream = export_sessions(**self._filters(req))
