"""The `mask` action for API content writes (Contents API PUT, GraphQL createCommitOnBranch).

Why re-encode rather than write: an allowed API write is the agent's own call, relayed, and
GitHub builds the commit and answers in the shape the agent's client expects (PyGithub parses
it). A masked write stays that call, with each secret replaced in the request body: in base64
content (Contents `content`, GraphQL `fileChanges.additions[].contents`, as a variable or a
literal in the query) and in plain strings (the commit message). The values and markers are
those of a masked push (gitgate.mask.apply.secrets_for / gitgate.mask.values), located from
the findings in the gate's own commit of the write. The new body is checked before it leaves:
a secret still there, plain or in any base64 run, refuses the write (fails closed).
The answer is upstream's, with a `gitgate` key saying what was masked and to rotate it.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from typing import TYPE_CHECKING, Any

import falcon

from gitgate.exchange import Exchange
from gitgate.mask.apply import secrets_for, to_mask
from gitgate.mask.values import Secret, apply, marker
from gitgate.policy import Action

if TYPE_CHECKING:
    from gitgate.api.service import ApiCall
    from gitgate.api.writes import Writes

log = logging.getLogger("gitgate.api.masked")
B64_RUN = re.compile(rb"[A-Za-z0-9+/]{8,}={0,2}")
B64_WRAPPED = re.compile(rb"[A-Za-z0-9+/=\s]+")  # a whole string of base64, maybe wrapped


class CannotMask(Exception):
    """The request body still carries a secret after re-encoding."""


def _b64_runs(text: bytes) -> list[tuple[int, int, bytes]]:
    """(start, end, decoded) for every run of `text` that is valid base64."""
    out = []
    for m in B64_RUN.finditer(text):
        run = m.group()
        if len(run) % 4:
            continue
        try:
            out.append((m.start(), m.end(), base64.b64decode(run, validate=True)))
        except (binascii.Error, ValueError):
            continue
    return out


def _lenient(text: bytes) -> bytes | None:
    """`text` decoded as the gate decodes Contents (gitgate.api.objects.decode_content:
    characters outside base64 ignored, so wrapped base64 counts whole)."""
    try:
        return base64.b64decode(text, validate=False)
    except (binascii.Error, ValueError):
        return None


def _mask_string(text: str, secrets: list[Secret]) -> str:
    """`text` with secrets masked, plain or inside base64 (the whole string, or runs of it
    such as a literal in a GraphQL query), re-encoded."""
    raw = apply(text.encode("utf-8"), secrets)
    whole = _lenient(raw) if B64_WRAPPED.fullmatch(raw) else None
    if whole is not None and (masked := apply(whole, secrets)) != whole:
        return base64.b64encode(masked).decode()
    pieces, last = [], 0
    for start, end, decoded in _b64_runs(raw):
        masked = apply(decoded, secrets)
        if masked != decoded:
            pieces += [raw[last:start], base64.b64encode(masked)]
            last = end
    pieces.append(raw[last:])
    return b"".join(pieces).decode("utf-8")


def _walk(data: Any, secrets: list[Secret]) -> Any:
    if isinstance(data, str):
        return _mask_string(data, secrets)
    if isinstance(data, list):
        return [_walk(v, secrets) for v in data]
    if isinstance(data, dict):
        return {k: _walk(v, secrets) for k, v in data.items()}
    return data


def _still_there(data: Any, secrets: list[Secret]) -> bool:
    """Whether any string of the parsed body holds a secret, plain or base64-encoded."""
    if isinstance(data, list):
        return any(_still_there(v, secrets) for v in data)
    if isinstance(data, dict):
        return any(_still_there(v, secrets) for v in data.values())
    if not isinstance(data, str):
        return False
    raw = data.encode("utf-8")
    joined = re.sub(rb"\s+", b"", raw)  # base64 wrapped over lines, in a literal
    blobs = [raw, _lenient(raw) or b"", *(d for t in (raw, joined) for _, _, d in _b64_runs(t))]
    return any(s.value in blob for blob in blobs for s in secrets)


def reencode(body: bytes, secrets: list[Secret]) -> bytes:
    """The request body with every secret masked; CannotMask if one is still found."""
    masked = _walk(json.loads(body), secrets)
    if not secrets or _still_there(masked, secrets):
        raise CannotMask
    return json.dumps(masked).encode()


def relay_masked(
    writes: Writes,
    call: ApiCall,
    resp: falcon.Response,
    path: str,
    body: bytes,
    ex: Exchange,
) -> None:
    """Relay the write of `ex` (one ref) with its secrets masked, or refuse it (409) when
    that cannot be done safely."""
    d, push = ex.refs[0], ex.push
    assert push is not None
    findings = to_mask(d)
    try:
        new_body = reencode(body, secrets_for(push, push.updates[0], findings))
    except (ValueError, CannotMask) as err:
        log.error("masking API write %s failed: %s", call.caller.request_id, type(err).__name__)
        ex.refuse(d.ref, "the gate could not mask the secret(s) found")
        writes.refuse(call, ex.refs[0])
        return
    masked = [
        {
            "path": f.path,
            "line": f.line,
            "location": f.location,
            "type": f.type,
            "hash": f.hash,
            "marker": marker(f.type or "", f.hash or "").decode(),
        }
        for f in findings
    ]
    where = ", ".join(f"{m['type']} at {m['location'] or m['path']}" for m in masked)
    info = {
        "masked": masked,
        "message": f"gitgate: {len(masked)} secret(s) masked before relaying ({where}); "
        "upstream has the marker, never the value. The secret has left your machine: rotate "
        "it. Read the file back from upstream before editing it again.",
    }
    call.fields["events"] = [
        {"event": "masked", "ref": d.ref, "secrets": [f.record() for f in findings]}
    ]

    def observe(status: int, parsed: Any) -> None:
        if isinstance(parsed, dict):
            parsed["gitgate"] = info

    writes.svc.relay(call, resp, path, new_body, decision=Action.MASK, observe=observe)
