"""`/api/graphql`: parsed with graphql-core, every operation classified, unknown refused.

Queries pass when each top-level field is attributable: `repository(owner, name)` (variables
resolved) needs read access to that repo; `viewer`, `rateLimit` and introspection need none.
Anything else (`node`, `search`, `organization`...) could read any repo the gate's credential
sees, so it is refused. Alone in its document, `createCommitOnBranch` (gitgate.api.gql_commit),
`mergePullRequest` (gitgate.api.merges) and `createRef`/`updateRef`/`deleteRef`
(gitgate.api.gql_refs) are inspected like pushes; PR and issue text mutations are tied to
their repo and scanned (gitgate.api.gql_text); other mutations that write content or refs are
refused with a pointer to the calls the gate does inspect, all others as unclassified. Every
operation in the document is checked, whichever `operationName` is asked.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import falcon
from graphql import GraphQLError, parse
from graphql.language import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValueNode,
    VariableNode,
)
from graphql.utilities import value_from_ast_untyped

from gitgate.api.classify import Route
from gitgate.api.gql_refs import REF_MUTATIONS, ref_mutation
from gitgate.api.gql_text import TEXT_MUTATIONS, check_text_mutation

if TYPE_CHECKING:
    from gitgate.api.service import ApiCall, ApiService

GRAPHQL_ROUTE = Route("graphql", "/graphql")
FREE_FIELDS = {"viewer", "rateLimit", "__typename", "__type", "__schema"}
# Below the top level: fields that lead to other repositories (or anything by id) are refused;
# fields naming one related repository (a PR's head, a fork's parent) may only select these.
CROSS_REPO = {
    "repositories",
    "repositoryOwner",
    "organization",
    "user",
    "search",
    "node",
    "forks",
    "starredRepositories",
    "watching",
    "topRepositories",
    "repositoriesContributedTo",
    "pinnedItems",
    "pinnableItems",
    "itemShowcase",
    "sponsoring",
    "sponsors",
}
RELATED_REPO = {"repository", "headRepository", "baseRepository", "parent", "templateRepository"}
SAFE_REPO_FIELDS = {
    "__typename",
    "id",
    "name",
    "nameWithOwner",
    "url",
    "isFork",
    "isPrivate",
    "visibility",
    "isArchived",
    "viewerPermission",
    "owner",
    "login",
    "defaultBranchRef",
}
VIEWER_FIELDS = {"__typename", "login", "name", "id", "databaseId", "email", "url", "avatarUrl"}
CONTENT_MUTATIONS = {
    "createCommitOnBranch",
    "createRef",
    "updateRef",
    "updateRefs",
    "deleteRef",
    "mergeBranch",
    "revertPullRequest",
    "mergePullRequest",
    "enablePullRequestAutoMerge",
}


def _err(status: int, message: str, decision: str = "forbidden") -> Exception:
    from gitgate.api.service import ApiError

    return ApiError(status, message, decision)


def _fields(
    sel: SelectionSetNode | None, frags: dict[str, FragmentDefinitionNode], depth: int = 0
) -> list[FieldNode]:
    """Top-level fields, through fragments (bounded: a fragment cycle is invalid anyway)."""
    out: list[FieldNode] = []
    if sel is None or depth > 10:
        return out
    for s in sel.selections:
        if isinstance(s, FieldNode):
            out.append(s)
        elif isinstance(s, InlineFragmentNode):
            out.extend(_fields(s.selection_set, frags, depth + 1))
        elif isinstance(s, FragmentSpreadNode):
            frag = frags.get(s.name.value)
            if frag is None:
                raise _err(422, f"gitgate: unknown fragment {s.name.value}", "error")
            out.extend(_fields(frag.selection_set, frags, depth + 1))
    return out


def _nested(field: FieldNode, frags: dict[str, FragmentDefinitionNode]) -> None:
    """Refuse nested selections that reach beyond the repository the query names.

    APPSEC: without GitHub's schema this is a list of the fields that lead elsewhere; `viewer`
    (the gate's credential!) may only select its own scalars.
    """
    top = field.name.value
    todo: list[tuple[FieldNode, int, bool]] = [
        (f, 1, top == "viewer") for f in _fields(field.selection_set, frags)
    ]
    while todo:
        f, depth, safe_only = todo.pop()
        name = f.name.value
        allowed = VIEWER_FIELDS if top == "viewer" and depth == 1 else SAFE_REPO_FIELDS
        if depth > 25 or name in CROSS_REPO or (safe_only and name not in allowed):
            raise _err(
                403,
                f"gitgate: the GraphQL field {name} under {top} can read beyond the repository "
                "the query names, so it is refused (fail closed); query each repository with "
                "repository(owner:, name:).",
            )
        related = safe_only or name in RELATED_REPO
        todo.extend((c, depth + 1, related) for c in _fields(f.selection_set, frags))


def _arg(field: FieldNode, name: str, variables: dict[str, Any]) -> Any:
    for a in field.arguments:
        if a.name.value == name:
            value: ValueNode = a.value
            if isinstance(value, VariableNode):
                return variables.get(value.name.value)
            return value_from_ast_untyped(value, variables)
    return None


def _commit_mutation(
    doc: Any, frags: dict[str, FragmentDefinitionNode], names: tuple[str, ...]
) -> FieldNode | None:
    """The field when it is the document's only operation and field, and one of `names`."""
    ops = [d for d in doc.definitions if isinstance(d, OperationDefinitionNode)]
    if len(ops) != 1 or ops[0].operation.value != "mutation":
        return None
    fields = _fields(ops[0].selection_set, frags)
    if len(fields) == 1 and fields[0].name.value in names:
        return fields[0]
    return None


def merge_pull_request(
    svc: ApiService, call: ApiCall, resp: falcon.Response, body: bytes, data: Any
) -> None:
    """mergePullRequest: the same decision as `PUT pulls/{n}/merge` (net change to the base)."""
    from gitgate.api.gql_text import resolve
    from gitgate.api.merges import merge_into

    node = resolve(svc, data.get("pullRequestId") if isinstance(data, dict) else None)
    base, head = node.get("baseRefName"), node.get("headRefOid")
    if node.get("__typename") != "PullRequest" or not isinstance(base, str) or not head:
        raise _err(422, "gitgate: pullRequestId does not name a pull request", "error")
    owner, _, name = str(node["repo"]).partition("/")
    svc.repo(call, owner, name)
    svc.require(call, "write")
    title = f"Merge pull request #{node.get('number')}"
    merge_into(svc.writes, call, resp, "/graphql", body, base, str(head), title)


def handle(svc: ApiService, call: ApiCall, resp: falcon.Response) -> None:
    if call.method != "POST":
        raise _err(405, "gitgate: GraphQL takes POST with a JSON body", "error")
    body = svc.read_body(call)
    try:
        payload = json.loads(body)
        query = payload["query"]
        variables = payload.get("variables") or {}
        if not isinstance(query, str) or not isinstance(variables, dict):
            raise TypeError
        doc = parse(query, max_tokens=50_000)
    except (ValueError, KeyError, TypeError, GraphQLError):
        raise _err(
            400, "gitgate: expected a JSON body with a GraphQL `query` the gate can parse", "error"
        ) from None
    frags = {d.name.value: d for d in doc.definitions if isinstance(d, FragmentDefinitionNode)}
    repos: set[str] = set()
    single = _commit_mutation(
        doc, frags, ("createCommitOnBranch", "mergePullRequest", *REF_MUTATIONS)
    )
    if single is not None and single.name.value == "createCommitOnBranch":
        from gitgate.api.gql_commit import create_commit_on_branch

        create_commit_on_branch(svc, call, resp, body, _arg(single, "input", variables))
        return
    if single is not None and single.name.value in REF_MUTATIONS:
        ref_mutation(svc, call, resp, body, single.name.value, _arg(single, "input", variables))
        return
    if single is not None:
        merge_pull_request(svc, call, resp, body, _arg(single, "input", variables))
        return
    texts: list[tuple[str, Any]] = []
    for op in doc.definitions:
        if not isinstance(op, OperationDefinitionNode):
            continue
        kind = op.operation.value
        for field in _fields(op.selection_set, frags):
            name = field.name.value
            if kind == "mutation" and name in TEXT_MUTATIONS:
                texts.append((name, _arg(field, "input", variables)))
                continue
            if kind == "mutation" and name in CONTENT_MUTATIONS:
                raise _err(
                    403,
                    f"gitgate: the GraphQL mutation {name} writes repository content and this "
                    "gate inspects it only alone in its request (createCommitOnBranch, "
                    "mergePullRequest, createRef, updateRef, deleteRef), so it is refused. Send "
                    "it on its own, use git push, or the REST calls the gate inspects.",
                )
            if kind != "query":
                raise _err(
                    403,
                    f"gitgate: the GraphQL {kind} field {name} is not one the gate can classify, "
                    "so it is refused (fail closed); use the REST API for it, or ask the gitgate "
                    "admin.",
                )
            _nested(field, frags)
            if name in FREE_FIELDS:
                continue
            owner, repo = _arg(field, "owner", variables), _arg(field, "name", variables)
            if name != "repository" or not isinstance(owner, str) or not isinstance(repo, str):
                raise _err(
                    403,
                    f"gitgate: the GraphQL query field {name} cannot be tied to one repository, "
                    "so it is refused (fail closed); query repository(owner:, name:) instead.",
                )
            repos.add(svc.repo(call, owner, repo))
    for repo in sorted(repos):
        call.caller.repo = repo
        svc.require(call, "read")
    for name, data in texts:
        repos.add(check_text_mutation(svc, call, name, data))
    call.caller.repo = ",".join(sorted(repos))
    svc.relay(call, resp, "/graphql", body)
