"""Everything a running gate holds, built once per worker process from the config.

Collaborators can be passed in (tests use loopback servers and fresh databases); anything not
passed is built from the config. Heavy parts (the scanner's worker processes) start lazily.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitgate.audit import Recorder, RequestEvent, queued_push, row
from gitgate.checks import DEFAULT_CHECKS, Check
from gitgate.config import Config
from gitgate.mirror import Mirrors
from gitgate.receive import Caller, ReceivePack
from gitgate.upstream import Upstream

log = logging.getLogger("gitgate.runtime")


@dataclass
class Runtime:
    config: Config
    upstream: Upstream
    mirrors: Mirrors
    receive: ReceivePack
    authenticator: Any = None  # gitgate.auth.Authenticator, None when auth.required = false
    recorder: Recorder | None = None
    database: Any = None
    extras: dict[str, Any] = field(default_factory=dict)

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
        record's id if known. Called by gitgate.recording.Audit, the one writer."""
        try:
            from gitgate.metrics import observe_session

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
        holder = getattr(self.receive, "holder", None)
        if holder is not None:
            holder.stopping.set()  # held pushes end now, "still queued"
        maintenance = self.extras.pop("maintenance", None)
        if maintenance is not None:
            maintenance.stop()
        self.mirrors.close()

    def readiness_problems(self) -> list[str]:
        problems = []
        data = self.config.data_path
        if not os.access(data, os.W_OK):
            problems.append(f"data dir {data} is not writable")
        if self.database is not None:
            try:
                self.database.execute_sql("SELECT 1")
            except Exception as ex:
                problems.append(f"database unreachable ({type(ex).__name__})")
        return problems


def build_authenticator(config: Config) -> Any:
    if not config.auth.required:
        return None
    from gitgate.auth.factory import authenticator_from_config

    return authenticator_from_config(config)


def build_credential(config: Config) -> Any:
    from gitgate.upstream_cred import credential_from_config

    app = config.upstream.app
    return credential_from_config(
        config.upstream.token or None,
        (
            {
                "app_id": app.app_id,
                "private_key": app.private_key,
                "installation_id": app.installation_id,
            }
            if app
            else None
        ),
        config.upstream.api_url,
    )


def open_state(config: Config, database: Any = None) -> Any:
    """Open, migrate and bind the database (safe when several processes start at once)."""
    from gitgate import db
    from gitgate.db.migrations import upgrade

    if database is None:
        database = db.open_database(config.database.url)
        database.gitgate_url = config.database.url  # type: ignore[attr-defined]
    upgrade(database)
    db.bind(database)
    return database


def session_recorder(event: RequestEvent) -> int:
    """Write one request's session record (gitgate.store.sessions), and its log line; an
    event with a ``record_id`` completes the record written when that request started."""
    from datetime import timedelta

    from gitgate.db.fields import utcnow
    from gitgate.logs import request_line
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


def build_runtime(
    config: Config,
    *,
    credential: Any = None,
    scanner: Any = None,
    authenticator: Any = "config",
    checks: Sequence[Check] | None = None,
    recorder: Recorder | None = session_recorder,
    database: Any = None,
) -> Runtime:
    data = Path(config.storage.data_dir)
    data.mkdir(parents=True, exist_ok=True)
    from gitgate.web.links import configure

    configure(config.server.public_url, config.review.enabled)
    database = open_state(config, database)
    if credential is None:
        credential = build_credential(config)
    upstream = Upstream(config.upstream.git_url, credential, timeout=config.upstream.timeout)
    mirrors = Mirrors(data, upstream, config.storage.mirror_max_packs)
    if scanner is None:
        from gitgate.scanning import SecretScanner

        # The hash allowlist is applied by the secrets check (per config), not here, so one
        # scanner's cache stays valid whatever the allowlist says.
        scanner = SecretScanner(
            workers=config.scan.workers, max_blob_bytes=config.scan.max_blob_bytes
        )
    if authenticator == "config":
        authenticator = build_authenticator(config)
    from gitgate.hold import Holder
    from gitgate.queueing import QueueService

    queue = QueueService(config, mirrors, scanner)
    receive = ReceivePack(
        config,
        upstream,
        mirrors,
        checks or DEFAULT_CHECKS,
        scanner,
        queue=queue,
        review_hint="gitgate review show {id} / review approve {id}",
        holder=Holder(config.queue, config.server.threads),
    )
    from gitgate.maintenance import Maintenance

    runtime = Runtime(config, upstream, mirrors, receive, authenticator, recorder, database)
    runtime.extras["maintenance"] = Maintenance(config, upstream).start()
    return runtime
