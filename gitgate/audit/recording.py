"""Where a request's audit event is written: once, by the request's `Audit`.

`AuditMiddleware` puts an `Audit` on every request (`req.context.audit`). A resource names
who and what it serves (`audit.about(caller, service)`) and notes what it learns
(`audit.note(decision=..., ...)`), or raises a domain error that gitgate.errors maps to HTTP
and notes. The middleware then writes the event when the response is ready, unless the
response is streamed: then the end of the stream writes it (`audit.streamed`), or, for a push,
the end of the push (`audit.start` writes a "started" row first, so a gate that dies
mid-push still leaves who pushed what behind; `audit.write` completes it).

A request that never named its caller, or never reached a decision (a crash inside the gate,
a route without audit), writes nothing: the records stay one per decided request.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import SupportsInt, Unpack

import falcon

from gitgate.audit import EventFields, Identified, Recorder, RequestEvent, Who


class Audit:
    """One request's event as it is learnt, and the one place it is written."""

    def __init__(self, record: Recorder) -> None:
        self._record = record
        self.started = time.monotonic()
        self.caller: Identified | None = None
        self.service = ""
        self.fields: EventFields = {}
        self.record_id: int | None = None
        self.deferred = False  # the end of the stream or of the push writes the event
        self.written = False

    def about(self, caller: Identified, service: str) -> None:
        """Name the request's caller (read when the event is written: authentication fills
        it in later) and the service it is recorded under."""
        self.caller, self.service = caller, service

    def note(self, **fields: Unpack[EventFields]) -> None:
        self.fields.update(fields)

    def elapsed_ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000)

    def event(self) -> RequestEvent | None:
        """The event as learnt so far; None before the caller is named."""
        c = self.caller
        if c is None:
            return None
        return RequestEvent(Who.of(c), c.repo or None, self.service, c.request_id).but(self.fields)

    def start(self) -> None:
        """Write a "started" row now (a push, before its inspection); `write` completes it."""
        event = self.event()
        if event is not None:
            self.deferred = True
            self.record_id = self._record(event.but({"decision": "started"}))

    def write(self) -> int | None:
        """Write the event (or complete the started row); once, and only once decided."""
        event = self.event()
        if self.written or event is None or not event.decision:
            return None
        self.written = True
        if self.record_id is not None:
            event = event.but({"record_id": self.record_id})
        return self._record(event)

    def streamed(
        self, body: Iterator[bytes], *, bytes_in: SupportsInt | None = None
    ) -> Iterator[bytes]:
        """`body`, with the event written when it ends (sent in full or cut short): bytes
        out, the duration and `bytes_in` (a counter read as the request is streamed too)."""
        self.deferred = True
        sent = 0
        try:
            for chunk in body:
                sent += len(chunk)
                yield chunk
        finally:
            self.note(bytes_out=sent, duration_ms=self.elapsed_ms())
            if bytes_in is not None:
                self.note(bytes_in=int(bytes_in))
            self.write()


class AuditMiddleware:
    """An Audit per request; writes its event when the response is ready (not streamed)."""

    def __init__(self, record: Recorder) -> None:
        self.record = record

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.audit = Audit(self.record)

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        audit = req.context.get("audit")
        if isinstance(audit, Audit) and not audit.deferred:
            audit.write()
