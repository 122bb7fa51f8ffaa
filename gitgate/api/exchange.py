"""Relaying an API call upstream and answering the agent: rewriting, outcomes, the record.

Upstream's status and the headers clients use pass through; JSON answers are read (bounded by
`upstream.api_max_json_bytes`) to rewrite their URLs to the gate, anything else streams.
Refusals are JSON with a `message`; every call ends in exactly one session record.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from typing import Any

import falcon

from gitgate.api.call import ApiCall, ApiError
from gitgate.api.upstream import FORWARD_REQUEST, PASS_RESPONSE, ApiUpstream, Rewriter
from gitgate.runtime import Runtime
from gitgate.upstream.http import UpstreamResponse

DOCS = "https://github.com/gitgate/gitgate#the-github-api-through-the-gate"


class Exchange:
    """The request/response half of ApiService (gitgate.api.service)."""

    rt: Runtime
    up: ApiUpstream
    max_json: int

    def read_body(self, call: ApiCall) -> bytes:
        req = call.req
        chunked = "chunked" in (req.get_header("Transfer-Encoding") or "").lower()
        if req.content_length is None and not chunked:
            return b""  # no body (reading to EOF would wait for the client to hang up)
        # gunicorn de-chunks and leaves no length: read the raw stream to EOF (PROTOCOL.md)
        stream = req.bounded_stream if req.content_length is not None else req.stream
        data = stream.read(self.max_json + 1)
        if len(data) > self.max_json:
            raise ApiError(
                413,
                f"gitgate: request body over {self.max_json} bytes (upstream.api_max_json_bytes);"
                " push large content with git instead",
                "error",
            )
        call.fields["bytes_in"] = len(data)
        return bytes(data)

    def relay(
        self,
        call: ApiCall,
        resp: falcon.Response,
        path: str,
        body: bytes | None,
        decision: str = "allow",
        observe: Any = None,
    ) -> None:
        """Send the call upstream as the agent made it (with the gate's credential) and
        return upstream's answer, URLs rewritten to the gate. `observe(status, json)` sees a
        JSON answer before it is rewritten."""
        req = call.req
        headers = {k: v for k in FORWARD_REQUEST if (v := req.get_header(k))}
        headers.pop("accept-encoding", None)
        if body is None and req.method in ("POST", "PUT", "PATCH", "DELETE"):
            body = self.read_body(call)
        up = self.up.api(
            req.method,
            "/graphql" if path == "/graphql" else urllib.parse.quote(path, safe="/@:+,=!$&'()*;~"),
            query=req.query_string,
            headers=headers,
            body=body or (b"" if req.method in ("POST", "PUT", "PATCH") else None),
        )
        self.answer(call, resp, up, decision, observe)

    def rewriter(self, call: ApiCall) -> Rewriter:
        return Rewriter(self.up.base, call.req.forwarded_prefix + "/api/v3")

    def answer(
        self,
        call: ApiCall,
        resp: falcon.Response,
        up: UpstreamResponse,
        decision: str,
        observe: Any = None,
    ) -> None:
        rw = self.rewriter(call)
        resp.status = up.status
        for key, value in up.headers.items():
            if key in PASS_RESPONSE or key.startswith("x-ratelimit-"):
                resp.set_header(key, rw.header(value) if key in ("link", "location") else value)
        ctype = up.headers.get("content-type", "")
        call.audit.note(decision=decision, upstream_status=up.status)
        if "json" in ctype and "content-encoding" not in up.headers:
            data = up.read_some(self.max_json + 1)
            up.close()
            if len(data) > self.max_json:
                raise ApiError(
                    502,
                    f"gitgate: upstream's answer is over {self.max_json} bytes, too large to "
                    "rewrite (upstream.api_max_json_bytes); ask for smaller pages (per_page)",
                    "error",
                )
            out = data
            if data.strip():
                try:
                    parsed = json.loads(data)
                except ValueError:
                    parsed = None
                if parsed is not None:
                    if observe is not None:
                        observe(up.status, parsed)
                    out = json.dumps(rw.body(parsed)).encode()
            resp.data = out
            self.finish(call, len(out))
            return
        resp.stream = self._streamed(call, up)

    def _streamed(self, call: ApiCall, up: UpstreamResponse) -> Iterator[bytes]:
        self.finish(call, None)
        return call.audit.streamed(up.iter_body())  # bytes out and duration when it ends

    # -- outcomes ---------------------------------------------------------------------------
    def held(self, call: ApiCall, resp: falcon.Response, queue_id: int, why: str) -> None:
        """202 Accepted: queued as #id; the gate makes the call when a reviewer approves."""
        hint = self.rt.receive.review_hint.format(id=queue_id)
        payload = {
            "message": f"gitgate: held for human approval as #{queue_id}: {why}. No need to send "
            f"it again: the gate makes the call when a reviewer approves it ({hint}).",
            "queue_id": queue_id,
        }
        data = json.dumps(payload).encode()
        resp.status = 202
        resp.content_type = falcon.MEDIA_JSON
        resp.data = data
        call.audit.note(decision="queue", queue_ids={"api": queue_id})
        self.finish(call, len(data), status=202)

    def refuse(self, call: ApiCall, resp: falcon.Response, ex: ApiError) -> None:
        extra = dict(ex.extra)
        if "statuses" in extra:
            call.fields["statuses"] = extra.pop("statuses")
        call.fields["error"] = extra.pop("error", None) or ex.message[:500]
        payload = {"message": ex.message, "documentation_url": DOCS, **extra}
        data = json.dumps(payload).encode()
        resp.status = ex.status
        resp.content_type = falcon.MEDIA_JSON
        resp.data = data
        call.fields["decision"] = ex.decision
        self.finish(call, len(data), status=ex.status)

    def finish(self, call: ApiCall, sent: int | None, status: int | None = None) -> None:
        """Note the answer on the call's audit event, which is written once the response is
        (gitgate.audit.recording); `sent` None: a streamed answer, counted as it streams."""
        f = call.fields
        answered = {"route": call.label, "status": str(status or f.get("upstream_status"))}
        call.audit.note(statuses=[answered, *f.get("statuses", ())])
        if sent is not None:
            call.audit.note(bytes_out=sent, duration_ms=call.audit.elapsed_ms())
