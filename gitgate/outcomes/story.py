"""What became of a queued push, in the words an agent reads (`remote:` lines, `ng` reasons).

Used when a held push ends (gitgate.outcomes.hold) and on the agent's next push to the repo, so the
agent always hears the end of the story: relayed -> fetch; stale -> the exact commands to
rebase; rejected -> the reviewer's reason; failed -> the gate's fault, not the agent's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

from gitgate.git.wire import one_line, progress, section_at

log = logging.getLogger("gitgate.story")

if TYPE_CHECKING:
    from gitgate.exchange import Caller
    from gitgate.store.queue_views import PushInfo


def _branch(ref: str) -> str:
    return ref.removeprefix("refs/heads/")


def outcome_lines(info: PushInfo) -> tuple[list[str], str]:
    """(`remote:` lines, one-line `ng` reason) for a queue entry in a final state."""
    n = info.id
    refs = info.summary.get("ref_updates", [])
    names = ", ".join(_branch(r["ref"]) for r in refs) or "?"
    comments = [
        f"  {d.verdict} by {d.reviewer}: {one_line(d.comment, 300)}"
        for d in info.decisions
        if d.comment
    ]
    state = info.state
    if state == "relayed":
        approvers = ", ".join(info.approvers) or "a reviewer"
        lines = [f"gitgate: queued push #{n} ({names}) was approved by {approvers} and relayed:"]
        lines += [f"  {r['ref']} is now {r['new'][:12]} upstream" for r in refs]
        lines += comments
        lines.append("hint: run `git fetch` to bring your remote-tracking branches up to date")
        return lines, f"#{n} relayed"
    if state == "rejected":
        reason = one_line(info.state_reason or "rejected", 300)
        lines = [f"error: queued push #{n} ({names}) was {reason}"]
        lines.append("hint: change what the reviewer asked for, commit, and push again")
        return lines, f"#{n} {reason}"
    if state == "stale":
        lines = [
            f"error: queued push #{n} ({names}) went stale: upstream moved before it could be "
            "relayed; nothing was forced"
        ]
        for r in refs:
            branch = _branch(r["ref"])
            lines.append(
                f"hint: git fetch origin && git rebase origin/{branch} && "
                f"git push origin HEAD:{branch}"
            )
        return lines, f"#{n} went stale: upstream moved; fetch, rebase and push again"
    if state == "failed":
        detail = one_line(info.state_reason or "", 200)
        lines = [
            f"error: queued push #{n} ({names}) was approved but the gate could not relay it "
            f"({detail}); this is the gate's problem, not yours",
            f"hint: ask the gitgate admin (`gitgate review show {n}`); push again once fixed",
        ]
        return lines, f"#{n} approved, but the gate's relay failed (not your fault)"
    if state == "expired":
        lines = [
            f"error: queued push #{n} ({names}) expired before a reviewer decided",
            "hint: push again if the change is still needed",
        ]
        return lines, f"#{n} expired before review; push again if still needed"
    if state == "superseded":
        lines = [f"gitgate: queued push #{n} was superseded by #{info.superseded_by}"]
        return lines, f"#{n} superseded by #{info.superseded_by} (no need to push again)"
    return [f"gitgate: queued push #{n} is {state}"], f"#{n} is {state}"


def story_lines(repo: str, subject: str) -> tuple[list[str], list[int]]:
    """Lines about the agent's queued pushes on ``repo`` that ended since it was last told,
    and their ids (mark them told once the lines are sent)."""
    from gitgate.store import changes

    lines: list[str] = []
    ids: list[int] = []
    for info in changes.untold(repo, subject):
        more, _ = outcome_lines(info)
        lines.extend(more)
        ids.append(info.id)
    return lines, ids


PACKFILE = b"000dpackfile\n"  # protocol v2: the fetch response's packfile section starts here
MAX_HEAD = 1 << 20  # the sections before it are small; past this, pass through untouched


def on_fetch(body: Iterator[bytes], caller: Caller, protocol_v2: bool) -> Iterator[bytes]:
    """A fetch response with the agent's untold queue outcomes as `remote:` lines, inserted
    right after the v2 `packfile` section header (where git demultiplexes side-band).

    Only v2 fetches that carry a pack can show them (a fetch with nothing new has no side-band
    channel); otherwise the response passes untouched and the next push tells the story.
    """
    lines: list[str] = []
    ids: list[int] = []
    if protocol_v2:
        try:
            lines, ids = story_lines(caller.repo, caller.subject)
        except Exception:  # never fail a fetch over the story of a push
            log.exception("could not read the queue outcomes for %s", caller.subject)
    if not lines:
        yield from body
        return
    head = b""
    passing = False
    for chunk in body:
        if passing:
            yield chunk
            continue
        head += chunk
        at = section_at(head, b"packfile")
        if at is None and len(head) < MAX_HEAD:
            continue
        passing = True
        if at is not None:
            end = at + len(PACKFILE)
            yield head[:end] + progress(lines) + head[end:]
            mark_told(ids)
        else:
            yield head
    if not passing and head:
        yield head


def mark_told(ids: list[int]) -> None:
    from gitgate.store import changes

    changes.mark_told(ids)
