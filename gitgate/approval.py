"""Just-in-time approval: hold a push for a human, and push it upstream once approved.

The stored body is the push itself (commands, options, pack), chunked into the database so any
gate instance or CLI sharing it can relay; the agent never pushes again. A relay happens at
most once: the store's conditional claim decides who relays. Before relaying, upstream's refs
are compared with the stored old ids: if a ref moved, the push is **stale** and nothing is
forced (upstream's receive-pack would refuse a mismatched old id anyway; checking first gives
the reviewer a clear reason).
"""

from __future__ import annotations

import difflib
import logging
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

from gitgate import notify
from gitgate.config import Config, Rule
from gitgate.mirror import Mirrors, Quarantine
from gitgate.policy import RefDecision
from gitgate.protocol import PushRequest, encode_request_head, parse_push_request
from gitgate.relay import advertised_refs, relay, repack
from gitgate.upstream import Upstream, UpstreamError

log = logging.getLogger("gitgate.approval")
ZERO = b"0" * 40
MAX_SUMMARY_COMMITS = 200
MAX_SUMMARY_PATHS = 500
MAX_DIFF_LINES = 200


class QueueRefused(Exception):
    """The refs cannot be queued together; the message says why (they are rejected)."""


def combined_review(rules: Sequence[Rule]) -> tuple[list[str], int, int]:
    """Reviewers allowed by every rule involved, the most approvals, the shortest expiry."""
    groups = set(rules[0].reviewers)
    for rule in rules[1:]:
        groups &= set(rule.reviewers)
    if not groups:
        raise QueueRefused("the queued refs need different reviewers: push them separately")
    return sorted(groups), max(r.approvals for r in rules), min(r.queue_expiry for r in rules)


