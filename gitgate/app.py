"""The falcon application: git smart-HTTP routes, health probes, errors as plain text.

`create_app(config, services)` takes its collaborators (gitgate.services; tests pass real ones
built on loopback servers); `get_app()` builds everything from the config file for gunicorn.
Each app answers every request in its own `contextvars` context, so two apps in one process
never share a database (gitgate.db). Errors are
`text/plain`: git shows such a body to its user as `remote: ...`, so every refusal can say what
to do next.
"""

from __future__ import annotations

import contextvars
import logging
import os
import threading
import uuid
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import falcon
import peewee

from gitgate import __version__
from gitgate.audit.recording import AuditMiddleware
from gitgate.config import Config
from gitgate.errors import add_handlers
from gitgate.git.access import GitService
from gitgate.git.lfs import LfsRefusal
from gitgate.git.routes import InfoRefs, ReceivePackResource, UploadPack
from gitgate.ops import shutdown
from gitgate.runtime import Runtime, build_runtime
from gitgate.services import Services

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

log = logging.getLogger("gitgate.app")
PRESTART_JOIN_S = 10.0  # at exit, the longest wait for the scanner's processes to start


class RequestContext:
    """Per request: an id for the logs and the agent's messages, the start time."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.request_id = uuid.uuid4().hex[:12]
        resp.set_header("X-Request-Id", req.context.request_id)


class Health:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def on_get_live(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = f"ok gitgate {__version__}\n"

    def on_get_ready(self, req: falcon.Request, resp: falcon.Response) -> None:
        problems = self.runtime.readiness_problems()
        resp.content_type = falcon.MEDIA_TEXT
        if problems:
            resp.status = falcon.HTTP_503
            resp.text = "not ready: " + "; ".join(problems) + "\n"
        else:
            resp.text = "ready\n"


def _text_error(req: falcon.Request, resp: falcon.Response, ex: falcon.HTTPError, _p: Any) -> None:
    resp.status = ex.status
    resp.content_type = falcon.MEDIA_TEXT
    headers = ex.headers or {}
    pairs = list(headers.items()) if isinstance(headers, dict) else list(headers)
    for name, value in pairs:
        resp.set_header(name, value)
    body = ex.description or ex.title or str(ex.status)
    resp.text = body.rstrip("\n") + "\n"


def _not_found(req: falcon.Request, resp: falcon.Response, **_params: Any) -> None:
    raise falcon.HTTPNotFound(
        description=f"gitgate: no such route {req.path!r}. Git remotes look like "
        "http(s)://<gate>/<owner>/<repo>.git"
    )


class GateApp(falcon.App):
    """A falcon App that keeps its runtime reachable (for tests and the CLI), and answers
    each request as its own gate: in a fresh context with its services active."""

    runtime: Runtime

    def __call__(self, env: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        context = contextvars.copy_context()  # nothing leaks into the server's thread
        body = context.run(self._answer, env, start_response)
        wrapper = env.get("wsgi.file_wrapper")
        if isinstance(body, list) or (isinstance(wrapper, type) and isinstance(body, wrapper)):
            return body  # produced already, or a file the server sends itself
        return _InContext(context, body)  # streamed: a push's checks run as this gate too

    def _answer(self, env: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        self.runtime.services.activate()
        return super().__call__(env, start_response)


class _InContext:
    """A streamed response body whose every step runs in the request's context."""

    def __init__(self, context: contextvars.Context, body: Iterable[bytes]) -> None:
        self.context = context
        self.body = body
        self.steps = iter(body)

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        return self.context.run(next, self.steps)

    def close(self) -> None:  # WSGI: the server calls it when the response ends, or stops
        close = getattr(self.body, "close", None)
        if callable(close):
            self.context.run(close)


