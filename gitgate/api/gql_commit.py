"""GraphQL `createCommitOnBranch`, inspected like a push of the commit it makes.

The input (literal or from variables) becomes a commit on the branch tip in a quarantine:
additions and deletions applied in order, headline and body as the message. Its
`expectedHeadOid` is GitHub's compare-and-swap, so a head that moved is refused here too, and a
queued commit is relayed on approval only if the branch still points where it did.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any

import falcon
from dulwich.repo import Repo

from gitgate.api.objects import BadInput, changes_commit, mirror_ref
from gitgate.git.quarantine import Quarantine
from gitgate.git.wire import Command

if TYPE_CHECKING:
    from gitgate.api.service import ApiCall, ApiService


def _err(status: int, message: str, decision: str = "error") -> Exception:
    from gitgate.api.service import ApiError

    return ApiError(status, message, decision)


def _changes(file_changes: Any) -> list[tuple[str, bytes | None]]:
    out: list[tuple[str, bytes | None]] = []
    if file_changes is None:
        return out
    if not isinstance(file_changes, dict):
        raise BadInput("fileChanges must be an object")
    for d in file_changes.get("deletions") or []:
        out.append((str(d["path"]), None))
    for a in file_changes.get("additions") or []:
        try:
            out.append((str(a["path"]), base64.b64decode(a["contents"], validate=True)))
        except (binascii.Error, ValueError, TypeError):
            raise BadInput(f"contents of {a.get('path')} is not base64") from None
    return out


def create_commit_on_branch(
    svc: ApiService, call: ApiCall, resp: falcon.Response, body: bytes, data: Any
) -> None:
    if not isinstance(data, dict):
        raise _err(422, "gitgate: createCommitOnBranch needs its `input`")
    branch = data.get("branch") or {}
    full = branch.get("repositoryNameWithOwner") if isinstance(branch, dict) else None
    name = branch.get("branchName") if isinstance(branch, dict) else None
    if not isinstance(full, str) or "/" not in full or not isinstance(name, str):
        raise _err(
            422,
            "gitgate: name the branch by repositoryNameWithOwner and branchName (the gate "
            "cannot tie a branch id to a repository's rules)",
        )
    owner, _, repo_part = full.partition("/")
    repo = svc.repo(call, owner, repo_part)
    svc.require(call, "write")
    message = data.get("message") or {}
    headline = message.get("headline") if isinstance(message, dict) else None
    if not isinstance(headline, str) or not headline:
        raise _err(422, "gitgate: message.headline is required")
    text = headline + (f"\n\n{message['body']}" if message.get("body") else "")
    try:
        changes = _changes(data.get("fileChanges"))
    except (BadInput, KeyError, TypeError) as ex:
        raise _err(422, f"gitgate: {ex}") from None
    ref = name if name.startswith("refs/") else f"refs/heads/{name}"
    mirrors = svc.rt.mirrors
    mirrors.fetch(repo)
    with mirrors.in_use(repo), Quarantine(mirrors, repo) as q:
        with Repo(str(mirrors.path(repo))) as mirror:
            old = mirror_ref(mirror, ref)
        if old is None:
            raise _err(404, f"gitgate: branch {name} does not exist in {repo}")
        if data.get("expectedHeadOid") != old.decode():
            raise _err(
                409,
                f"gitgate: expectedHeadOid is not the head of {name} ({old.decode()[:12]}): "
                "the branch moved; read its head again and rebuild the commit",
            )
        who = f"{call.caller.subject} <{call.caller.subject}@users.noreply.gitgate>".encode()
        try:
            new = changes_commit(q.store, old, changes, text, who, who)
        except BadInput as ex:
            raise _err(422, f"gitgate: {ex}") from None
        svc.writes.decide_and_act(call, resp, "/graphql", body, q, Command(old, new, ref.encode()))
