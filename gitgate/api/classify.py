"""Which kind of API call is this? A table of route templates; no match means refused.

The class decides the treatment: `read` passes under `access = read`; `content` and `ref`
are inspected like a push; `text` (issues, PR metadata, comments) is allowed for writers;
`admin`, `publish` and `merge` follow the rule's `api` actions. Matching is on GitHub's own
route templates, so the session record names the template, never the concrete path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SEG = r"[^/]+"

# (methods, template, class). First match wins; templates use {x} for one segment, {x+} for
# the rest of the path.
_TABLE: list[tuple[str, str, str]] = [
    # content writes: inspected like a push
    ("PUT DELETE", "/repos/{owner}/{repo}/contents/{path+}", "content"),
    ("POST", "/repos/{owner}/{repo}/git/blobs", "object"),
    ("POST", "/repos/{owner}/{repo}/git/trees", "object"),
    ("POST", "/repos/{owner}/{repo}/git/commits", "object"),
    ("POST", "/repos/{owner}/{repo}/git/tags", "object"),
    ("POST", "/repos/{owner}/{repo}/git/refs", "ref"),
    ("PATCH DELETE", "/repos/{owner}/{repo}/git/refs/{ref+}", "ref"),
    # server-side merges write the base branch
    ("PUT", "/repos/{owner}/{repo}/pulls/{n}/merge", "merge"),
    ("PUT", "/repos/{owner}/{repo}/pulls/{n}/update-branch", "merge"),
    ("POST", "/repos/{owner}/{repo}/merges", "merge"),
    # repo admin and exposing calls: refused by default
    ("DELETE PATCH", "/repos/{owner}/{repo}", "admin"),
    ("POST", "/repos/{owner}/{repo}/transfer", "admin"),
    ("PUT POST PATCH DELETE", "/repos/{owner}/{repo}/branches/{branch}/protection{rest*}", "admin"),
    ("PUT POST PATCH DELETE", "/repos/{owner}/{repo}/rulesets{rest*}", "admin"),
    ("PUT POST PATCH DELETE", "/repos/{owner}/{repo}/actions/secrets{rest*}", "admin"),
    ("PUT POST PATCH DELETE", "/repos/{owner}/{repo}/actions/variables{rest*}", "admin"),
    ("PUT POST PATCH DELETE", "/repos/{owner}/{repo}/actions/permissions{rest*}", "admin"),
    ("PUT POST PATCH DELETE", "/repos/{owner}/{repo}/keys{rest*}", "admin"),
    ("PUT POST PATCH DELETE", "/repos/{owner}/{repo}/hooks{rest*}", "admin"),
    ("PUT POST PATCH DELETE", "/repos/{owner}/{repo}/collaborators{rest*}", "admin"),
    ("PUT POST PATCH DELETE", "/repos/{owner}/{repo}/secret-scanning{rest*}", "admin"),
    ("PUT POST PATCH DELETE", "/repos/{owner}/{repo}/code-scanning{rest*}", "admin"),
    ("PUT POST PATCH DELETE", "/repos/{owner}/{repo}/dependabot{rest*}", "admin"),
    ("PUT POST PATCH DELETE", "/repos/{owner}/{repo}/environments{rest*}", "admin"),
    # publishing and creating: queued by default
    ("POST PATCH DELETE", "/repos/{owner}/{repo}/releases{rest*}", "publish"),
    ("POST", "/repos/{owner}/{repo}/forks", "publish"),
    ("POST", "/repos/{owner}/{repo}/generate", "publish"),
    ("POST", "/repos/{owner}/{repo}/actions/workflows/{id}/dispatches", "publish"),
    ("POST", "/repos/{owner}/{repo}/actions/runs/{id}/{rerun}", "publish"),
    ("POST", "/repos/{owner}/{repo}/dispatches", "publish"),
    ("POST", "/user/repos", "publish"),
    ("POST", "/orgs/{org}/repos", "publish"),
    # text: no repository content, but public; scanned for secrets
    ("POST", "/repos/{owner}/{repo}/issues", "text"),
    ("PATCH", "/repos/{owner}/{repo}/issues/{n}", "text"),
    ("POST", "/repos/{owner}/{repo}/issues/{n}/comments", "text"),
    ("PATCH DELETE", "/repos/{owner}/{repo}/issues/comments/{id}", "text"),
    ("POST PUT DELETE", "/repos/{owner}/{repo}/issues/{n}/labels{rest*}", "text"),
    ("POST", "/repos/{owner}/{repo}/pulls", "text"),
    ("PATCH", "/repos/{owner}/{repo}/pulls/{n}", "text"),
    ("POST", "/repos/{owner}/{repo}/pulls/{n}/comments", "text"),
    ("PATCH DELETE", "/repos/{owner}/{repo}/pulls/comments/{id}", "text"),
    ("POST", "/repos/{owner}/{repo}/pulls/{n}/reviews{rest*}", "text"),
    ("POST DELETE", "/repos/{owner}/{repo}/pulls/{n}/requested_reviewers", "text"),
    ("POST PATCH DELETE", "/repos/{owner}/{repo}/labels{rest*}", "text"),
    ("POST DELETE", "/repos/{owner}/{repo}/{kind}/{id}/reactions{rest*}", "text"),
    # reads: only the shapes the gate can attribute to a repository (or to no repository)
    ("GET HEAD", "/repos/{owner}/{repo}{rest*}", "read"),
    ("GET HEAD", "/", "read"),
    ("GET HEAD", "/user", "read"),
    ("GET HEAD", "/rate_limit", "read"),
    ("GET HEAD", "/meta", "read"),
    ("GET HEAD", "/users/{user}", "read"),
    ("GET HEAD", "/orgs/{org}", "read"),
]

KINDS = ("read", "content", "object", "ref", "merge", "text", "admin", "publish")


def _compile(template: str) -> re.Pattern[str]:
    if template == "/":
        return re.compile(r"^/?$")
    out = ""
    for part in re.split(r"(\{[a-z]+[+*]?\})", template):
        if not part.startswith("{"):
            out += re.escape(part)
        elif part.endswith("+}"):
            out += f"(?P<{part[1:-2]}>.+)"
        elif part.endswith("*}"):
            out += f"(?P<{part[1:-2]}>/.*)?"
        else:
            out += f"(?P<{part[1:-1]}>{_SEG})"
    return re.compile(f"^{out}$")


_COMPILED = [(set(m.split()), t, _compile(t), k) for m, t, k in _TABLE]


@dataclass(frozen=True)
class Route:
    """A classified API call."""

    kind: str  # one of KINDS, or "unknown"
    template: str  # GitHub's route template, e.g. /repos/{owner}/{repo}/contents/{path+}
    owner: str = ""
    name: str = ""
    params: tuple[tuple[str, str], ...] = ()

    def param(self, key: str) -> str:
        return dict(self.params).get(key, "")


def classify(method: str, path: str) -> Route:
    """The route for `method path` (path relative to /api/v3, no query), or kind unknown."""
    method = method.upper()
    path = path or "/"
    for methods, template, rx, kind in _COMPILED:
        if method not in methods:
            continue
        m = rx.match(path)
        if m:
            groups = {k: v for k, v in m.groupdict().items() if v is not None}
            return Route(
                kind,
                template,
                groups.get("owner", ""),
                groups.get("repo", ""),
                tuple(sorted(groups.items())),
            )
    return Route("unknown", "")
