"""GraphQL mutations that write text, not content: PR and issue creation, edits, comments.

They name their target by node id, so the gate asks upstream (with its own credential) which
repository the id belongs to, then applies that repository's rule exactly as for the REST
calls: write access, `api.text`, and a secret scan of the title and body. An id upstream will
not resolve to a repository is refused.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gitgate.api.service import ApiCall, ApiService

# mutation -> the input field holding the node id that names the repository (or its child)
TEXT_MUTATIONS = {
    "createPullRequest": "repositoryId",
    "updatePullRequest": "pullRequestId",
    "createIssue": "repositoryId",
    "updateIssue": "id",
    "addComment": "subjectId",
    "addPullRequestReview": "pullRequestId",
    "closePullRequest": "pullRequestId",
    "reopenPullRequest": "pullRequestId",
    "closeIssue": "issueId",
    "reopenIssue": "issueId",
}
RESOLVE = (
    "query($id: ID!) { node(id: $id) { __typename"
    " ... on Repository { nameWithOwner }"
    " ... on Issue { repository { nameWithOwner } }"
    " ... on PullRequest { number baseRefName headRefOid repository { nameWithOwner } }"
    " ... on Ref { name prefix repository { nameWithOwner } } } }"
)


def _err(status: int, message: str, decision: str = "forbidden") -> Exception:
    from gitgate.api.service import ApiError

    return ApiError(status, message, decision)


def resolve_repo(svc: ApiService, node_id: Any) -> str:
    """`owner/name` of the repository a node id is, or belongs to."""
    return str(resolve(svc, node_id)["repo"])


def resolve(svc: ApiService, node_id: Any) -> dict[str, Any]:
    """What the gate needs of a node: its repo, and for a pull request base, head, number."""
    if not isinstance(node_id, str) or not node_id:
        raise _err(422, "gitgate: the mutation names no node id", "error")
    status, answer = svc.up.json(
        "POST", "/graphql", {"query": RESOLVE, "variables": {"id": node_id}}
    )
    node = ((answer or {}).get("data") or {}).get("node") if isinstance(answer, dict) else None
    full = None
    if isinstance(node, dict):
        full = node.get("nameWithOwner") or (node.get("repository") or {}).get("nameWithOwner")
    if status != 200 or not isinstance(full, str) or "/" not in full:
        raise _err(
            403,
            f"gitgate: the gate could not tie node {node_id[:40]} to a repository (upstream "
            f"answered {status}), so the mutation is refused (fail closed)",
        )
    assert isinstance(node, dict)
    return {**node, "repo": full}


def check_text_mutation(svc: ApiService, call: ApiCall, name: str, data: Any) -> str:
    """Decide one text mutation; returns its repository. Raises ApiError when refused."""
    from gitgate.api.text import scan_text

    if not isinstance(data, dict):
        raise _err(422, f"gitgate: {name} needs its `input`", "error")
    owner, _, repo_name = resolve_repo(svc, data.get(TEXT_MUTATIONS[name])).partition("/")
    repo = svc.repo(call, owner, repo_name)
    rule = svc.require(call, "write")
    action = rule.api.text
    if action != "allow":
        raise _err(
            403,
            f"gitgate: {name} on {repo} is issue and pull-request text; rule {rule.name!r} "
            f"{'refuses it' if action == 'reject' else 'holds it for a human'} "
            f"(api.text = {action}). Ask a maintainer, or the gitgate admin to change the rule.",
        )
    scan_text(svc, call, rule, json.dumps(data).encode())
    return repo
