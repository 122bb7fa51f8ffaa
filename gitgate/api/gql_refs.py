"""GraphQL `createRef`, `updateRef` and `deleteRef`: the same decision as `git/refs` in REST.

They name the repository or the ref by node id; the gate resolves it upstream (gql_text), then
decides the update like a push (force by ancestry, whatever `force` says) against the ref's
value upstream. `updateRefs` (several refs at once) is refused: send them one by one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import falcon

from gitgate.api.gql_text import resolve

if TYPE_CHECKING:
    from gitgate.api.service import ApiCall, ApiService

REF_MUTATIONS = ("createRef", "updateRef", "deleteRef")
ZERO = "0" * 40


def _err(status: int, message: str) -> Exception:
    from gitgate.api.service import ApiError

    return ApiError(status, message, "error")


def ref_mutation(
    svc: ApiService, call: ApiCall, resp: falcon.Response, body: bytes, name: str, data: Any
) -> None:
    from gitgate.api.refs import update_ref

    if not isinstance(data, dict):
        raise _err(422, f"gitgate: {name} needs its `input`")
    if name == "createRef":
        node = resolve(svc, data.get("repositoryId"))
        ref, sha, mode = data.get("name"), data.get("oid"), "create"
        if not isinstance(ref, str) or not ref.startswith("refs/") or ref.count("/") < 2:
            raise _err(422, "gitgate: `name` must be a full ref name like refs/heads/feature")
    else:
        node = resolve(svc, data.get("refId"))
        if node.get("__typename") != "Ref":
            raise _err(422, "gitgate: refId does not name a ref")
        ref = f"{node.get('prefix')}{node.get('name')}"
        mode = "update" if name == "updateRef" else "delete"
        sha = data.get("oid") if mode == "update" else ZERO
    owner, _, repo = str(node["repo"]).partition("/")
    svc.repo(call, owner, repo)
    svc.require(call, "write")
    update_ref(svc.writes, call, resp, "/graphql", body, ref, sha, mode)
