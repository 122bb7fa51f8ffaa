"""Issue, pull-request and comment text is public the moment it is written: scan it first."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gitgate.api.service import ApiCall, ApiService

TEXT_FIELDS = ("title", "body")


def scan_text(svc: ApiService, call: ApiCall, rule: Any, body: bytes) -> None:
    from gitgate.api.refs import scan
    from gitgate.api.writes import _error

    if not rule.secrets or not body.strip():
        return
    try:
        data = json.loads(body)
    except ValueError:
        raise _error(400, "gitgate: the request body is not JSON") from None
    texts = [
        (key, data[key].encode())
        for key in TEXT_FIELDS
        if isinstance(data, dict) and isinstance(data.get(key), str)
    ]
    found = scan(svc.writes, texts) if texts else []
    if found:
        call.fields["findings"] = [
            {"check": "secrets", "ref": "", "path": p, "line": ln, "type": t, "hash": h}
            for p, ln, t, h in found
        ]
        shown = "\n".join(f"  - {t} in {p} line {ln} (secret hash {h})" for p, ln, t, h in found)
        raise _error(
            422,
            f"gitgate: refused by rule {rule.name}: the text holds a secret.\n{shown}\n"
            "Remove it and send the request again; nothing was written upstream.",
            "reject",
        )
