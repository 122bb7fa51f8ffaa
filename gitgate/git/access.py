"""Who may do what on a repository, decided before any byte goes upstream.

`GitService` is the glue the git resources (gitgate.git.routes), git-lfs's answers and the
agent's queue view share: one canonical repo name per request (gitgate.repos), the caller filled
from its credentials, read/push access from the rules (401 for missing or bad credentials, 403
naming the rule, 503 when the gate itself cannot decide), and upstream's status read once.
Refusals are raised as domain errors and answered in one place (gitgate.errors).
"""

from __future__ import annotations

import logging
import urllib.parse

import falcon

from gitgate.errors import Refusal
from gitgate.exchange import Caller
from gitgate.policy import access_refusal, can_push_somewhere, repo_rule
from gitgate.repos import BadRepo, canonical_repo
from gitgate.runtime import Runtime
from gitgate.upstream.http import UpstreamResponse

log = logging.getLogger("gitgate.git")


def moved_to(location: str) -> str:
    """`owner/name` from an upstream redirect's Location, or '' when it names no repo."""
    path = urllib.parse.urlsplit(location).path.strip("/").split("/")
    if len(path) >= 2:
        try:
            return canonical_repo(path[0], path[1])
        except BadRepo:
            return ""
    return ""


class GitService:
    """Shared by the resources: names, identity, access, upstream's status. Refusals are
    raised (gitgate.errors maps them to HTTP and notes them on the request's audit event)."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    @staticmethod
    def repo(owner: str, name: str) -> str:
        try:
            return canonical_repo(owner, name)
        except BadRepo as ex:
            raise falcon.HTTPNotFound(description=f"gitgate: {ex}") from None

    def caller(self, req: falcon.Request, owner: str, name: str, service: str) -> Caller:
        """Who is asking; raises gitgate.auth.AuthError (mapped by gitgate.errors: 401, or 503
        when the gate cannot decide through its own fault), recorded under `service`."""
        repo = self.repo(owner, name)
        caller = Caller(
            repo=repo,
            source_addr=req.remote_addr or "",
            request_id=req.context.request_id,
        )
        req.context.audit.about(caller, service)
        return self.rt.identify(req.get_header("Authorization"), caller)

    def require_read(self, caller: Caller) -> None:
        rule = repo_rule(self.rt.config.rule, caller.repo, caller.groups)
        if rule is None or rule.access == "none":
            why = f"rule {rule.name!r} gives you no access" if rule else "no rule gives you access"
            raise Refusal(
                falcon.HTTPForbidden(
                    title="forbidden",
                    description=f"gitgate: {caller.subject} may not read {caller.repo}: {why}. "
                    "Ask the gitgate admin if you need it.",
                ),
                "forbidden",
                why,
            )

    def require_push(self, caller: Caller) -> None:
        self.require_read(caller)
        if not can_push_somewhere(self.rt.config.rule, caller.repo, caller.groups):
            rule = repo_rule(self.rt.config.rule, caller.repo, caller.groups)
            why = access_refusal(rule, "any ref") or "no rule gives you write access"
            groups = "".join(f"--group {g} " for g in caller.groups)
            raise Refusal(
                falcon.HTTPForbidden(
                    title="forbidden",
                    description=f"gitgate: {caller.subject} may not push to {caller.repo}: "
                    f"{why}. Ask the gitgate admin for write access if you need it "
                    f"(gitgate explain --subject {caller.subject} {groups}--repo {caller.repo} "
                    "shows why).",
                ),
                "forbidden",
                why,
            )

    @staticmethod
    def check_status(caller: Caller, resp: UpstreamResponse) -> None:
        """Upstream's answer is usable (200), or the agent is told why not."""
        if resp.status == 200:
            return
        resp.close()
        if resp.status == 404:
            raise Refusal(
                falcon.HTTPNotFound(
                    description=f"gitgate: repository {caller.repo} was not found upstream "
                    "(or the gate's upstream credential cannot see it)"
                ),
                "error",
                upstream_status=resp.status,
            )
        if resp.status in (301, 302, 307, 308):
            # GitHub redirects renamed and transferred repos. The gate does not follow: the
            # rules are per repo name, so the agent must use the new name explicitly.
            moved = moved_to(resp.headers.get("location", ""))
            raise Refusal(
                falcon.HTTPNotFound(
                    description=f"gitgate: {caller.repo} has moved upstream"
                    + (f" to {moved}: use {moved}.git as the remote path" if moved else "")
                ),
                "error",
                upstream_status=resp.status,
            )
        raise Refusal(
            falcon.HTTPBadGateway(
                description=f"gitgate: upstream answered HTTP {resp.status} for {caller.repo}; "
                "try again later, and tell the gitgate admin if it persists"
            ),
            "error",
            upstream_status=resp.status,
        )

    def early_fetch(self, repo: str, tips: list[bytes]) -> None:
        """Upstream has ref tips the mirror lacks (a PR merged, another instance's relay):
        fetch now, while the client builds its pack, not inside the push."""
        mirrors = self.rt.mirrors
        try:
            if mirrors.lacks_any(repo, tips):
                mirrors.prefetch(repo)
        except Exception as ex:  # only an optimisation: the push fetches if it must
            log.info("early fetch check for %s failed: %s", repo, type(ex).__name__)