@dataclass
class QueueService:
    """Puts pushes into the queue (called by ReceivePack) and announces break-glass use."""

    config: Config
    mirrors: Mirrors
    scanner: Any = None

    def enqueue(
        self,
        caller: Any,
        req: PushRequest,
        queued: list[RefDecision],
        spool: BinaryIO,
        quarantine: Quarantine,
        push: Any,
    ) -> int:
        from gitgate.db import write_transaction
        from gitgate.store import queue

        rules = [d.rule for d in queued if d.rule is not None]
        reviewers, approvals, expiry = combined_review(rules)
        commands = [d.command for d in queued]
        summary = self.summary(caller, queued, push)
        with tempfile.TemporaryFile(dir=quarantine.dir) as body:
            self._write_body(caller.repo, req, commands, spool, quarantine, body)
            body.seek(0)
            with write_transaction():
                push_id = queue.enqueue(
                    repo=caller.repo,
                    pusher_subject=caller.subject,
                    pusher_groups=list(caller.groups),
                    rule_name=rules[0].name,
                    reviewer_groups=reviewers,
                    approvals_required=approvals,
                    expiry_s=expiry,
                    summary=summary,
                    payload=body,
                )
                notify.emit(
                    "queued",
                    event_payload(push_id, caller.repo, caller.subject, summary, rules[0].name),
                )
        notify.wake()
        log.info("push to %s by %s queued as #%s", caller.repo, caller.subject, push_id)
        return push_id

    def _write_body(
        self,
        repo: str,
        req: PushRequest,
        commands: list[Any],
        spool: BinaryIO,
        quarantine: Quarantine,
        out: BinaryIO,
    ) -> None:
        if len(commands) == len(req.commands):
            spool.seek(0)
            shutil.copyfileobj(spool, out)
            return
        # Only the queued refs, and only their objects: a refused ref's objects must never be
        # relayed later as a side effect of someone approving another ref.
        out.write(encode_request_head(req, commands))
        if any(not c.is_delete for c in commands):
            self.mirrors.fetch(repo)
            with repack(quarantine, str(self.mirrors.path(repo)), commands) as pack:
                shutil.copyfileobj(pack, out)

    def summary(self, caller: Any, queued: list[RefDecision], push: Any) -> dict[str, Any]:
        """What a reviewer needs: refs, commits, changed paths, findings, protected diffs."""
        updates = {u.ref: u for u in push.updates} if push else {}
        refs: list[dict[str, Any]] = []
        commits: list[dict[str, Any]] = []
        paths: list[dict[str, Any]] = []
        diffs: list[dict[str, Any]] = []
        for d in queued:
            u = updates.get(d.ref)
            refs.append(
                {
                    "ref": d.ref,
                    "old": d.command.old.decode(),
                    "new": d.command.new.decode(),
                    "kind": u.kind if u else "",
                    "forced": bool(u and u.forced),
                }
            )
            if u is None:
                continue
            for c in u.new_commits[:MAX_SUMMARY_COMMITS]:
                commits.append(
                    {
                        "id": c.id.decode(),
                        "author": c.author.decode("utf-8", "replace"),
                        "summary": c.message.decode("utf-8", "replace").split("\n", 1)[0][:200],
                    }
                )
            for ch in u.changes[:MAX_SUMMARY_PATHS]:
                paths.append(
                    {
                        "kind": ch.kind,
                        "path": ch.path,
                        "old_path": ch.old_path,
                        "commit": ch.commit.decode()[:12],
                    }
                )
            protected = {
                f.path
                for v in d.failed
                if v.check == "protected_paths"
                for f in v.findings
                if f.path
            }
            for ch in u.changes:
                if push and ch.path in protected and len(diffs) < 20:
                    diffs.append({"path": ch.path, "diff": self._diff(push, ch)})
        return {
            "ref_updates": refs,
            "commits": commits,
            "changed_paths": paths,
            "findings": [f.record() for d in queued for v in d.failed for f in v.findings],
            "reasons": [r for d in queued for r in d.reasons],
            "protected_diffs": diffs,
            "pusher": caller.subject,
            "request_id": caller.request_id,
        }

    def _diff(self, push: Any, change: Any) -> str:
        """A unified diff of a protected file, with every line a secret scan flags redacted:
        the database must never hold a secret value, not even in a diff."""

        def text(blob: bytes | None) -> list[str]:
            if not blob:
                return []
            data = push.blob(blob).as_raw_string()
            if b"\0" in data[:8000]:
                return ["(binary)"]
            return data.decode("utf-8", "replace").split("\n")

        lines = list(
            difflib.unified_diff(
                text(change.old_blob),
                text(change.new_blob),
                change.old_path or change.path,
                change.path,
                lineterm="",
                n=2,
            )
        )[:MAX_DIFF_LINES]
        diff = "\n".join(lines)
        if self.scanner is None:
            return "(diff withheld: no secret scanner to vet it)"
        key = b"diff:" + (change.old_blob or b"") + b":" + (change.new_blob or b"")
        try:
            hits = self.scanner.scan([(key, change.path, diff.encode())], budget_s=10).get(key, [])
        except Exception:
            return "(diff withheld: it could not be vetted for secrets)"
        flagged = {h.line for h in hits}
        return "\n".join(
            "[line withheld: looks like a secret]" if i in flagged else line
            for i, line in enumerate(lines, start=1)
        )

    def break_glass(self, caller: Any, decisions: list[RefDecision], reason: str) -> None:
        from gitgate.db import connection

        with connection():
            notify.emit(
                "break_glass",
                {
                    "repo": caller.repo,
                    "pusher": caller.subject,
                    "reason": reason,
                    "refs": [d.ref for d in decisions if d.break_glass],
                    "overridden": sorted(
                        {r for d in decisions if d.break_glass for r in d.reasons}
                    ),
                    "request_id": caller.request_id,
                },
            )
        notify.wake()


