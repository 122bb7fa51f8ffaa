"""The one line a Slack-compatible receiver shows for a webhook event, and JSON-safe payloads.

Split from gitgate.audit.notify (which delivers events): this part only renders. Every value
is cleaned (control characters out, length capped) because payloads carry agent-chosen text
(ref names, reasons) into someone's chat window.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from gitgate.db.fields import iso

_FIELD_MAX = 200  # characters of one payload value in the Slack line
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def slack_text(event: str, payload: dict[str, Any]) -> str:
    """One line for people (Slack's ``text``), e.g. ``gitgate: push #42 to acme/app
    (refs/heads/main) by agent-7 queued for approval: ... Review: gitgate review show 42``."""
    p = {key: _clean(value) for key, value in payload.items()}
    push_id = p.get("id")
    who = f"push #{push_id}" if push_id else "push"
    if p.get("repo"):
        who += f" to {p['repo']}"
    refs = [_clean(r) for r in payload.get("refs") or []]
    if refs:
        more = f" +{len(refs) - 3} more" if len(refs) > 3 else ""
        who += f" ({', '.join(refs[:3])}{more})"
    if p.get("pusher"):
        who += f" by {p['pusher']}"
    review = p.get("review") or (f"gitgate review show {push_id}" if push_id else "")
    rule = f" (rule {p['rule']})" if p.get("rule") else ""
    detail = f": {p['detail']}" if p.get("detail") else ""
    by = f" by {p['reviewer']}" if p.get("reviewer") else ""
    if event == "queued":
        reason = f": {p['reason']}" if p.get("reason") else ""
        tail = f" queued for approval{reason}{rule}." + (f" Review: {review}" if review else "")
    elif event == "approved":
        count = (
            f" ({p['approvals']} of {p['required']} approvals)"
            if p.get("approvals") and p.get("required")
            else ""
        )
        tail = f" approved{by}{count}"
    elif event == "rejected":
        tail = f" rejected{by}{detail}"
    elif event == "relayed":
        tail = " relayed upstream"
    elif event == "stale":
        tail = f" not relayed, upstream moved on (stale){detail}"
    elif event == "expired":
        tail = f" expired without a decision{rule}"
    elif event == "failed":
        tail = f" failed to relay{detail}." + (f" See: {review}" if review else "")
    elif event == "superseded":
        tail = f" superseded by #{p.get('superseded_by')}, which contains its commits"
    elif event == "hold":
        tail = f": the agent is waiting for the review (up to {int(p.get('wait_s') or 0)}s)." + (
            f" Review: {review}" if review else ""
        )
    elif event == "break_glass":
        bypassed = ", ".join(_clean(r) for r in payload.get("overridden") or []) or "the gate"
        reason = f" Reason given: {p['reason']}" if p.get("reason") else ""
        return f"gitgate: BREAK GLASS: {who} bypassed {bypassed}.{reason}"
    else:
        tail = f": {event}"
    return f"gitgate: {who}{tail}"


def _clean(value: Any) -> Any:
    """A payload value made safe for one Slack line: no control characters (newlines, terminal
    escapes), at most 200 characters, and ``& < >`` escaped so that text chosen by an agent (a
    break-glass reason) cannot become a Slack link or an ``<!channel>`` mention."""
    if not isinstance(value, str):
        return value
    text = _CONTROL.sub(" ", value).strip()
    if len(text) > _FIELD_MAX:
        text = text[: _FIELD_MAX - 1] + "…"
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def jsonable(value: Any) -> Any:
    """Datetimes as ISO 8601 UTC, tuples as lists: what the outbox's JSON column can hold."""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(item) for item in value]
    return value
