"""The outcomes table: each action and what carries it out, in the order they are applied."""

from __future__ import annotations

from gitgate.config import Config
from gitgate.git.mirror import Mirrors
from gitgate.outcomes import Table
from gitgate.outcomes.hold import Holder
from gitgate.outcomes.mask import Mask
from gitgate.outcomes.queue import Queue, QueueHook
from gitgate.outcomes.refuse import Refuse
from gitgate.outcomes.relay import Relay
from gitgate.policy import Action
from gitgate.upstream.http import Upstream


def table(
    config: Config,
    upstream: Upstream,
    mirrors: Mirrors,
    queue: QueueHook | None,
    holder: Holder | None,
) -> Table:
    """MASK first: it rewrites what lands, and may still refuse; ALLOW relays the allowed and
    the masked refs together (one upstream push, as the agent made one); QUEUE stores and
    may hold; REJECT reports. A ref is reported by exactly one of relay, queue, refuse."""
    return {
        Action.MASK: Mask(mirrors),
        Action.ALLOW: Relay(upstream, mirrors),
        Action.QUEUE: Queue(config, queue, holder),
        Action.REJECT: Refuse(),
    }
