"""The falcon sinks for `/api/v3/...` and `/api/graphql`: identify, classify, decide, relay.

Every answer is JSON with a `message` (what GitHub's clients show), every request leaves one
session record (identity, method, route template, repo, decision, status, bytes, duration; no
bodies, no tokens). Errors of the gate itself (upstream unreachable, credential refused) are
502s that say so; an agent's mistake is a 4xx that says what to do next.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.parse
from typing import Any

import falcon
import peewee

from gitgate import globs
from gitgate.api.classify import Route, classify
from gitgate.api.upstream import FORWARD_REQUEST, PASS_RESPONSE, ApiUpstream, Rewriter
from gitgate.policy import groups_match, repo_rule
from gitgate.receive import Caller
from gitgate.routes import BadRepo, repo_name
from gitgate.runtime import Runtime
from gitgate.upstream import UpstreamError, UpstreamResponse

log = logging.getLogger("gitgate.api")
CHUNK = 64 * 1024
DOCS = "https://github.com/gitgate/gitgate#the-github-api-through-the-gate"


class ApiError(Exception):
    """A refusal in the API's own language: status and a JSON `message`."""

    def __init__(self, status: int, message: str, decision: str = "forbidden", **extra: Any):
        super().__init__(message)
        self.status, self.message, self.decision, self.extra = status, message, decision, extra


def bearer(authorization: str | None) -> str | None:
    """gh and PyGithub send `token <T>`; the authenticator knows Bearer and Basic."""
    if authorization and authorization[:6].lower() == "token ":
        return "Bearer " + authorization[6:].strip()
    return authorization


class ApiCall:
    """One request's state: who, what, and what to write in its session record."""

    def __init__(self, req: falcon.Request, method: str, route: Route) -> None:
        self.req, self.method, self.route = req, method, route
        self.started = time.monotonic()
        self.caller = Caller(
            repo="", source_addr=req.remote_addr or "", request_id=req.context.request_id
        )
        self.fields: dict[str, Any] = {}

    @property
    def label(self) -> str:
        return f"{self.method} {self.route.template or '(unclassified)'}"


