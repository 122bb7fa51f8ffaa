"""Relay: send what lands (allowed and masked refs) upstream, in one push, and report back.

APPSEC: when some refs of the push were not allowed, or were rewritten, upstream gets a pack
of the relayed refs' objects only, never the client's whole pack; and only a pack upstream
took whole may join the mirror.
"""

from __future__ import annotations

from gitgate.exchange import Exchange
from gitgate.git.mirror import Mirrors
from gitgate.git.quarantine import Quarantine
from gitgate.git.relay import RelayResult, relay, repack
from gitgate.git.wire import Command
from gitgate.mask import apply as mask_apply
from gitgate.outcomes import Outcome, Wire
from gitgate.policy import LANDS
from gitgate.upstream.http import Upstream


class Relay(Outcome):
    def __init__(self, upstream: Upstream, mirrors: Mirrors) -> None:
        self.upstream = upstream
        self.mirrors = mirrors

    def apply(self, ex: Exchange, wire: Wire) -> dict[bytes, str | None]:
        relayed = ex.decided(*LANDS)
        if not relayed:
            return {}
        commands = [s.command for s in relayed]  # a masked ref's are its rewritten ids
        # the client's pack holds a secret (masked) or a refused ref's objects (fewer refs)
        partial = wire.masked is not None or len(commands) != len(ex.commands)
        result = self._relay(ex, wire, commands, partial)
        ex.relay = result
        accepted = [(c.ref, c.new) for c in commands if result.ok(c.ref)]
        if wire.masked is not None and accepted:
            mask_apply.remember(ex.repo, ex.caller.subject, wire.masked)
        if accepted and not partial and len(accepted) == len(commands):
            # APPSEC: only a pack upstream took whole may join the mirror. The mirror
            # means "upstream has it" (new-commit walks stop there): adopting a pack that
            # also holds a refused ref's objects would let that ref pass unscanned later.
            # A partial relay adopts nothing (and records no refs that would then point
            # at objects the mirror lacks); the next push fetches what it needs.
            repo, quarantine = ex.repo, wire.quarantine
            wire.after.append(lambda: self._adopt(repo, quarantine, accepted))
        return {c.ref: _reason(c.ref, result) for c in commands}

    def _adopt(
        self, repo: str, quarantine: Quarantine, accepted: list[tuple[bytes, bytes]]
    ) -> None:
        """The mirror takes what upstream took: the pack, then the refs."""
        self.mirrors.adopt_pack(repo, quarantine)
        self.mirrors.update_refs(repo, accepted)

    def _relay(
        self, ex: Exchange, wire: Wire, commands: list[Command], partial: bool
    ) -> RelayResult:
        req, spool = wire.req, wire.spool
        if partial and any(not c.is_delete for c in commands):
            # APPSEC: never send upstream the objects of refs the gate refused.
            self.mirrors.fetch(ex.repo)
            pack = repack(wire.quarantine, str(self.mirrors.path(ex.repo)), commands)
            length = pack.seek(0, 2)
            pack.seek(0)
        elif req.needs_pack and any(not c.is_delete for c in commands):
            pack = spool
            length = spool.seek(0, 2) - req.pack_offset
            spool.seek(req.pack_offset)
        else:
            pack, length = None, 0
        try:
            return relay(self.upstream, ex.repo, req, commands, pack, length, wire.forward)
        finally:
            if pack is not None and pack is not spool:
                pack.close()


def _reason(ref: bytes, result: RelayResult) -> str | None:
    """Upstream's word on `ref`: None when it took it, else its `ng` reason."""
    lines = result.refs.get(ref) or []
    if lines and lines[0].startswith(b"ok "):
        return None
    if not lines:
        return "upstream did not report this ref"
    return lines[0][3 + len(ref) + 1 :].decode("utf-8", "replace")
