"""The `mask` action in the push path: findings -> rewritten ref updates, records, messages.

Called by gitgate.receive for the refs whose decision is `mask`, inside the push's quarantine.
The agent is answered plain `ok` (never report-status-v2 `option new-oid`: git cannot point
its remote-tracking ref at an object it does not have, see /docs/design.md "Masking"), and
told in `remote:` lines what was masked where, upstream's new ids, and how to sync.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dulwich.object_store import tree_lookup_path
from dulwich.objects import Blob, ObjectID

from gitgate.checks.base import Finding
from gitgate.mask.rewrite import Rewriter
from gitgate.mask.values import Secret, marker, secrets_in
from gitgate.policy import RefDecision
from gitgate.protocol import Command
from gitgate.push import Push, RefUpdate

MESSAGE_PATHS = ("commit message", "tag message")


@dataclass
class Masked:
    """The outcome of masking a push: rewritten commands per ref, records and lines."""

    commands: dict[bytes, Command] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)


def _text(push: Push, update: RefUpdate, f: Finding) -> bytes | None:
    """The text a finding's line number counts in: a message, or the file in its commit."""
    short = f.commit or ""
    if f.path == "commit message":
        return next(
            (c.message for c in update.new_commits if c.id.decode().startswith(short)), None
        )
    if f.path == "tag message":
        return next((t.message for t in update.new_tags if t.id.decode().startswith(short)), None)
    commit = next((c for c in update.new_commits if c.id.decode().startswith(short)), None)
    if commit is None or not f.path:
        return None
    try:
        _, sha = tree_lookup_path(push.store.__getitem__, commit.tree, f.path.encode())
    except KeyError:
        return None
    blob = push.store[ObjectID(sha)]
    return blob.as_raw_string() if isinstance(blob, Blob) else None


def secrets_for(push: Push, update: RefUpdate, findings: Sequence[Finding]) -> list[Secret]:
    """The values to mask for a ref's findings. A finding whose text cannot be found again is
    an error: the gate does not relay what it cannot mask (fails closed)."""
    out: list[Secret] = []
    for f in findings:
        text = _text(push, update, f)
        if text is None or not f.line or not f.type or not f.hash:
            raise ValueError(f"cannot locate finding at {f.location or f.path}")
        found = secrets_in(text, f.line, f.type, f.hash, f.path or "")
        if not found:
            raise ValueError(f"cannot locate the secret at {f.location}")
        out.extend(found)
    return out


def mask_push(push: Push, decisions: Sequence[RefDecision]) -> Masked:
    """Rewrite the updates of `decisions` (all `mask`) and say what was done."""
    updates = {u.ref: u for u in push.updates}
    per_ref: list[tuple[RefDecision, RefUpdate, list[Finding]]] = []
    secrets: list[Secret] = []
    for d in decisions:
        update = updates[d.ref]
        findings = [f for v in d.failed if v.check == "secrets" for f in v.findings]
        secrets.extend(secrets_for(push, update, findings))
        per_ref.append((d, update, findings))
    rewriter = Rewriter(push.store, push.upstream_has, secrets)
    for _, update, _ in per_ref:
        rewriter.commits(update.new_commits)
        rewriter.tags(update.new_tags)
    done = rewriter.flush()
    out = Masked()
    for d, _update, findings in per_ref:
        cmd = d.command
        new = done.new_id(cmd.new)
        out.commands[cmd.ref] = Command(cmd.old, new, cmd.ref)
        out.events.append(
            {
                "event": "masked",
                "ref": d.ref,
                "agent_new": cmd.new.decode(),
                "upstream_new": new.decode(),
                "secrets": [f.record() for f in findings],
                "commits": {a.decode(): b.decode() for a, b in done.commits.items()},
                "tags": {a.decode(): b.decode() for a, b in done.tags.items()},
            }
        )
        out.lines.extend(_lines(d, findings, cmd.new, new))
    for oid in done.unsigned:
        out.lines.append(
            f"warning: {oid.decode()[:12]} was signed; its masked copy upstream is not (a "
            "rule can refuse instead of mask where signatures are required)"
        )
    out.lines += [
        "warning: your local commits still contain the secret: rotate it, it has left your machine",
        "hint: keep working and pushing as usual; to take upstream's masked history when you "
        "want: git pull --rebase",
    ]
    return out


def _lines(d: RefDecision, findings: Sequence[Finding], old: bytes, new: bytes) -> list[str]:
    lines = [f"warning: {d.ref}: {len(findings)} secret(s) masked before relaying"]
    for f in findings:
        where = f.location or f.path or ""
        mark = marker(f.type or "", f.hash or "").decode()
        lines.append(f"  - {f.type} at {where} (commit {f.commit}) -> {mark}")
    if new != old:
        lines.append(f"  upstream {d.ref} is {new.decode()} (your {old.decode()[:12]}, rewritten)")
    return lines