class ApiService:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        cfg = runtime.config.upstream
        self.up = ApiUpstream(cfg.api_url, runtime.upstream.credential, cfg.timeout)
        self.max_json = cfg.api_max_json_bytes
        from gitgate.api.writes import Writes

        self.writes = Writes(self)

    # -- entry points -------------------------------------------------------------------
    def rest(self, req: falcon.Request, resp: falcon.Response, **_kw: Any) -> None:
        path = req.path[len("/api/v3") :] or "/"
        segments = path.split("/")[1:]
        # APPSEC: `..` or `.` would let a path classified for one repo reach another once
        # upstream normalises it; an empty segment has no meaning in GitHub's routes.
        unsafe = path != "/" and any(s in ("", ".", "..") for s in segments)
        route = Route("unknown", "") if unsafe else classify(req.method, path)
        call = ApiCall(req, req.method, route)
        self._run(call, resp, lambda: self._rest(call, resp, path))

    def graphql(self, req: falcon.Request, resp: falcon.Response, **_kw: Any) -> None:
        from gitgate.api.graphql import GRAPHQL_ROUTE, handle

        call = ApiCall(req, req.method, GRAPHQL_ROUTE)
        self._run(call, resp, lambda: handle(self, call, resp))

    def _run(self, call: ApiCall, resp: falcon.Response, work: Any) -> None:
        try:
            self.identify(call)
            work()
        except ApiError as ex:
            self.refuse(call, resp, ex)
        except UpstreamError as ex:
            self.refuse(
                call,
                resp,
                ApiError(502, f"gitgate: {ex}", "error", error=str(ex)),
            )
        except peewee.PeeweeException as ex:
            log.error(
                "API request %s: database error %s", call.caller.request_id, type(ex).__name__
            )
            self.refuse(
                call,
                resp,
                ApiError(
                    503,
                    "gitgate: the gate's database is unavailable; this is the gate's fault, not "
                    f"your request's: try again later (request {call.caller.request_id})",
                    "error",
                ),
            )
        except Exception:
            log.exception("API request %s failed inside the gate", call.caller.request_id)
            self.refuse(
                call,
                resp,
                ApiError(
                    500,
                    "gitgate: internal error; this is the gate's fault, not your request's: "
                    f"tell the gitgate admin (request {call.caller.request_id})",
                    "error",
                ),
            )

    # -- identity and access --------------------------------------------------------------
    def identify(self, call: ApiCall) -> None:
        from gitgate.auth import AuthError

        try:
            self.rt.identify(bearer(call.req.get_header("Authorization")), call.caller)
        except AuthError as ex:
            raise ApiError(
                401,
                f"gitgate: {ex}. Send your gitgate token as `Authorization: token <T>` "
                "(GH_ENTERPRISE_TOKEN for gh); ask the gitgate admin for a new one",
                "unauthenticated",
            ) from None

    def repo(self, call: ApiCall, owner: str, name: str) -> str:
        try:
            call.caller.repo = repo_name(owner, name)
        except BadRepo as ex:
            raise ApiError(404, f"gitgate: {ex}", "error") from None
        return call.caller.repo

    def require(self, call: ApiCall, level: str) -> Any:
        """The rule that gives this identity `level` (read or write) access to the repo: for
        write, the first rule matching repo and groups with write access (a later rule may
        give write on some refs where the first gives read)."""
        rules, repo, groups = self.rt.config.rule, call.caller.repo, call.caller.groups
        rule = repo_rule(rules, repo, groups)
        if level == "write":
            writer = next(
                (
                    r
                    for r in rules
                    if r.access == "write"
                    and globs.match_any(r.repos, repo)
                    and groups_match(r, groups)
                ),
                None,
            )
            if writer is not None:
                return writer
        elif rule is not None and rule.access in ("read", "write"):
            return rule
        access = rule.access if rule else "none"
        why = f"rule {rule.name!r} gives you {access} access" if rule else "no rule matches"
        raise ApiError(
            403,
            f"gitgate: {call.caller.subject} may not {level} {repo} through the API: {why} "
            "(deny by default). Ask the gitgate admin if you need it.",
        )

    # -- the REST dispatch ----------------------------------------------------------------
    def _rest(self, call: ApiCall, resp: falcon.Response, path: str) -> None:
        route = call.route
        if route.kind == "unknown":
            raise ApiError(
                403,
                f"gitgate: {call.method} {path} is not an API call the gate knows, so it is "
                "refused (fail closed). If you need it, ask the gitgate admin to classify it.",
            )
        if route.owner:
            self.repo(call, route.owner, route.name)
        if route.kind == "read":
            if route.owner:
                self.require(call, "read")
            self.relay(call, resp, path, None)
            return
        rule = self.require(call, "write")
        body = self.read_body(call)
        if route.kind in ("content", "ref", "object"):
            self.writes.handle(call, resp, path, body)
            return
        if route.kind == "merge":
            self.writes.merge(call, resp, path, body)  # the base branch's rule decides
            return
        self.by_action(call, resp, path, body, rule, route.kind)

    def by_action(
        self, call: ApiCall, resp: falcon.Response, path: str, body: bytes, rule: Any, kind: str
    ) -> None:
        """text, admin, publish (and merge): the rule's `api.<kind>` action decides."""
        action = getattr(rule.api, kind)
        what = {
            "text": "issue and pull-request text",
            "admin": "repository administration",
            "publish": "publishing or creating (releases, forks, new repos, workflow runs)",
            "merge": "server-side merges",
        }[kind]
        if action == "reject":
            raise ApiError(
                403,
                f"gitgate: {call.label} is {what}; rule {rule.name!r} refuses it through the "
                "gate (api." + kind + " = reject). Ask a maintainer to do it on GitHub, or the "
                "gitgate admin to change the rule.",
            )
        if action == "queue":
            raise ApiError(
                403,
                f"gitgate: {call.label} is {what}; rule {rule.name!r} holds it for a human "
                f"(api.{kind} = queue), and this gate queues only content writes: ask a "
                f"reviewer ({', '.join(rule.reviewers) or 'see the rule'}) to do it on GitHub.",
            )
        if kind == "text":
            from gitgate.api.text import scan_text

            scan_text(self, call, rule, body)
        self.relay(call, resp, path, body)

    # -- bodies and relaying -----------------------------------------------------------
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
        call.fields.update(decision=decision, upstream_status=up.status)
        if "json" in ctype and "content-encoding" not in up.headers:
            data = up._resp.read(self.max_json + 1)
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

    def _streamed(self, call: ApiCall, up: UpstreamResponse) -> Any:
        sent = 0
        try:
            for chunk in up.iter_body():
                sent += len(chunk)
                yield chunk
        finally:
            self.finish(call, sent)

    # -- outcomes ---------------------------------------------------------------------------
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

    def finish(self, call: ApiCall, sent: int, status: int | None = None) -> None:
        c = call.caller
        event = {
            "subject": c.subject,
            "groups": list(c.groups),
            "issuer": c.issuer,
            "source_addr": c.source_addr,
            "repo": c.repo or None,
            "service": "rest",
            "request_id": c.request_id,
            "method": call.method,
            "route": call.route.template,
            "bytes_out": sent,
            "duration_ms": int((time.monotonic() - call.started) * 1000),
            **call.fields,
        }
        event["statuses"] = [
            {"route": call.label, "status": str(status or call.fields.get("upstream_status"))},
            *event.get("statuses", []),
        ]
        self.rt.record(event)
