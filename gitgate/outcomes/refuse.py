"""Refuse in-band: the ref's `ng` reason names the rule and its first reason."""

from __future__ import annotations

from gitgate.exchange import Exchange
from gitgate.git import messages
from gitgate.outcomes import Outcome, Wire
from gitgate.policy import Action


class Refuse(Outcome):
    def apply(self, ex: Exchange, wire: Wire) -> dict[bytes, str | None]:
        return {s.command.ref: messages.ref_reason(s) for s in ex.decided(Action.REJECT)}
