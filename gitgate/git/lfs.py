"""Git LFS through the gate: refused, in git-lfs's own channel, without echoing any URL.

The gate inspects git objects; LFS objects travel beside git, to a separate API, and the gate
has no relay for them (no size limits, no secret scan, no storage). So every request under
`{repo}.git/info/lfs/` gets the JSON error git-lfs prints, `{"message": ...}`, saying what the
gate does with LFS and what to do instead. APPSEC: the body never contains the request URL.
git-lfs builds its default error text from the URL it called, which carries the agent's token
when the remote is `http://agent:TOKEN@gate/...`; a JSON `message` replaces that text.

A push made without git-lfs (or with `--no-verify`) still carries pointer files whose objects
never went anywhere: the `lfs` check (gitgate.checks.lfs) notices them.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import falcon

from gitgate.exchange import Caller
from gitgate.repos import BadRepo, canonical_repo

if TYPE_CHECKING:
    from gitgate.git.access import GitService

LFS_MEDIA_TYPE = "application/vnd.git-lfs+json"
# 422 "Unprocessable Entity": git-lfs prints the server's message as it is (for 404 it adds
# nothing either, but a 404 reads as "the repo does not exist", which is not the case), and
# does not retry or ask the credential helper (it would for 401).
STATUS = falcon.HTTP_422
REFUSAL = (
    "gitgate: Git LFS is not available through this gate: LFS objects are neither uploaded "
    "nor downloaded (the gate cannot inspect them). Commit such files as regular git files "
    '(git lfs migrate export --include="*.bin" --everything, then push), or ask the gitgate '
    "admin. To clone without LFS content: GIT_LFS_SKIP_SMUDGE=1 git clone <remote>."
)


def lfs_error(resp: falcon.Response, status: str, message: str, request_id: str) -> None:
    """git-lfs's error shape; `request_id` is printed by git-lfs as "Request ID: ..."."""
    resp.status = status
    resp.content_type = LFS_MEDIA_TYPE
    resp.text = json.dumps({"message": message, "request_id": request_id})


class LfsRefusal:
    """Every LFS API call (batch, locks, verify, any method) gets the same answer."""

    def __init__(self, service: GitService) -> None:
        self.svc = service

    def _refuse(
        self, req: falcon.Request, resp: falcon.Response, owner: str, name: str, rest: str = ""
    ) -> None:
        request_id = req.context.request_id
        try:
            repo = canonical_repo(owner, name)
        except BadRepo as ex:
            lfs_error(resp, falcon.HTTP_404, f"gitgate: {ex}", request_id)
            return
        caller = Caller(repo=repo, source_addr=req.remote_addr or "", request_id=request_id)
        self._identify(req, caller)
        req.context.audit.about(caller, "lfs")
        req.context.audit.note(decision="reject", error="git lfs is not relayed")
        # 404 for the locking API: git-lfs then skips lock verification quietly, instead of
        # printing "does not support the locking API" with the token-bearing URL.
        locks = rest.startswith("locks")
        lfs_error(resp, falcon.HTTP_404 if locks else STATUS, REFUSAL, request_id)

    def _identify(self, req: falcon.Request, caller: Caller) -> None:
        """For the audit record only: the refusal is the same for everyone, so a missing or
        bad token is not asked for again (a 401 would make git-lfs prompt for one)."""
        from gitgate.auth import AuthError

        try:
            self.svc.rt.identify(req.get_header("Authorization"), caller)
        except AuthError:
            caller.subject = "unauthenticated"

    on_get = on_post = on_put = on_delete = on_patch = _refuse