def create_app(config: Config, services: Services | None = None) -> GateApp:
    """Build the WSGI app on `services` (built from the config when not given)."""
    runtime = build_runtime(config, services or Services.from_config(config))
    from gitgate.audit.metrics import MetricsMiddleware, MetricsResource
    from gitgate.web.base import SecurityHeaders, database_down

    app = GateApp(
        middleware=[
            RequestContext(),
            AuditMiddleware(
                runtime.record
            ),  # one audit event per request (gitgate.audit.recording)
            MetricsMiddleware(),
            SecurityHeaders(),
        ],
        cors_enable=False,
    )
    app.req_options.strip_url_path_trailing_slash = True
    app.add_error_handler(falcon.HTTPError, _text_error)
    app.add_error_handler(peewee.DatabaseError, database_down)
    add_handlers(app, _text_error)  # the gate's domain errors (gitgate.errors)
    service = GitService(runtime)
    info = InfoRefs(service)
    upload = UploadPack(service)
    receive = ReceivePackResource(service)
    health = Health(runtime)
    if config.metrics.enabled:
        app.add_route("/metrics", MetricsResource())
    if config.review.enabled:
        from gitgate.web.routes import add_routes

        add_routes(app, runtime)
    app.add_route("/healthz", health, suffix="live")
    app.add_route("/readyz", health, suffix="ready")
    from gitgate.api.queue import QueueApi

    queue_api = QueueApi(service)
    app.add_route("/api/queue", queue_api)
    app.add_route("/api/queue/{push_id}", queue_api, suffix="one")
    app.add_route("/{owner}/{name}/info/refs", info)
    app.add_route("/{owner}/{name}/git-upload-pack", upload)
    app.add_route("/{owner}/{name}/git-receive-pack", receive)
    lfs = LfsRefusal(service)
    app.add_route("/{owner}/{name}/info/lfs", lfs)
    app.add_route("/{owner}/{name}/info/lfs/{rest:path}", lfs)
    app.add_sink(_not_found, "/")
    from gitgate.api.service import ApiService

    api = ApiService(runtime)  # GitHub's REST and GraphQL API, GHES-style (gitgate.api)
    app.add_sink(api.rest, r"/api/v3(?=/|$)")
    app.add_sink(api.graphql, r"/api/graphql$")
    app.add_sink(api.uploads, r"/api/uploads(?=/|$)")
    app.runtime = runtime
    return app


def get_app() -> falcon.App:
    """The gunicorn entry point: `gitgate.app:get_app()`, config from GITGATE_CONFIG."""
    from gitgate import config as config_mod
    from gitgate.audit.logs import setup_logging

    cfg = config_mod.load(os.environ.get("GITGATE_CONFIG") or None)
    setup_logging(cfg.server.log_format, cfg.server.log_level)
    services = Services.from_config(cfg)
    # A worker runs this one gate: its database is also the process default, for anything
    # the worker runs outside a request's context (two gates in a process use create_app).
    from gitgate import db

    db.bind(services.database)
    app = create_app(cfg, services)
    runtime = app.runtime
    scanner = services.scanner

    starting: list[threading.Thread] = []

    def close() -> None:
        runtime.close()
        scanner.abort()
        # A SIGTERM while the scanner's processes are still being started: let that start
        # end (it then stops the pool it made, see SecretScanner._ensure_pool) before the
        # exit stops multiprocessing's fork server. Otherwise the fork server waited for the
        # half-made pool's first process, which waited for this worker, which waited for the
        # fork server: the worker hung until gunicorn's graceful timeout killed it (30 s).
        for thread in starting:
            thread.join(PRESTART_JOIN_S)

    # SIGTERM: stop scans now and refuse what they were checking, then gunicorn's own stop
    shutdown.install(services.stopping, scanner.abort, close)
    starting.append(scanner.prestart())  # the first push does not wait for the pool (#11)
    _end_holds_on_term(runtime)
    return app


def _end_holds_on_term(runtime: Runtime) -> None:
    """gunicorn stops a worker (shutdown, reload) with SIGTERM and waits for its requests:
    held pushes then end at once, "still queued", instead of holding the restart up."""
    import signal

    holder = runtime.services.holder
    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum: int, frame: Any) -> None:
        holder.stopping.set()
        if callable(previous):
            previous(signum, frame)

    try:
        signal.signal(signal.SIGTERM, on_term)
    except ValueError:  # not the main thread (the app is not run by a gunicorn worker)
        log.debug("held pushes will not end early on SIGTERM")
