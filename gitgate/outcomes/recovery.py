"""Relays that died half-way: upstream, not a timer, says what became of them.

A claimed push ("relaying") whose claimer process is gone may have landed upstream, or not, or
upstream may have moved on. Whoever takes the claim over (the maintenance thread of any gate
instance, or `gitgate review recover`) reads upstream's refs and compares them with the stored
commands:

- every ref at the pushed id   -> ``relayed`` (the relay landed before its process died);
- every ref still at the old id -> relayed again now (the approvals stand);
- anything else                 -> ``stale``: nothing is forced, the agent rebases.

Upstream unreachable (or any error): the claim is given back (``released``) and the next round,
on any instance, tries again; that is the gate's problem, never reported as the agent's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from gitgate.git.relay import advertised_refs
from gitgate.git.wire import parse_push_request
from gitgate.outcomes.approval import RelayOutcome, announce, relay_stored
from gitgate.upstream.http import Upstream, UpstreamError

log = logging.getLogger("gitgate.recovery")
ZERO = b"0" * 40
REMOTE_CLAIM_S = 3600.0  # a claimer on another host cannot be checked: its claim's age decides


@dataclass(frozen=True)
class Recovered:
    push_id: int
    state: str  # relayed | stale | failed | relaying (upstream unreachable: unchanged)
    reason: str


def resolve(push_id: int, upstream: Upstream) -> Recovered:
    """Resolve a push whose claim the caller has just taken over (queue.take_over)."""
    from gitgate.store import queue

    info = queue.get(push_id)
    if info is None:
        raise LookupError(f"no queued push #{push_id}")
    with queue.open_payload(push_id) as body:
        commands = parse_push_request(body).commands
    try:
        current = advertised_refs(upstream, info.repo)
    except UpstreamError as ex:
        log.warning("cannot resolve interrupted relay #%s: upstream: %s", push_id, ex)
        queue.release(push_id)
        return Recovered(push_id, "relaying", f"upstream unreachable, tried again later: {ex}")
    if all(current.get(c.ref, ZERO) == c.new for c in commands):
        reason = "upstream already had every ref at the pushed id: the interrupted relay landed"
        queue.finish(push_id, "relayed", reason, "")
        announce("relayed", info, state="relayed", detail=reason)
        return Recovered(push_id, "relayed", reason)
    if all(current.get(c.ref, ZERO) == c.old for c in commands):
        outcome: RelayOutcome = relay_stored(push_id, upstream)
        return Recovered(push_id, outcome.state, f"relayed again: {outcome.reason}")
    moved = ", ".join(
        c.ref.decode() for c in commands if current.get(c.ref, ZERO) not in (c.old, c.new)
    )
    reason = (
        f"the relay was interrupted and upstream moved meanwhile ({moved or 'some refs'}); "
        "nothing was forced: the agent must fetch, rebase and push again"
    )
    queue.finish(push_id, "stale", reason, "")
    announce("stale", info, state="stale", detail=reason)
    return Recovered(push_id, "stale", reason)


def recover(
    upstream: Upstream,
    ids: list[int] | None = None,
    *,
    force: bool = False,
    remote_after_s: float = REMOTE_CLAIM_S,
) -> list[Recovered]:
    """Resolve every interrupted relay (or only ``ids``). ``force`` also takes over claims
    whose claimer cannot be checked from here (another host): the admin says it is gone."""
    from gitgate.store import queue

    if force:
        candidates = [p for p in queue.list_pushes("relaying") if ids is None or p.id in ids]
        candidates = [p for p in candidates if queue.claimer_alive(p.claimed_by) is not True]
    else:
        candidates = [p for p in queue.interrupted(remote_after_s) if ids is None or p.id in ids]
    done = []
    for info in candidates:
        if not queue.take_over(info.id, info.claimed_by):
            continue  # another instance took it over first
        log.warning("queued push #%s: its relay was interrupted; asking upstream", info.id)
        try:
            done.append(resolve(info.id, upstream))
        except Exception:
            log.exception("resolving interrupted relay #%s failed; tried again later", info.id)
            queue.release(info.id)
    return done
