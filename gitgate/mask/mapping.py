"""The stored map of what the `mask` action rewrote: per repo, the agent's id -> upstream's.

Why it exists: the agent answered plain `ok` still has its unmasked commits, and its next push
builds on them. With the map the gate (any instance: it is in the database) rebases such a push
onto the masked commits, and shows the agent that pushed them its own tip in the receive-pack
advertisement, so its `git push` stays a fast-forward (see docs/design.md "Masking").
Only ids are stored, never content. The map of one repo is read whole per push; it grows with
the objects masking rewrote (about three rows per rewritten commit).
"""

from __future__ import annotations

from collections.abc import Iterable

from dulwich.objects import Commit, ShaFile, Tree

from gitgate.db import connection, write_transaction
from gitgate.db.models import FINISHED_STATES, RELAYED, MaskMap, QueuedPush

BATCH = 500
TIP_KINDS = ("commit", "tag")
PENDING_MARK = "#queued/"
ABANDONED_STATES = FINISHED_STATES - {RELAYED}  # their waiting map is never adopted


def save(
    repo: str,
    subject: str,
    maps: dict[str, dict[bytes, bytes]],
    originals: dict[bytes, ShaFile] | None = None,
) -> int:
    """Record `maps` (kind -> {agent id: upstream id}); ids already mapped are kept.

    `originals`: the agent's own trees (and commits whose message held no secret), kept
    because its next push is a thin pack that may deltify against them; never a masked blob.
    """
    originals = originals or {}
    rows = [
        {
            "repo": repo,
            "kind": kind,
            "agent_oid": a.decode(),
            "upstream_oid": u.decode(),
            "subject": subject,
            "original": _raw(originals.get(a)),
        }
        for kind, pairs in maps.items()
        for a, u in pairs.items()
        if a != u
    ]
    with connection(), write_transaction():
        for i in range(0, len(rows), BATCH):
            MaskMap.insert_many(rows[i : i + BATCH]).on_conflict_ignore().execute()
    return len(rows)


def _raw(obj: ShaFile | None) -> bytes | None:
    if obj is None or obj.type_num not in (Commit.type_num, Tree.type_num):
        return None
    return bytes([obj.type_num]) + obj.as_raw_string()


def originals(repo: str) -> list[ShaFile]:
    """The agent's own trees and commits kept by save()."""
    with connection():
        query = MaskMap.select(MaskMap.original).where(
            (MaskMap.repo == repo) & MaskMap.original.is_null(False)
        )
        return [_object(bytes(r.original or b"")) for r in query]


def _object(data: bytes) -> ShaFile:
    return ShaFile.from_raw_string(data[0], data[1:])


def load(repo: str) -> dict[bytes, bytes]:
    """Every mapped id of `repo`: agent's id -> upstream's id (all kinds)."""
    with connection():
        query = MaskMap.select(MaskMap.agent_oid, MaskMap.upstream_oid).where(MaskMap.repo == repo)
        return {r.agent_oid.encode(): r.upstream_oid.encode() for r in query}


def synced(repo: str, subject: str) -> int:
    """`subject` fetched `repo` (and so was given upstream's masked commits): from now on it
    is shown upstream as it is. A fetch is how an agent syncs (`git pull --rebase`); after it,
    its own old tip would make its next push look like a non-fast-forward."""
    with connection(), write_transaction():
        query = MaskMap.update(subject="").where(
            (MaskMap.repo == repo) & (MaskMap.subject == subject)
        )
        return int(query.execute())


def own_tips(repo: str, subject: str, upstream_ids: Iterable[bytes]) -> dict[bytes, bytes]:
    """For the advertisement: upstream id -> the id `subject` itself pushed for it."""
    wanted = sorted({u.decode() for u in upstream_ids})
    if not wanted:
        return {}
    with connection():
        query = (
            MaskMap.select(MaskMap.agent_oid, MaskMap.upstream_oid)
            .where(
                (MaskMap.repo == repo)
                & (MaskMap.subject == subject)
                & (MaskMap.kind << list(TIP_KINDS))
                & (MaskMap.upstream_oid << wanted)
            )
            .order_by(MaskMap.id)
        )
        return {r.upstream_oid.encode(): r.agent_oid.encode() for r in query}


def pending_repo(repo: str, push_id: int) -> str:
    """Where a queued masked push's map waits for approval: not `repo`, so nothing is
    translated onto commits upstream does not have yet (a repo name never holds `#`)."""
    return f"{repo}{PENDING_MARK}{push_id}"


def adopt_pending(repo: str, push_id: int) -> int:
    """Approval relayed queued push `push_id`: its waiting map becomes `repo`'s (ids already
    mapped are kept, as in save())."""
    src = pending_repo(repo, push_id)
    with connection(), write_transaction():
        rows = [
            {
                "repo": repo,
                "kind": r.kind,
                "agent_oid": r.agent_oid,
                "upstream_oid": r.upstream_oid,
                "subject": r.subject,
                "original": r.original,
            }
            for r in MaskMap.select().where(MaskMap.repo == src)
        ]
        for i in range(0, len(rows), BATCH):
            MaskMap.insert_many(rows[i : i + BATCH]).on_conflict_ignore().execute()
        MaskMap.delete().where(MaskMap.repo == src).execute()
    return len(rows)


def purge_pending() -> int:
    """Delete the waiting maps no approval will ever adopt (for `gitgate purge`): those of
    queued pushes that ended otherwise (rejected, expired, stale, failed, superseded) and of
    entries that no longer exist. Returns the number of rows removed.

    A pending or relaying push keeps its map (it may still be relayed), and so does a relayed
    one (adopt_pending removes its own; rows left there mean adoption is still owed). A name
    that does not parse as pending_repo() wrote it is left alone: never delete the unknown.
    """
    with connection(), write_transaction():
        names = [
            r.repo
            for r in MaskMap.select(MaskMap.repo)
            .where(MaskMap.repo.contains(PENDING_MARK))
            .distinct()
        ]
        owners: list[tuple[int, str]] = []  # one id may appear under several repo names
        for name in names:
            repo, _, number = name.rpartition(PENDING_MARK)
            if repo and number.isdigit() and pending_repo(repo, int(number)) == name:
                owners.append((int(number), name))
        ids = sorted({push_id for push_id, _ in owners})
        entries: dict[int, tuple[str, str]] = {}
        for i in range(0, len(ids), BATCH):
            query = QueuedPush.select(QueuedPush.id, QueuedPush.repo, QueuedPush.state)
            for e in query.where(QueuedPush.id << ids[i : i + BATCH]):
                entries[e.id] = (e.repo, e.state)
        gone = [
            name
            for push_id, name in owners
            if push_id not in entries  # the entry is gone, or the id now names another repo's
            or pending_repo(entries[push_id][0], push_id) != name
            or entries[push_id][1] in ABANDONED_STATES
        ]
        removed = 0
        for i in range(0, len(gone), BATCH):
            removed += int(MaskMap.delete().where(MaskMap.repo << gone[i : i + BATCH]).execute())
    return removed
