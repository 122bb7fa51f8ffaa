"""The collaborators a gate is built from: typed, built from the config, passed in.

`create_app(config, services)` takes a `Services`; `Services.from_config(config, ...)` builds
every part the caller did not pass (tests pass a shared scanner, crashing checks, a counting
scanner). The interfaces the gate depends on and that have more than one implementation, in
the gate or in its tests, are Protocols here; the rest are gitgate's own classes.

One process may hold several gates (the tests do), so nothing a gate needs lives in a module
global: the database and the review links' base are activated per `contextvars` context
(`activate()`: the app does it for each request; `run()` for anything else), the background
threads run in a copy of that context, and the stop event is the gate's own. The exception
is the Prometheus registry: metrics are per process by design (gunicorn's multiprocess mode
adds up the workers), so two gates in one process count into the same metrics.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, TypeVar

import peewee

from gitgate import db
from gitgate.audit import Recorder
from gitgate.checks import DEFAULT_CHECKS, Check
from gitgate.config import Config
from gitgate.git.mirror import Mirrors
from gitgate.outcomes.hold import Holder
from gitgate.outcomes.queueing import QueueService
from gitgate.upstream.credential import UpstreamCredential
from gitgate.upstream.http import Upstream
from gitgate.web import links

if TYPE_CHECKING:
    from gitgate.auth import Identity
    from gitgate.ops.maintenance import Maintenance
    from gitgate.scanning import SecretHit

log = logging.getLogger("gitgate.services")
_T = TypeVar("_T")

# A session record's event; gitgate.runtime.session_recorder writes it to the database.


class Authenticator(Protocol):
    """Who is calling: an `Authorization` header to a verified identity (gitgate.auth)."""

    def authenticate(self, authorization_header: str | None) -> Identity:
        """Raises gitgate.auth.AuthError with a message safe to show the client."""
        ...


class Scanner(Protocol):
    """The secret scanner (gitgate.scanning.SecretScanner: worker processes, a cache)."""

    def scan(
        self, blobs: Sequence[tuple[bytes, str, bytes]], *, budget_s: float
    ) -> dict[bytes, list[SecretHit]]: ...

    def prestart(self) -> threading.Thread:
        """Start its processes in the background (a gunicorn worker, as it boots); the
        thread doing it (joined at exit, before multiprocessing's fork server is stopped)."""
        ...

    def abort(self) -> None:
        """Stop now (SIGTERM): a scan in progress raises ScanAborted."""
        ...

    def close(self) -> None: ...


@dataclass
class Services:
    """Everything one gate holds besides its config; `close()` stops what it started."""

    upstream: Upstream
    mirrors: Mirrors
    scanner: Scanner
    database: peewee.Database
    queue: QueueService
    holder: Holder
    checks: Sequence[Check] = field(default_factory=lambda: list(DEFAULT_CHECKS))
    authenticator: Authenticator | None = None  # None when auth.required = false
    recorder: Recorder | None = None
    review_base: str | None = None  # links to review pages (gitgate.web.links)
    maintenance: Maintenance | None = None
    # Set on SIGTERM in a gunicorn worker (gitgate.ops.shutdown): pushes still being checked are
    # refused. This gate's own, so closing one gate in a process does not stop another.
    stopping: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def from_config(
        cls,
        config: Config,
        *,
        credential: UpstreamCredential | None = None,
        scanner: Scanner | None = None,
        authenticator: Authenticator | Literal["config"] | None = "config",
        checks: Sequence[Check] | None = None,
        recorder: Recorder | Literal["sessions"] | None = "sessions",
        database: peewee.Database | None = None,
        maintenance: bool = True,
    ) -> Services:
        """Build (and start) the parts not passed in. The database is opened and migrated
        here; background upkeep starts unless `maintenance=False`."""
        data = Path(config.storage.data_dir)
        data.mkdir(parents=True, exist_ok=True)
        database = open_state(config, database)
        upstream = Upstream(
            config.upstream.git_url,
            credential if credential is not None else build_credential(config),
            timeout=config.upstream.timeout,
        )
        mirrors = Mirrors(data, upstream, config.storage.mirror_max_packs)
        if scanner is None:
            from gitgate.scanning import SecretScanner

            # The hash allowlist is applied by the secrets check (per config), not here, so
            # one scanner's cache stays valid whatever the allowlist says.
            scanner = SecretScanner(
                workers=config.scan.workers, max_blob_bytes=config.scan.max_blob_bytes
            )
        if recorder == "sessions":
            from gitgate.runtime import session_recorder

            recorder = session_recorder
        services = cls(
            upstream=upstream,
            mirrors=mirrors,
            scanner=scanner,
            database=database,
            queue=QueueService(config, mirrors, scanner),
            holder=Holder(config.queue, config.server.threads),
            checks=checks or DEFAULT_CHECKS,
            authenticator=(
                build_authenticator(config) if authenticator == "config" else authenticator
            ),
            recorder=recorder,
            review_base=links.base_url(config.server.public_url, config.review.enabled),
        )
        if maintenance:
            from gitgate.ops.maintenance import Maintenance

            services.maintenance = Maintenance(config, upstream)
            services.run(services.maintenance.start)  # its thread inherits this context
        return services

    def activate(self) -> None:
        """Make this gate's database and links those of the current context (a request's:
        the app calls it first thing, and the threads a request starts inherit it)."""
        db.activate(self.database)
        links.activate(self.review_base)

    def run(self, fn: Callable[..., _T], *args: object) -> _T:
        """Call `fn(*args)` as this gate, in a fresh copy of the caller's context."""

        def active() -> _T:
            self.activate()
            return fn(*args)

        return contextvars.copy_context().run(active)

    def close(self) -> None:
        """Stop background work (tests start and stop many gates in one process)."""
        self.holder.stopping.set()  # held pushes end now, "still queued"
        if self.maintenance is not None:
            self.maintenance.stop()
            self.maintenance = None
        self.mirrors.close()


def build_authenticator(config: Config) -> Authenticator | None:
    if not config.auth.required:
        return None
    from gitgate.auth.factory import authenticator_from_config

    return authenticator_from_config(config)


def build_credential(config: Config) -> UpstreamCredential | None:
    from gitgate.upstream.credential import credential_from_config

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


def open_state(config: Config, database: peewee.Database | None = None) -> peewee.Database:
    """Open and migrate the database (safe when several processes start at once). It is not
    bound to the process: the gate activates it per context (see gitgate.db)."""
    from gitgate.db.migrations import upgrade

    if database is None:
        database = db.open_database(config.database.url)
        database.gitgate_url = config.database.url  # type: ignore[attr-defined]
    upgrade(database)
    return database
