"""`GET /api/queue/{id}` and `GET /api/queue?repo=owner/name`: an agent asks about its own
queued pushes, in JSON.

For agent frameworks that would rather poll than parse `remote:` lines. The agent
authenticates as for git (Bearer or Basic token); it sees only entries it pushed itself
(anyone else's id answers 404, so ids reveal nothing). Errors are JSON `{"message": ...}` that
say what to do next. Each answer carries `next`: the same words the agent would read in git.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import falcon

from gitgate.exchange import Caller

if TYPE_CHECKING:
    from gitgate.git.access import GitService

LIST_LIMIT = 50


def entry_json(info: Any) -> dict[str, Any]:
    """The agent's view of a queue entry: no reviewer groups, no findings beyond the summary."""
    from gitgate.outcomes.story import outcome_lines

    data = info.to_dict()
    refs = [
        {"ref": r["ref"], "old": r["old"], "new": r["new"]}
        for r in info.summary.get("ref_updates", [])
    ]
    if info.state in ("pending", "relaying"):
        done = ""
        what = "approved, being relayed" if info.state == "relaying" else "waiting for review"
        next_lines = [
            f"#{info.id} is {what} ({len(info.approvers)} of {info.approvals_required} "
            "approvals); no need to push again"
        ]
    else:
        next_lines, done = outcome_lines(info)
    return {
        "id": info.id,
        "repo": info.repo,
        "state": info.state,
        "state_reason": info.state_reason,
        "created_at": data["created_at"],
        "expires_at": data["expires_at"],
        "decided_at": data["decided_at"],
        "relayed_at": data["relayed_at"],
        "refs": refs,
        "approvals": len(info.approvers),
        "approvals_required": info.approvals_required,
        "reviews": [
            {
                "reviewer": d["reviewer"],
                "verdict": d["verdict"],
                "comment": d["comment"],
                "decided_at": d["decided_at"],
            }
            for d in data["decisions"]
        ],
        "upstream": {r["ref"]: r["new"] for r in refs} if info.state == "relayed" else None,
        "superseded_by": info.superseded_by,
        "reasons": info.summary.get("reasons", []),
        "outcome": done,
        "next": next_lines,
    }


class QueueApi:
    """The resource; `svc` is the gitgate.git.access.GitService (identity)."""

    def __init__(self, svc: GitService) -> None:
        self.svc = svc

    def _caller(self, req: falcon.Request) -> Caller:
        """The agent asking; an AuthError is a JSON 401 (gitgate.errors), not recorded: the
        audit names the caller only once it is known."""
        req.context.channel = "json"
        caller = Caller(
            repo="", source_addr=req.remote_addr or "", request_id=req.context.request_id
        )
        return self.svc.rt.identify(req.get_header("Authorization"), caller)

    def on_get_one(self, req: falcon.Request, resp: falcon.Response, push_id: str) -> None:
        from gitgate.store import queue

        caller = self._caller(req)
        info = queue.get(int(push_id)) if push_id.isdigit() and len(push_id) < 12 else None
        if info is None or info.pusher_subject != caller.subject:
            _answer(
                resp,
                falcon.HTTP_404,
                {
                    "message": f"gitgate: you have no queued push #{push_id}. "
                    "GET /api/queue?repo=owner/name lists yours"
                },
            )
            return
        caller.repo = info.repo
        req.context.audit.about(caller, "rest")
        req.context.audit.note(decision="allow")
        _answer(resp, falcon.HTTP_200, entry_json(info))

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        from gitgate.store import changes

        caller = self._caller(req)
        repo = req.get_param("repo") or ""
        if not repo:
            _answer(
                resp,
                falcon.HTTP_400,
                {"message": "gitgate: say which repo: GET /api/queue?repo=owner/name"},
            )
            return
        infos = changes.entries_of(repo, caller.subject, LIST_LIMIT)
        caller.repo = repo
        req.context.audit.about(caller, "rest")
        req.context.audit.note(decision="allow")
        _answer(resp, falcon.HTTP_200, {"entries": [entry_json(i) for i in infos]})


def _answer(resp: falcon.Response, status: str, body: dict[str, Any]) -> None:
    resp.status = status
    resp.content_type = falcon.MEDIA_JSON
    resp.text = json.dumps(body, sort_keys=True)
