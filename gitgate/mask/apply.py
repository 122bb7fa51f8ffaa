"""The `mask` action in the push path: findings -> rewritten ref updates, records, messages.

Called by gitgate.outcomes for the refs whose decision is `mask`, inside the push's quarantine;
a ref that cannot be masked is refused through the exchange (`ex.refuse`), never re-decided.
The agent is answered plain `ok` (never report-status-v2 `option new-oid`: git cannot point
its remote-tracking ref at an object it does not have, see /docs/design.md "Masking"), and
told in `remote:` lines what was masked where, upstream's new ids, and how to sync.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dulwich.object_store import tree_lookup_path
from dulwich.objects import Blob, ObjectID, ShaFile

from gitgate.checks.base import Finding, short
from gitgate.config import Config
from gitgate.exchange import Exchange, RefStatus
from gitgate.git.wire import Command
from gitgate.inspection.push import Push, RefUpdate, build_update
from gitgate.mask import mapping
from gitgate.mask.rewrite import Rewriter
from gitgate.mask.values import Secret, marker, secrets_in
from gitgate.policy import LANDS, Action

log = logging.getLogger("gitgate.mask")


@dataclass
class Masked:
    """The outcome of masking a push: rewritten commands per ref, records and lines."""

    commands: dict[bytes, Command] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    maps: dict[str, dict[bytes, bytes]] = field(default_factory=dict)  # for gitgate.mask.mapping
    originals: dict[bytes, ShaFile] = field(default_factory=dict)


def _text(push: Push, update: RefUpdate, f: Finding) -> bytes | None:
    """The text a finding's line number counts in: a message, or the file in its commit (the
    finding names its blob; a finding recorded without one is looked up by path)."""
    oid = f.commit or ""
    if f.path == "commit message":
        return next((c.message for c in update.new_commits if c.id.decode().startswith(oid)), None)
    if f.path == "tag message":
        return next((t.message for t in update.new_tags if t.id.decode().startswith(oid)), None)
    if f.blob:
        try:
            return push.blob(f.blob.encode()).as_raw_string()
        except KeyError:
            return None
    commit = next((c for c in update.new_commits if c.id.decode().startswith(oid)), None)
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


def mask_push(
    push: Push, decisions: Sequence[RefStatus], known: dict[bytes, bytes] | None = None
) -> Masked:
    """Rewrite the relayed updates of `decisions`: those decided `mask` have their secrets
    masked; any (masked or allowed) building on commits masked earlier (`known`) is rebased
    onto their masked copies. Only updates that change are in the result's commands."""
    known = known or {}
    updates = {u.ref: u for u in push.updates}
    secrets: list[Secret] = []
    per_ref: list[tuple[RefStatus, RefUpdate, list[Finding]]] = []
    for d in decisions:
        update = updates.get(d.ref)
        if update is None:
            continue
        findings = to_mask(d)
        if findings:
            secrets.extend(secrets_for(push, update, findings))
        per_ref.append((d, update, findings))
    rewriter = Rewriter(push.store, push.upstream_has, secrets, known)
    for _, update, _ in per_ref:
        rewriter.commits(update.new_commits)
        rewriter.tags(update.new_tags)
    done = rewriter.flush()
    out = Masked(maps=done.maps(), originals=done.originals)
    for d, _update, findings in per_ref:
        cmd = d.command
        old, new = known.get(cmd.old, cmd.old), done.new_id(cmd.new)
        new = known.get(new, new)
        if (old, new) == (cmd.old, cmd.new):
            continue
        out.commands[cmd.ref] = Command(old, new, cmd.ref)
        out.events.append(
            {
                "event": "masked" if findings else "translated",
                "ref": d.ref,
                "agent": [cmd.old.decode(), cmd.new.decode()],
                "upstream": [old.decode(), new.decode()],
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
    if out.commands:
        out.lines += [
            "warning: your local commits still contain the secret: rotate it, it has left "
            "your machine",
            "hint: keep working and pushing as usual; to take upstream's masked history when "
            "you want: git pull --rebase",
        ]
    return out


def _lines(d: RefStatus, findings: Sequence[Finding], old: bytes, new: bytes) -> list[str]:
    if findings:
        lines = [f"warning: {d.ref}: {len(findings)} secret(s) masked before relaying"]
    else:
        lines = [f"gitgate: {d.ref}: rebased onto the masked history upstream"]
    for f in findings:
        where = f.location or f.path or ""
        mark = marker(f.type or "", f.hash or "").decode()
        lines.append(f"  - {f.type} at {where} (commit {short(f.commit)}) -> {mark}")
    if new != old:
        lines.append(f"  upstream {d.ref} is {new.decode()} (your {old.decode()[:12]}, rewritten)")
    return lines


def masking(config: Config) -> bool:
    """Whether any rule masks: only then does a push pay for reading the map."""
    return any(r.actions.secrets == Action.MASK for r in config.rule)


def known(config: Config, repo: str, commands: Sequence[Command]) -> Known:
    """The stored map of `repo` (agent id -> upstream id), when any rule masks; with the
    agent's own trees and commits when the push builds on a mapped commit."""
    if not masking(config):
        return Known({}, [])
    ids = mapping.load(repo)
    builds_on = any(c.old in ids for c in commands)
    return Known(ids, mapping.originals(repo) if builds_on else [])


@dataclass
class Known:
    """What earlier masks of a repo left for reading its next push (gitgate.inspection.unpack)."""

    ids: dict[bytes, bytes]
    originals: list[ShaFile]


def to_mask(d: RefStatus) -> list[Finding]:
    """The secrets a ref's rule masks, when the ref lands now (`mask`) or once approved
    (`queue`: masked before it is stored, so the queue never holds the secret either)."""
    if (
        d.effective not in (Action.MASK, Action.QUEUE)
        or d.rule is None
        or d.rule.actions.secrets != Action.MASK
    ):
        return []
    return [f for v in d.failed if v.check == "secrets" and not v.error for f in v.findings]


def for_queue(ex: Exchange, *, keep_map: bool = True) -> list[str]:
    """Mask the queued refs that carry secrets their rule masks: their commands become the
    rewritten ones (gitgate.outcomes.queueing then stores a pack of the rewritten objects only). A
    ref
    that cannot be masked is refused. Returns the lines for the agent.

    `keep_map`: the map goes on `push.queued_map`; gitgate.outcomes.queueing stores it aside with
    the
    queued push (mapping.pending_repo) and approval adopts it once relayed (remember_queued),
    so the agent's next push is translated as after a direct masked push. False for an API
    write: the gate's commit is not the agent's."""
    push = ex.push
    todo = [d for d in ex.decided(Action.QUEUE) if to_mask(d)]
    if not todo or push is None:
        return []
    try:
        masked = mask_push(push, todo, push.known)
    except Exception as err:
        log.error("masking a queued push failed: %s", type(err).__name__)  # never str(ex)
        for d in todo:
            ex.refuse(d.ref, "the gate could not mask the secret(s) found")
        return []
    for d in todo:
        ex.rewrite(d.ref, masked.commands.get(d.command.ref, d.command))
    # what the reviewer is shown (commits, paths, protected diffs) is the masked history too
    names = {d.ref for d in todo}
    push.updates = [u for u in push.updates if u.ref not in names] + [
        build_update(push, ex.status(name).command) for name in (d.ref for d in todo)
    ]
    ex.events.extend(masked.events)
    if keep_map:
        push.queued_map = masked
    return [line.replace("before relaying", "before queueing") for line in masked.lines]


def needed(ex: Exchange) -> bool:
    """Whether a relayed ref is masked, or builds on commits the gate masked earlier."""
    push = ex.push
    relayed = {d.ref for d in ex.decided(*LANDS)}
    if ex.decided(Action.MASK):
        return True
    if push is None or not push.known:
        return False
    for u in push.updates:
        if u.ref not in relayed:
            continue
        if u.command.old in push.known or any(t.object[1] in push.known for t in u.new_tags):
            return True
        if any(p in push.known for c in u.new_commits for p in c.parents):
            return True
    return False


def run(ex: Exchange) -> Masked | None:
    """The push path's step: None when nothing needs rewriting, else the rewritten commands
    are the relayed refs' (`ex.rewrite`). A ref the gate cannot mask is refused (fails
    closed), and with it every ref of an atomic push."""
    assert ex.push is not None
    relayed = ex.decided(*LANDS)
    to_mask = [d for d in relayed if d.effective == Action.MASK]
    try:
        masked = mask_push(ex.push, relayed, ex.push.known)
    except Exception as err:
        log.error("masking failed: %s", type(err).__name__)  # APPSEC: never str(ex)
        for d in to_mask:
            ex.refuse(d.ref, "the gate could not mask the secret(s) found")
        for d in ex.decided(Action.ALLOW) if ex.atomic else []:
            ex.refuse(d.ref, "atomic push: another ref in it was refused", only=True)
        return Masked() if to_mask else None
    if not masked.commands:
        return None
    for d in relayed:
        ex.rewrite(d.ref, masked.commands.get(d.command.ref, d.command))
    ex.events.extend(masked.events)
    return masked


def remember(repo: str, subject: str, masked: Masked) -> None:
    """Store the map once upstream took the rewritten objects. If the database fails the push
    has landed anyway; the agent's next push is then refused `fetch first` (git pull --rebase
    mends it), so this is logged, not raised."""
    try:
        mapping.save(repo, subject, masked.maps, masked.originals)
    except Exception as ex:
        log.error("storing the mask map of %s failed: %s", repo, type(ex).__name__)


def remember_queued(repo: str, push_id: int) -> None:
    """Approval relayed queued push `push_id`: the map it was queued with becomes the repo's
    (as remember(): logged, never raised; the push has landed)."""
    try:
        mapping.adopt_pending(repo, push_id)
    except Exception as ex:
        log.error("storing the mask map of %s failed: %s", repo, type(ex).__name__)
