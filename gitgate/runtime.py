"""A running gate: its config, its collaborators (gitgate.services) and the push pipeline.

`create_app(config, services)` builds one with `build_runtime`; the request handlers reach
everything through it. It holds no process-wide state: two runtimes in one process each use
their own database, links and stop event (see gitgate.services).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import peewee

from gitgate.audit import Recorder, RequestEvent, queued_push, row
from gitgate.config import Config
from gitgate.exchange import Caller
from gitgate.git.mirror import Mirrors
from gitgate.git.receive import ReceivePack
from gitgate.services import Authenticator, Services
from gitgate.upstream.http import Upstream

log = logging.getLogger("gitgate.runtime")

__all__ = ["Recorder", "Runtime", "build_runtime", "session_recorder"]


@dataclass
class Runtime:
    config: Config
    services: Services
    receive: ReceivePack

    @property
    def upstream(self) -> Upstream:
        return self.services.upstream

    @property
    def mirrors(self) -> Mirrors:
        return self.services.mirrors

    @property
    def authenticator(self) -> Authenticator | None:
        return self.services.authenticator

    @property
    def recorder(self) -> Recorder | None:
        return self.services.recorder

    @property
    def database(self) -> peewee.Database:
        return self.services.database

    def identify(self, authorization: str | None, caller: Caller) -> Caller:
        """Fill `caller` from the request's credentials; raises gitgate.auth.AuthError."""
        if self.authenticator is None:
            return caller
        ident = self.authenticator.authenticate(authorization)
        caller.identity = ident
        caller.subject = ident.subject
        caller.groups = tuple(ident.groups)
        caller.issuer = ident.issuer
        return caller

    def record(self, event: RequestEvent) -> int | None:
        """Count `event` in the metrics and write its session record (or complete the one
        named by its `record_id`); never fails the request (the error is logged). Returns the
        record's id if known. Called by gitgate.audit.recording.Audit, the one writer."""
        try:
            from gitgate.audit.metrics import observe_session

            observe_session(event)
        except Exception:
            log.exception("could not count the request in the metrics")
        if self.recorder is None:
            return None
        try:
            result = self.recorder(event)
        except Exception:
            log.exception("could not write the session record")
            return None
        return result if isinstance(result, int) else None

    def close(self) -> None:
        """Stop background work (tests start and stop many gates in one process)."""
        self.services.close()

    def readiness_problems(self) -> list[str]:
        problems = []
        data = self.config.data_path
        if not os.access(data, os.W_OK):
            problems.append(f"data dir {data} is not writable")
        try:
            self.database.execute_sql("SELECT 1")
        except Exception as ex:
            problems.append(f"database unreachable ({type(ex).__name__})")
        return problems


def session_recorder(event: RequestEvent) -> int:
    """Write one request's session record (gitgate.store.sessions), and its log line; an
    event with a ``record_id`` completes the record written when that request started."""
    from datetime import timedelta

    from gitgate.audit.logs import request_line
    from gitgate.db.fields import utcnow
    from gitgate.store import sessions

    if event.decision != "started":  # one log line per request: when it ends
        request_line(event)
    fields = row(event)
    fields["started_at"] = utcnow() - timedelta(milliseconds=event.duration_ms or 0)
    if (queued := queued_push(event)) is not None:
        fields["queued_push"] = queued
    if event.record_id:
        return sessions.complete(event.record_id, **fields)
    return sessions.record(**fields)


def build_runtime(config: Config, services: Services) -> Runtime:
    """The push pipeline on top of `services`."""
    receive = ReceivePack(
        config,
        services.upstream,
        services.mirrors,
        services.checks,
        services.scanner,
        queue=services.queue,
        review_hint="gitgate review show {id} / review approve {id}",
        holder=services.holder,
        stopping=services.stopping,
    )
    return Runtime(config, services, receive)
