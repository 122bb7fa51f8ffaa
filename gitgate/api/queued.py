"""API calls held for a human that write no content (releases, forks, workflow runs, and any
class a rule sets to `queue`): stored as the call itself, performed by the gate on approval.

The queue row is the same as a held push's (reviewers, approvals, expiry, notifications); its
summary says `kind = api` and its payload is the call as JSON (method, path, query, the
headers GitHub needs, the body in base64), so `gitgate review approve` makes that call with
the gate's credential. There is no ref to compare-and-swap: the call is made as approved.
The reviewer sees the method, path and body (scanned for secrets before it is stored).
"""

from __future__ import annotations

import base64
import io
import json
from typing import TYPE_CHECKING, Any

from gitgate.audit import notify

if TYPE_CHECKING:
    from gitgate.api.service import ApiCall, ApiService
    from gitgate.upstream.http import Upstream

KEEP_HEADERS = ("accept", "content-type", "x-github-api-version")
MAX_SHOWN = 4000


def enqueue_call(
    svc: ApiService, call: ApiCall, rule: Any, kind: str, path: str, body: bytes
) -> int:
    from gitgate.api.refs import scan
    from gitgate.api.service import ApiError
    from gitgate.audit.webhooks import QueueEvent
    from gitgate.db import write_transaction
    from gitgate.store import queue

    if body and rule.secrets and scan(svc.writes, [("request body", body)]):
        raise ApiError(
            422,
            f"gitgate: refused by rule {rule.name}: the request body holds a secret; remove it "
            "and send the request again. Nothing was queued or written upstream.",
            "reject",
        )
    req = call.req
    stored = {
        "method": call.method,
        "path": path,
        "query": req.query_string,
        "headers": {k: v for k in KEEP_HEADERS if (v := req.get_header(k))},
        "body": base64.b64encode(body).decode(),
        "api_url": svc.up.base,
    }
    shown = body.decode("utf-8", "replace")
    summary = {
        "kind": "api",
        "api_call": f"{call.method} {path}",
        "reasons": [f"rule {rule.name}: {call.method} {path} is held for a human (api.{kind})"],
        "ref_updates": [],
        "protected_diffs": [{"path": f"{call.method} {path}", "diff": shown[:MAX_SHOWN]}]
        if shown
        else [],
        "pusher": call.caller.subject,
        "request_id": call.caller.request_id,
    }
    with write_transaction():
        push_id = queue.enqueue(
            repo=call.caller.repo,
            pusher_subject=call.caller.subject,
            pusher_groups=list(call.caller.groups),
            rule_name=rule.name,
            reviewer_groups=list(rule.reviewers),
            approvals_required=rule.approvals,
            expiry_s=rule.queue_expiry,
            summary=summary,
            payload=io.BytesIO(json.dumps(stored).encode()),
        )
        notify.announce(
            QueueEvent.about(
                "queued", push_id, call.caller.repo, call.caller.subject, summary, rule.name
            )
        )
    notify.wake()
    return push_id


def perform(push_id: int, upstream: Upstream) -> Any:
    """Make the stored call upstream (called by gitgate.outcomes.approval.relay_stored)."""
    from gitgate.api.upstream import ApiUpstream
    from gitgate.outcomes.approval import RelayOutcome
    from gitgate.store import queue
    from gitgate.upstream.http import UpstreamError

    with queue.open_payload(push_id) as f:
        stored = json.loads(f.read())
    api = ApiUpstream(stored["api_url"], upstream.credential, upstream.timeout)
    body = base64.b64decode(stored["body"])
    try:
        resp = api.api(
            stored["method"],
            stored["path"],
            query=stored["query"],
            headers=stored["headers"],
            body=body if body or stored["method"] in ("POST", "PUT", "PATCH") else None,
        )
        answer = resp.read()
    except UpstreamError as ex:
        return RelayOutcome("failed", f"upstream: {ex}", "")
    report = f"HTTP {resp.status}"
    try:
        message = json.loads(answer).get("message") if answer else None
    except (ValueError, AttributeError):
        message = None
    if message:
        report += f": {str(message)[:200]}"
    if 200 <= resp.status < 300:
        return RelayOutcome("relayed", f"upstream performed the call ({report})", report)
    return RelayOutcome("failed", f"upstream refused the call ({report})", report)
