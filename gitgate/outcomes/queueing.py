"""Putting a push into the queue: what is stored, what a reviewer sees, one entry per change.

Called by gitgate.outcomes.queue for the refs a rule queues. The stored body holds only the queued
refs and their objects (a refused ref's objects must never be relayed as a side effect of an
approval); the summary is what `gitgate review show` prints; pending entries on the same refs
are compared with this push so that a retry is not a new entry and a stacked commit
supersedes the entry it extends (gitgate.store.changes).
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

from gitgate.audit import notify
from gitgate.audit.webhooks import BreakGlassEvent, QueueEvent
from gitgate.config import Config
from gitgate.exchange import Caller, RefStatus
from gitgate.git.mirror import Mirrors
from gitgate.git.quarantine import Quarantine
from gitgate.git.relay import repack
from gitgate.git.wire import PushRequest, encode_request_head
from gitgate.inspection.push import FileChange, Push, printable
from gitgate.mask import mapping as mask_mapping
from gitgate.outcomes.approval import ZERO, combined_review
from gitgate.policy import Decision
from gitgate.store import changes
from gitgate.store.changes import Enqueued

if TYPE_CHECKING:
    from gitgate.services import Scanner

log = logging.getLogger("gitgate.queueing")
MAX_SUMMARY_COMMITS = 200
MAX_SUMMARY_PATHS = 500
MAX_DIFF_LINES = 200


@dataclass
class QueueService:
    """Puts pushes into the queue (for gitgate.outcomes.queue and gitgate.api.writes) and
    announces break-glass use."""

    config: Config
    mirrors: Mirrors
    scanner: Scanner | None = None

    def enqueue(
        self,
        caller: Caller,
        req: PushRequest,
        queued: list[RefStatus],
        spool: BinaryIO,
        quarantine: Quarantine,
        push: Push | None,
    ) -> Enqueued:
        """Queue the refs, one entry per change (see gitgate.store.changes)."""
        from gitgate.db import write_transaction

        rules = [d.rule for d in queued if d.rule is not None]
        reviewers, approvals, expiry = combined_review(rules)
        commands = [d.command for d in queued]
        mine = frozenset((c.ref.decode(), c.old.decode(), c.new.decode()) for c in commands)
        same = changes.identical(caller.repo, caller.subject, mine)
        if same is not None:  # cheap early answer; enqueue_change decides for sure
            return Enqueued(same, duplicate=True)
        supersedes, conflicts = self._relations(caller, mine, push)
        summary = self.summary(caller, queued, push)
        with tempfile.TemporaryFile(dir=quarantine.dir) as body:
            self._write_body(caller.repo, req, commands, spool, quarantine, body)
            body.seek(0)
            with write_transaction():
                entry = changes.enqueue_change(
                    repo=caller.repo,
                    pusher_subject=caller.subject,
                    summary=summary,
                    supersedes=supersedes,
                    conflicts=conflicts,
                    pusher_groups=list(caller.groups),
                    rule_name=rules[0].name,
                    reviewer_groups=reviewers,
                    approvals_required=approvals,
                    expiry_s=expiry,
                    payload=body,
                )
                if not entry.duplicate and push is not None and push.queued_map is not None:
                    # kept aside until approval relays it (gitgate.mask.apply.remember_queued)
                    m = push.queued_map
                    pending = mask_mapping.pending_repo(caller.repo, entry.id)
                    mask_mapping.save(pending, caller.subject, m.maps, m.originals)
                if not entry.duplicate:
                    announced = QueueEvent.about(
                        "queued", entry.id, caller.repo, caller.subject, summary, rules[0].name
                    )
                    notify.announce(announced.but({"supersedes": tuple(entry.superseded)}))
                for old in entry.superseded:
                    entry.events.append({"event": "superseded", "id": old, "by": entry.id})
                    gone = dataclasses.replace(announced, event="superseded", id=old)
                    notify.announce(gone.but({"superseded_by": entry.id}))
        notify.wake()
        log.info("push to %s by %s queued as #%s", caller.repo, caller.subject, entry.id)
        return entry

    def _relations(
        self, caller: Caller, mine: frozenset[changes.RefChange], push: Push | None
    ) -> tuple[list[int], list[int]]:
        """Pending entries on the same refs: those this push extends (same pusher, same old
        ids, their tips are ancestors of ours) are superseded; the others conflict."""
        from gitgate.inspection.push import MissingObjects, is_ancestor

        by_ref = {ref: (old, new) for ref, old, new in mine}
        supersedes: list[int] = []
        conflicts: list[int] = []
        for push_id, pusher, theirs in changes.pending_on(caller.repo):
            if not {ref for ref, _, _ in theirs} & set(by_ref):
                continue
            extends = pusher == caller.subject
            for ref, old, new in theirs:
                ours = by_ref.get(ref)
                if not extends or ours is None or ours[0] != old or ZERO.decode() in (new, ours[1]):
                    extends = False
                    break
                try:
                    extends = push is not None and is_ancestor(
                        push.git_dirs, new.encode(), ours[1].encode()
                    )
                except MissingObjects:
                    extends = False
                if not extends:
                    break
            (supersedes if extends else conflicts).append(push_id)
        return supersedes, conflicts

    def _write_body(
        self,
        repo: str,
        req: PushRequest,
        commands: list[Any],
        spool: BinaryIO,
        quarantine: Quarantine,
        out: BinaryIO,
    ) -> None:
        if list(commands) == list(req.commands):  # not when masked: rewritten commands differ
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

    def summary(self, caller: Caller, queued: list[RefStatus], push: Push | None) -> dict[str, Any]:
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
                        "path": printable(ch.path),
                        "old_path": printable(ch.old_path) if ch.old_path else ch.old_path,
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
                if push and printable(ch.path) in protected and len(diffs) < 20:
                    diffs.append({"path": printable(ch.path), "diff": self._diff(push, ch)})
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

    def _diff(self, push: Push, change: FileChange) -> str:
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
                printable(change.old_path or change.path),
                printable(change.path),
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

    def break_glass(self, caller: Caller, decisions: Sequence[Decision], reason: str) -> None:
        from gitgate.db import connection

        with connection():
            notify.announce(
                BreakGlassEvent(
                    repo=caller.repo,
                    pusher=caller.subject,
                    reason=reason,
                    refs=[d.ref for d in decisions if d.break_glass],
                    overridden=sorted({r for d in decisions if d.break_glass for r in d.reasons}),
                    request_id=caller.request_id,
                )
            )
        notify.wake()
