"""API writes that change repository content, decided exactly as a push would be.

The write becomes objects in a quarantine over the repo's mirror, one `Command(old, new, ref)`,
a `Push` from `build_push`, the same `gate.inspect`, the same messages. Allowed: the
agent's call goes upstream as made. Refused: 409 for secrets (GitHub's push protection), 422
otherwise, with the `remote:` lines as the JSON `message`. Queued: the gate's own commit is
stored as a push (commands + pack) in the ordinary queue, so approval relays it with git's
compare-and-swap on the old id (stale if the branch moved).
"""

from __future__ import annotations

import json
import tempfile
from typing import TYPE_CHECKING, Any

import falcon
from dulwich.repo import Repo

from gitgate import gate
from gitgate.api.objects import BadInput, content_commit, decode_content, mirror_ref
from gitgate.checks.base import CheckContext
from gitgate.exchange import Exchange, RefStatus
from gitgate.git import messages
from gitgate.git.quarantine import Quarantine
from gitgate.git.relay import repack
from gitgate.git.wire import Command, PushRequest, encode_request_head
from gitgate.inspection.history import Job
from gitgate.inspection.push import FileChange, MissingObjects, Push, build_push, changes
from gitgate.policy import Action, Floor

if TYPE_CHECKING:
    from gitgate.api.service import ApiCall, ApiService

ZERO = b"0" * 40
CAPS = [b"report-status", b"side-band-64k"]


def net_changes(push: Push, old: bytes, new: bytes) -> list[FileChange]:
    """What moving a ref from `old` to `new` changes in its tree, attributed to `new` (the
    same one-pass diff a force-push's net change uses)."""
    return [fc for _, found in changes(push, [Job(new, (old,))]) for fc in found]


def _error(status: int, message: str, decision: str = "error", **extra: Any) -> Exception:
    from gitgate.api.service import ApiError

    return ApiError(status, message, decision, **extra)


