"""Queue for human approval, and hold: keep the push open until its reviewer decides.

The queued refs (masked first when their rule masks: the queue never holds a secret) become
one entry per change (gitgate.outcomes.queueing). The queue being unavailable or refusing the push
is
not a new decision: the refs' status becomes a refusal with the queue's reason first. A held
push (`git push -o gitgate.wait=10m`, gitgate.outcomes.hold) ends with the entry's real outcome.
"""

from __future__ import annotations

from typing import BinaryIO, Protocol

from gitgate.config import Config
from gitgate.exchange import Caller, Exchange, RefStatus
from gitgate.git import messages
from gitgate.git.quarantine import Quarantine
from gitgate.git.wire import PushRequest
from gitgate.inspection.push import Push
from gitgate.mask import apply as mask_apply
from gitgate.outcomes import Outcome, Wire, hold
from gitgate.policy import Action, Decision
from gitgate.store.changes import Enqueued


class QueueHook(Protocol):
    """What the push path needs from the approval queue (gitgate.outcomes.queueing.QueueService)."""

    def enqueue(
        self,
        caller: Caller,
        req: PushRequest,
        queued: list[RefStatus],
        spool: BinaryIO,
        quarantine: Quarantine,
        push: Push | None,
    ) -> Enqueued: ...

    def break_glass(self, caller: Caller, decisions: list[Decision], reason: str) -> None: ...


class Queue(Outcome):
    def __init__(self, config: Config, queue: QueueHook | None, holder: hold.Holder | None):
        self.config = config
        self.queue = queue
        self.holder = holder

    def prepare(self, ex: Exchange, wire: Wire) -> list[str]:
        lines = mask_apply.for_queue(ex) if ex.decided(Action.QUEUE) else []
        queued = ex.decided(Action.QUEUE)
        if queued:
            self._enqueue(ex, wire, queued)
        wait_lines: list[str] = []
        if ex.enqueued is not None and self.holder is not None and wire.req.sideband:
            rules = [s.rule for s in ex.decided(Action.QUEUE)]
            wire.wait, wait_lines = hold.requested_wait(ex.push_options, rules, self.config.queue)
        return lines + messages.queue_lines(ex.enqueued) + wait_lines

    def _enqueue(self, ex: Exchange, wire: Wire, queued: list[RefStatus]) -> None:
        from gitgate.outcomes.approval import QueueRefused

        try:
            if self.queue is None:
                raise QueueRefused("the approval queue is not available on this gate")
            entry = self.queue.enqueue(
                ex.caller, wire.req, queued, wire.spool, wire.quarantine, ex.push
            )
        except QueueRefused as err:
            for s in queued:
                ex.refuse(s.ref, str(err))
            return
        ex.enqueued = entry
        ex.events.extend(entry.events)
        for s in queued:
            ex.queue_ids[s.ref] = entry.id

    def apply(self, ex: Exchange, wire: Wire) -> dict[bytes, str | None]:
        return {
            s.command.ref: messages.ref_reason(s, ex.queue_ids.get(s.ref), ex.enqueued)
            for s in ex.decided(Action.QUEUE)
        }

    def holds(self, ex: Exchange, wire: Wire) -> bool:
        """Whether the push is to be held open for its review (after its quarantine and
        the mirror's lock are let go: a hold may last minutes)."""
        return wire.wait > 0 and ex.enqueued is not None and self.holder is not None

    def hold(self, ex: Exchange, wire: Wire) -> None:
        """Hold the queue entry open; its refs' statuses become the entry's real outcome."""
        assert self.holder is not None
        ex.statuses = hold.hold_statuses(
            self.holder, ex.caller, wire.wait, ex.statuses, wire.say, ex
        )
