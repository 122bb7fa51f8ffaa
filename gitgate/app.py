"""The falcon application: git smart-HTTP routes, health probes, errors as plain text.

`create_app(config, ...)` takes its collaborators as arguments (tests pass real ones built on
loopback servers); `get_app()` builds everything from the config file for gunicorn. Errors are
`text/plain`: git shows such a body to its user as `remote: ...`, so every refusal can say what
to do next.
"""

from __future__ import annotations

import logging
import os
import uuid
from typing import Any

import falcon

from gitgate import __version__, shutdown
from gitgate.config import Config
from gitgate.gitroutes import GitService, InfoRefs, ReceivePackResource, UploadPack
from gitgate.runtime import Runtime, build_runtime

log = logging.getLogger("gitgate.app")


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
    """A falcon App that keeps its runtime reachable (for tests and the CLI)."""

    runtime: Runtime


def create_app(config: Config, *, runtime: Runtime | None = None, **collaborators: Any) -> GateApp:
    """Build the WSGI app. `collaborators` override parts of the runtime (see build_runtime)."""
    runtime = runtime or build_runtime(config, **collaborators)
    app = GateApp(middleware=[RequestContext()], cors_enable=False)
    app.req_options.strip_url_path_trailing_slash = True
    app.add_error_handler(falcon.HTTPError, _text_error)
    service = GitService(runtime)
    info = InfoRefs(service)
    upload = UploadPack(service)
    receive = ReceivePackResource(service)
    health = Health(runtime)
    app.add_route("/healthz", health, suffix="live")
    app.add_route("/readyz", health, suffix="ready")
    app.add_route("/{owner}/{name}/info/refs", info)
    app.add_route("/{owner}/{name}/git-upload-pack", upload)
    app.add_route("/{owner}/{name}/git-receive-pack", receive)
    app.add_sink(_not_found, "/")
    app.runtime = runtime
    return app


def get_app() -> falcon.App:
    """The gunicorn entry point: `gitgate.app:get_app()`, config from GITGATE_CONFIG."""
    from gitgate import config as config_mod
    from gitgate.logs import setup_logging

    cfg = config_mod.load(os.environ.get("GITGATE_CONFIG") or None)
    setup_logging(cfg.server.log_format, cfg.server.log_level)
    app = create_app(cfg)
    runtime = app.runtime
    scanner = runtime.receive.scanner

    def close() -> None:
        runtime.close()
        if scanner is not None:
            scanner.abort()

    # SIGTERM: stop scans now and refuse what they were checking, then gunicorn's own stop
    shutdown.install(scanner.abort if scanner is not None else lambda: None, close)
    return app