class Writes:
    def __init__(self, service: ApiService) -> None:
        self.svc = service
        self.rt = service.rt
        from gitgate.api.recorded import RecordedObjects

        self.recorded = RecordedObjects(self.rt.config.data_path, self.rt.mirrors)

    def handle(self, call: ApiCall, resp: falcon.Response, path: str, body: bytes) -> None:
        try:
            data = json.loads(body) if body.strip() else {}
        except ValueError:
            raise _error(400, "gitgate: the request body is not JSON") from None
        if not isinstance(data, dict):
            raise _error(400, "gitgate: the request body must be a JSON object")
        kind = call.route.kind
        if kind == "content":
            self.content(call, resp, path, body, data)
        elif kind == "ref":
            from gitgate.api.refs import ref_write

            ref_write(self, call, resp, path, body, data)
        else:
            from gitgate.api.refs import object_write

            object_write(self, call, resp, path, body, data)

    def default_branch(self, call: ApiCall) -> str:
        status, info = self.svc.up.json("GET", f"/repos/{call.caller.repo}")
        if status != 200 or not isinstance(info, dict) or not info.get("default_branch"):
            raise _error(
                404 if status == 404 else 502,
                f"gitgate: could not learn the default branch of {call.caller.repo} "
                f"(upstream answered {status}); name the `branch` in the request",
            )
        return str(info["default_branch"])

    def content(
        self, call: ApiCall, resp: falcon.Response, path: str, body: bytes, data: dict[str, Any]
    ) -> None:
        repo = call.caller.repo
        branch = data.get("branch") or self.default_branch(call)
        if not isinstance(branch, str):
            raise _error(422, "gitgate: `branch` must be a string")
        ref = branch if branch.startswith("refs/") else f"refs/heads/{branch}"
        mirrors = self.rt.mirrors
        mirrors.fetch(repo)
        with mirrors.in_use(repo), Quarantine(mirrors, repo) as q:
            with Repo(str(mirrors.path(repo))) as mirror:
                old = mirror_ref(mirror, ref)
            if old is None:
                raise _error(404, f"gitgate: branch {branch} does not exist in {repo}")
            blob = None
            if call.method == "PUT":
                blob = decode_content(data.get("content"), "base64")
            who = f"{call.caller.subject} <{call.caller.subject}@users.noreply.gitgate>"
            try:
                new = content_commit(
                    q.store, old, call.route.param("path"), blob, data, who.encode()
                )
            except BadInput as ex:
                raise _error(422, f"gitgate: {ex}") from None
            self.decide_and_act(call, resp, path, body, q, Command(old, new, ref.encode()))

    def decide_and_act(
        self,
        call: ApiCall,
        resp: falcon.Response,
        path: str,
        body: bytes,
        q: Quarantine,
        cmd: Command,
        *,
        net: bool = False,
        floor: Floor | None = None,
    ) -> None:
        """Inspect `cmd` over quarantine `q` like a push of it, then relay, refuse or queue.
        `net`: check the whole change to the ref (a merge), not each new commit's own;
        `floor`: the least severe outcome the rule allows (its `api.merge` for merges)."""
        repo, caller = call.caller.repo, call.caller
        ref = cmd.ref.decode()
        push = Push(
            repo=repo,
            updates=[],
            store=q.store,
            upstream_has=q.upstream_has,
            push_options=[],
            pack_bytes=0,
            git_dirs=(str(self.rt.mirrors.path(repo)), str(q.objects)),
        )
        try:
            build_push(push, [cmd])
        except (KeyError, MissingObjects):
            raise _error(
                422,
                f"gitgate: {cmd.new.decode()} is not a commit the gate can inspect (it must be on "
                "upstream, or built through this gate); push it with git instead",
                "reject",
            ) from None
        if net and not cmd.is_create and not cmd.is_delete:
            update = push.updates[0]
            update.changes = net_changes(push, cmd.old, cmd.new)
        ex = Exchange(caller, commands=[cmd], push=push)
        ctx = CheckContext(
            self.rt.config, self.rt.receive.scanner, caller.identity, caller.request_id
        )
        (d,) = gate.inspect(ex, self.rt.config.rule, self.rt.receive.checks, ctx, floor=floor)
        call.audit.note(
            ref_updates=[{"ref": ref, "old": cmd.old.decode(), "new": cmd.new.decode()}],
            verdicts=[
                {"check": v.check, "ref": v.ref, "passed": v.passed, "reason": v.reason}
                for v in d.verdicts
            ],
            findings=[f.record() for v in d.failed for f in v.findings],
        )
        if d.effective == Action.ALLOW:
            self.svc.relay(call, resp, path, body)
            return
        if d.effective == Action.MASK:
            from gitgate.api.masked import relay_masked

            relay_masked(self, call, resp, path, body, ex)
            return
        if d.effective == Action.QUEUE:
            self.queue(call, resp, q, ex)
            return
        self.refuse(call, ex.refs[0])

    def lines(self, d: RefStatus, queue_id: int | None = None) -> str:
        """The lines a push shows (hooks' own output first), without the push's header."""
        out = messages.summary_lines(
            [d],
            max_findings=self.rt.config.scan.max_findings_shown,
            queue_ids={d.ref: queue_id} if queue_id is not None else {},
            review_hint=self.rt.receive.review_hint,
        )
        return "\n".join(out[1:])

    def refuse(self, call: ApiCall, d: RefStatus) -> None:
        status = 409 if any(v.check == "secrets" for v in d.failed) else 422
        detail = self.lines(d) or messages.ref_reason(d)
        raise _error(
            status,
            f"gitgate: refused ({messages.ref_reason(d)}).\n{detail}\n"
            "Nothing was written upstream. Fix the change and send it again.",
            "reject",
            statuses=[{"ref": d.ref, "status": messages.ref_reason(d)}],
        )

    def queue(self, call: ApiCall, resp: falcon.Response, q: Quarantine, ex: Exchange) -> None:
        from gitgate.mask.apply import for_queue
        from gitgate.outcomes.approval import QueueRefused

        # a masking rule: the queue never holds the secret either
        mask_lines = for_queue(ex)
        d = ex.refs[0]
        if d.effective == Action.REJECT:
            self.refuse(call, d)
            return
        if ex.events:
            call.fields["events"] = ex.events
        repo, cmd = call.caller.repo, d.command
        req = PushRequest([cmd], list(CAPS))
        head = encode_request_head(req, [cmd])
        req.pack_offset = len(head)
        queue = self.rt.receive.queue
        with tempfile.TemporaryFile(dir=q.dir) as spool:
            spool.write(head)
            if not cmd.is_delete:
                with repack(q, str(self.rt.mirrors.path(repo)), [cmd]) as pack:
                    while chunk := pack.read(1 << 16):
                        spool.write(chunk)
            try:
                if queue is None:
                    raise QueueRefused("the approval queue is not available on this gate")
                entry = queue.enqueue(call.caller, req, [d], spool, q, ex.push)
            except QueueRefused as err:
                ex.refuse(d.ref, str(err))
                self.refuse(call, ex.refs[0])
                return
        queue_id = entry.id
        call.audit.note(decision=Action.QUEUE, queue_ids={d.ref: queue_id})
        held = (
            f"already held for human approval as #{queue_id}: nothing new was queued"
            if entry.duplicate
            else f"held for human approval as #{queue_id}"
        )
        payload = {
            "message": f"gitgate: {held} "
            f"(rule {d.rule.name if d.rule else '-'}).\n{self.lines(d, queue_id)}"
            + "".join(f"\n{line}" for line in mask_lines),
            "queue_id": queue_id,
            "ref": d.ref,
            "sha": cmd.new.decode(),
        }
        data = json.dumps(payload).encode()
        resp.status = 202
        resp.content_type = falcon.MEDIA_JSON
        resp.data = data
        self.svc.finish(call, len(data), status=202)

    def merge(self, call: ApiCall, resp: falcon.Response, path: str, body: bytes) -> None:
        """A server-side merge writes its base branch: decided on the net change it makes
        there (base tree -> merged tree), with the base rule's `api.merge` as a floor."""
        from gitgate.api.merges import merge

        merge(self, call, resp, path, body)