def event_payload(
    push_id: int, repo: str, pusher: str, summary: dict[str, Any], rule: str, **extra: Any
) -> dict[str, Any]:
    return {
        "id": push_id,
        "repo": repo,
        "pusher": pusher,
        "rule": rule,
        "refs": [r["ref"] for r in summary.get("ref_updates", [])],
        "reason": "; ".join(summary.get("reasons", []))[:500],
        "review": f"gitgate review show {push_id}",
        **extra,
    }


def record_review(
    push_id: int, verdict: str, reviewer: str, groups: Sequence[str], text: str
) -> Any:
    """Record an approval or rejection and announce it in the same transaction.

    Returns the store's ApprovalOutcome (whose `claimed` says whether the caller must relay
    now) or RejectionOutcome; raises LookupError for an unknown push.
    """
    from gitgate.db import write_transaction
    from gitgate.store import queue

    outcome: Any
    extra: dict[str, Any]
    with write_transaction():
        if verdict == "approve":
            outcome = queue.approve(push_id, reviewer, list(groups), text)
            extra = {"approvals": outcome.approvals, "required": outcome.required}
        else:
            outcome = queue.reject(push_id, reviewer, list(groups), text)
            extra = {"detail": text}
        info = queue.get(push_id)
        if outcome.recorded and info:
            event = "approved" if verdict == "approve" else "rejected"
            announce(event, info, reviewer=reviewer, **extra)
    return outcome


def announce(event: str, info: Any, **extra: Any) -> None:
    """Queue a webhook event about a queued push (a gitgate.store PushInfo)."""
    notify.emit(
        event,
        event_payload(
            info.id, info.repo, info.pusher_subject, info.summary, info.rule_name, **extra
        ),
    )


@dataclass
class RelayOutcome:
    state: str  # relayed | stale | failed
    reason: str
    report: str


def relay_stored(push_id: int, upstream: Upstream) -> RelayOutcome:
    """Relay a claimed push (state 'relaying') exactly as stored, then record the outcome."""
    from gitgate.store import queue

    info = queue.get(push_id)
    if info is None:
        raise LookupError(f"no queued push #{push_id}")
    if (info.summary or {}).get("kind") == "api":  # a held API call (gitgate.api.queued)
        from gitgate.api.queued import perform

        outcome = perform(push_id, upstream)
    else:
        outcome = _relay(info.repo, push_id, upstream)
    queue.finish(push_id, outcome.state, outcome.reason, outcome.report)
    announce(outcome.state, info, state=outcome.state, detail=outcome.reason)
    return outcome


def _relay(repo: str, push_id: int, upstream: Upstream) -> RelayOutcome:
    from gitgate.store import queue

    with queue.open_payload(push_id) as body:
        req = parse_push_request(body)
        try:
            current = advertised_refs(upstream, repo)
        except UpstreamError as ex:
            return RelayOutcome("failed", f"upstream: {ex}", "")
        moved = [c for c in req.commands if current.get(c.ref, ZERO) != c.old]
        if moved:
            names = ", ".join(c.ref.decode() for c in moved)
            return RelayOutcome(
                "stale",
                f"upstream moved since the push was queued ({names}); nothing was forced: "
                "the agent must fetch, rebase and push again",
                "",
            )
        total = body.seek(0, 2)
        body.seek(req.pack_offset)
        progress: list[bytes] = []
        try:
            result = relay(
                upstream,
                repo,
                req,
                req.commands,
                body if req.needs_pack else None,
                total - req.pack_offset if req.needs_pack else 0,
                progress.append,
            )
        except UpstreamError as ex:
            return RelayOutcome(
                "failed", f"upstream: {ex}", b"".join(progress).decode("utf-8", "replace")
            )
    report = "\n".join(
        line.decode("utf-8", "replace") for lines in result.refs.values() for line in lines
    )
    if result.unpack == "ok" and all(result.ok(c.ref) for c in req.commands):
        return RelayOutcome("relayed", "upstream accepted every ref", report)
    return RelayOutcome("failed", f"upstream refused: unpack {result.unpack}; {report}", report)
