"""The falcon sinks for `/api/v3/...` and `/api/graphql`: identify, classify, decide, relay.

Every answer is JSON with a `message` (what GitHub's clients show), every request leaves one
session record (identity, method, route template, repo, decision, status, bytes, duration; no
bodies, no tokens). Errors of the gate itself (upstream unreachable, credential refused) are
502s that say so; an agent's mistake is a 4xx that says what to do next.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import falcon
import peewee

from gitgate import globs
from gitgate.api.call import ApiCall, ApiError, bearer
from gitgate.api.classify import Route, classify
from gitgate.api.exchange import Exchange
from gitgate.api.upstream import ApiUpstream
from gitgate.policy import groups_match, repo_rule
from gitgate.repos import BadRepo, canonical_repo
from gitgate.runtime import Runtime
from gitgate.upstream.http import UpstreamError

log = logging.getLogger("gitgate.api")
__all__ = ["ApiCall", "ApiError", "ApiService", "bearer"]


class ApiService(Exchange):
    """Entry points, identity and access, and the dispatch by route class."""

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

    def uploads(self, req: falcon.Request, resp: falcon.Response, **_kw: Any) -> None:
        """`/api/uploads/...` (release assets): not relayed by this gate, refused in JSON."""
        call = ApiCall(req, req.method, Route("publish", "/api/uploads/{path+}"))

        def refuse() -> None:
            raise ApiError(
                403,
                "gitgate: release asset uploads are publishing, which this gate does not relay; "
                "ask a maintainer to upload the asset on GitHub.",
            )

        self._run(call, resp, refuse)

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
            call.caller.repo = canonical_repo(owner, name)
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
        body = self.read_body(call)
        if not route.owner:
            self._new_repo(call, body)  # POST /orgs/{org}/repos names the repo in its body
        rule = self.require(call, "write")
        if route.kind in ("content", "ref", "object"):
            self.writes.handle(call, resp, path, body)
            return
        if route.kind == "merge":
            self.writes.merge(call, resp, path, body)  # the base branch's rule decides
            return
        self.by_action(call, resp, path, body, rule, route.kind)

    def _new_repo(self, call: ApiCall, body: bytes) -> None:
        """The repo a creation names, so that its rule decides; refused when there is none."""
        org = call.route.param("org")
        try:
            name = json.loads(body).get("name") if body else None
        except (ValueError, AttributeError):
            name = None
        if not org or not isinstance(name, str):
            raise ApiError(
                403,
                f"gitgate: {call.label} names no repository the gate can apply rules to, so it "
                "is refused (fail closed); create repositories under an organisation "
                "(POST /orgs/{org}/repos with a `name`), or ask the gitgate admin.",
            )
        self.repo(call, org, name)

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
            from gitgate.api.queued import enqueue_call

            if not rule.reviewers:
                raise ApiError(
                    403,
                    f"gitgate: rule {rule.name!r} queues {what} but names no "
                    "reviewers; ask the gitgate admin",
                )
            queue_id = enqueue_call(self, call, rule, kind, path, body)
            self.held(
                call,
                resp,
                queue_id,
                f"{call.label} is {what}; rule {rule.name!r} "
                f"holds it for a human (api.{kind} = queue)",
            )
            return
        if kind == "text":
            from gitgate.api.text import scan_text

            scan_text(self, call, rule, body)
        self.relay(call, resp, path, body)
