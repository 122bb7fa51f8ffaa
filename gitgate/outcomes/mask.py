"""Mask: rewrite what lands so that upstream gets markers, never the secret values.

Runs before the relay, over every ref that lands: those decided `mask`, and allowed ones that
build on commits the gate masked earlier (they are rebased onto the masked copies). A ref
that cannot be masked is refused (fails closed), with every ref of an atomic push. The
rewritten refs are then relayed with the allowed ones, in one upstream push
(gitgate.outcomes.relay).
"""

from __future__ import annotations

from gitgate.exchange import Exchange
from gitgate.git.mirror import Mirrors
from gitgate.mask import apply as mask_apply
from gitgate.outcomes import Outcome, Wire


class Mask(Outcome):
    def __init__(self, mirrors: Mirrors) -> None:
        self.mirrors = mirrors

    def prepare(self, ex: Exchange, wire: Wire) -> list[str]:
        if not mask_apply.needed(ex):
            return []
        # what upstream took since the mirror last fetched (an earlier masked push is
        # never adopted) is what the rewrite builds on
        self.mirrors.fetch(ex.repo)
        wire.masked = mask_apply.run(ex)
        return wire.masked.lines if wire.masked else []
