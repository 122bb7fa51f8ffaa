"""One push, end to end: inspect, decide, then relay, refuse in-band or queue.

The HTTP status of a well-formed push is always 200; every outcome travels in-band as
report-status (`ok` / `ng <ref> <reason>`) plus side-band `remote:` lines, because that is the
only channel git shows its user in full. The work runs in a thread while the response
generator sends side-band keepalives, so no proxy drops a long inspection.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol

from dulwich.protocol import SIDE_BAND_CHANNEL_PROGRESS

from gitgate import diskfull, hold, messages, shutdown
from gitgate.checks.base import Check, CheckContext
from gitgate.config import Config, Rule
from gitgate.inspect import Limits, OverLimit, UnpackError, run_checks, unpacked
from gitgate.mask import apply as mask_apply
from gitgate.metrics import INSPECTION_SECONDS, PUSHES_IN_FLIGHT
from gitgate.mirror import Mirrors, Quarantine
from gitgate.policy import RefDecision, break_glass_reason, decide, rule_for
from gitgate.protocol import (
    KEEPALIVE,
    Command,
    PushRequest,
    final_report,
    one_line,
    progress,
    sideband,
)
from gitgate.push import Push
from gitgate.relay import RelayResult, relay, repack
from gitgate.store.changes import Enqueued
from gitgate.upstream import Upstream, UpstreamError

log = logging.getLogger("gitgate.receive")
KEEPALIVE_S = 5.0
_DONE = object()


@dataclass
class Caller:
    """Who is pushing, from where: the request's context for checks and the audit record."""

    repo: str
    subject: str = "anonymous"
    groups: tuple[str, ...] = ()
    issuer: str = ""
    source_addr: str = ""
    request_id: str = ""
    identity: Any = None


@dataclass
class PushOutcome:
    """What happened, for the audit record."""

    decisions: list[RefDecision] = field(default_factory=list)
    relay: RelayResult | None = None
    queue_ids: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    statuses: list[tuple[bytes, str | None]] = field(default_factory=list)
    enqueued: Enqueued | None = None
    events: list[dict[str, Any]] = field(default_factory=list)  # superseded, hold
    cancelled: threading.Event = field(default_factory=threading.Event)  # the client left
    held: Any = None  # (seconds, say, unpack, relay lines) when the push is to be held


class QueueHook(Protocol):
    """What ReceivePack needs from the approval queue (gitgate.queueing.QueueService)."""

    def enqueue(
        self,
        caller: Caller,
        req: PushRequest,
        queued: list[RefDecision],
        spool: BinaryIO,
        quarantine: Quarantine,
        push: Push,
    ) -> Enqueued: ...

    def break_glass(self, caller: Caller, decisions: list[RefDecision], reason: str) -> None: ...


class ReceivePack:
    def __init__(
        self,
        config: Config,
        upstream: Upstream,
        mirrors: Mirrors,
        checks: Sequence[Check],
        scanner: Any = None,
        queue: QueueHook | None = None,
        review_hint: str = "",
        holder: Any = None,
    ) -> None:
        self.config = config
        self.upstream = upstream
        self.mirrors = mirrors
        self.checks = checks
        self.scanner = scanner
        self.queue = queue
        self.review_hint = review_hint
        self.stopping = shutdown.STOPPING  # set in a gunicorn worker by SIGTERM
        self.holder = holder  # gitgate.hold.Holder: held pushes (git push -o gitgate.wait=)

    def respond(
        self,
        caller: Caller,
        spool: BinaryIO,
        req: PushRequest,
        on_done: Callable[[PushOutcome], None] | None = None,
    ) -> Iterator[bytes]:
        """The response body, streamed: progress and keepalives first, the report last."""
        events: queue.Queue[Any] = queue.Queue()
        outcome = PushOutcome()

        def work() -> None:
            PUSHES_IN_FLIGHT.inc()
            try:
                events.put(self._process(caller, spool, req, events.put, outcome))
            except Exception as ex:
                full = diskfull.is_disk_full(ex)
                if full:  # the gate's fault, not the pack's nor upstream's: say so
                    diskfull.report(f"receiving a push to {caller.repo}", caller.request_id)
                    reason = diskfull.message(caller.request_id)
                    self._say(req, events.put, [f"error: {reason}"])
                else:
                    log.exception("push to %s failed inside the gate", caller.repo)
                    reason = f"gitgate internal error (request {caller.request_id})"
                outcome.error = (
                    "out of disk space" if full else f"internal error: {type(ex).__name__}"
                )
                outcome.statuses = [(c.ref, reason) for c in req.commands]
                events.put(self._final(req, "ok", outcome.statuses, {}))
            finally:
                PUSHES_IN_FLIGHT.dec()
                spool.close()
                if on_done:
                    try:
                        on_done(outcome)
                    except Exception:
                        log.exception("recording the push to %s failed", caller.repo)
                events.put(_DONE)

        thread = threading.Thread(target=work, name=f"push-{caller.request_id}", daemon=True)
        thread.start()
        try:
            while True:
                try:
                    item = events.get(timeout=KEEPALIVE_S)
                except queue.Empty:
                    if req.sideband:
                        yield KEEPALIVE
                    continue
                if item is _DONE:
                    break
                yield item
        finally:
            outcome.cancelled.set()  # a held push stops waiting for a client that left

    def _say(self, req: PushRequest, emit: Callable[[bytes], None], lines: list[str]) -> None:
        if lines and req.sideband:
            emit(progress(lines))

    def _process(
        self,
        caller: Caller,
        spool: BinaryIO,
        req: PushRequest,
        emit: Callable[[bytes], None],
        outcome: PushOutcome,
    ) -> bytes:
        rules: dict[str, Rule | None] = {
            c.ref.decode("utf-8", "replace"): rule_for(
                self.config.rule, caller.repo, c.ref.decode("utf-8", "replace"), caller.groups
            )
            for c in req.commands
        }
        writable = {ref: r for ref, r in rules.items() if r is not None and r.access == "write"}
        started = time.monotonic()
        try:
            inspect = [c for c in req.commands if c.ref.decode("utf-8", "replace") in writable]
            with unpacked(
                self.mirrors,
                caller.repo,
                spool,
                req,
                inspect,
                known=mask_apply.known(self.config, caller.repo, req.commands),
                limits=Limits(
                    max_bytes=self.config.storage.max_push_bytes,
                    max_object_bytes=self.config.storage.max_object_bytes,
                    max_inflated_bytes=self.config.storage.max_inflated_bytes,
                ),
            ) as (quarantine, push):
                ctx = CheckContext(self.config, self.scanner, caller.identity, caller.request_id)
                verdicts = run_checks(self.checks, push, writable, ctx) if writable else []
                INSPECTION_SECONDS.observe(time.monotonic() - started)  # unpack + checks
                if self.stopping.is_set():
                    # SIGTERM: scans were stopped mid-way; nothing half-checked goes anywhere
                    return self._shutting_down(caller, req, emit, outcome)
                decisions = decide(
                    req.commands,
                    rules,
                    verdicts,
                    groups=caller.groups,
                    push_options=push.push_options,
                    atomic=req.atomic,
                )
                outcome.decisions = decisions
                final = self._act(caller, spool, req, decisions, quarantine, push, emit, outcome)
            if outcome.held is None:
                return final
        except UnpackError as ex:
            outcome.error = str(ex)
            over = isinstance(ex, OverLimit)  # not a broken pack: a push over the limits
            statuses: list[tuple[bytes, str | None]] = [
                (c.ref, one_line(str(ex)) if over else f"unpack failed: {ex}") for c in req.commands
            ]
            self._say(req, emit, [f"error: {ex}"])
            outcome.statuses = statuses
            unpack = "push over the gate's size limits" if over else one_line(str(ex))
            return self._final(req, "error " + unpack, statuses, {})
        except UpstreamError as ex:
            outcome.error = str(ex)
            self._say(req, emit, [f"error: {ex}"])
            outcome.statuses = [(c.ref, one_line(str(ex))) for c in req.commands]
            return self._final(req, "ok", outcome.statuses, {})
        # Held for review: outside `unpacked`, so neither the quarantine nor the mirror's
        # shared lock (which the nightly repack waits for) is kept while waiting.
        spool.close()
        wait, say, unpack, relay_lines = outcome.held
        assert self.holder is not None
        outcome.statuses = hold.hold_statuses(
            self.holder, caller, wait, outcome.statuses, say, outcome
        )
        return self._final(req, unpack, outcome.statuses, relay_lines)

    def _shutting_down(
        self,
        caller: Caller,
        req: PushRequest,
        emit: Callable[[bytes], None],
        outcome: PushOutcome,
    ) -> bytes:
        reason = (
            f"the gate is shutting down (request {caller.request_id}): nothing was relayed or "
            "queued; push again in a minute"
        )
        outcome.error = "shutting down"
        outcome.statuses = [(c.ref, reason) for c in req.commands]
        self._say(req, emit, [f"error: {reason}"])
        return self._final(req, "ok", outcome.statuses, {})

    def _act(
        self,
        caller: Caller,
        spool: BinaryIO,
        req: PushRequest,
        decisions: list[RefDecision],
        quarantine: Quarantine,
        push: Push,
        emit: Callable[[bytes], None],
        outcome: PushOutcome,
    ) -> bytes:
        glass = [d for d in decisions if d.break_glass]
        if glass and self.queue is not None:
            self.queue.break_glass(caller, glass, break_glass_reason(push.push_options) or "")
        to_relay = [d.command for d in decisions if d.effective in ("allow", "mask")]
        to_queue = [d for d in decisions if d.effective == "queue"]
        partial = len(to_relay) != len(req.commands)
        masked = None
        if mask_apply.needed(push, decisions):
            # what upstream took since the mirror last fetched (an earlier masked push is
            # never adopted) is what the rewrite builds on
            self.mirrors.fetch(caller.repo)
            masked = mask_apply.run(push, decisions, outcome.events, atomic=req.atomic)
        if masked is not None:
            # The client's pack holds the secret: relay a pack of the rewritten objects only
            # (the partial path), and let the mirror adopt nothing of this quarantine.
            to_relay = [
                masked.commands.get(d.command.ref, d.command)
                for d in decisions
                if d.effective in ("allow", "mask")
            ]
            partial = True
        queue_mask_lines: list[str] = []
        if to_queue:
            queue_mask_lines = mask_apply.for_queue(push, to_queue, outcome.events)
            to_queue = [d for d in to_queue if d.effective == "queue"]
        if to_queue:
            self._queue(caller, spool, req, to_queue, quarantine, push, outcome)
        max_f = self.config.scan.max_findings_shown
        say: Callable[[list[str]], None] = lambda lines: self._say(req, emit, lines)  # noqa: E731
        told = hold.tell_story(caller, say) if self.queue is not None and req.sideband else []
        wait, wait_lines = 0.0, list[str]()
        if outcome.enqueued is not None and self.holder is not None and req.sideband:
            rules = [d.rule for d in to_queue if d.effective == "queue"]
            wait, wait_lines = hold.requested_wait(push.push_options, rules, self.config.queue)
        self._say(
            req,
            emit,
            messages.summary_lines(
                decisions,
                max_findings=max_f,
                queue_ids=outcome.queue_ids,
                review_hint=self.review_hint,
            )
            + (masked.lines if masked else [])
            + queue_mask_lines
            + messages.queue_lines(outcome.enqueued)
            + wait_lines,
        )
        relay_lines: dict[bytes, list[bytes]] = {}
        unpack = "ok"
        if to_relay:
            result = self._relay(caller, spool, req, to_relay, quarantine, partial, emit)
            outcome.relay = result
            unpack = result.unpack
            relay_lines = result.refs
            accepted = [(c.ref, c.new) for c in to_relay if result.ok(c.ref)]
            if masked is not None and accepted:
                mask_apply.remember(caller.repo, caller.subject, masked)
            if accepted and not partial and len(accepted) == len(to_relay):
                # APPSEC: only a pack upstream took whole may join the mirror. The mirror
                # means "upstream has it" (new-commit walks stop there): adopting a pack that
                # also holds a refused ref's objects would let that ref pass unscanned later.
                # A partial relay adopts nothing (and records no refs that would then point
                # at objects the mirror lacks); the next push fetches what it needs.
                self.mirrors.adopt_pack(caller.repo, quarantine)
                self.mirrors.update_refs(caller.repo, accepted)
        statuses = []
        for d in decisions:
            ref = d.command.ref
            if d.effective in ("allow", "mask"):
                lines = relay_lines.get(ref) or []
                ok = bool(lines) and lines[0].startswith(b"ok ")
                reason = (
                    None
                    if ok
                    else (
                        lines[0][3 + len(ref) + 1 :].decode("utf-8", "replace")
                        if lines
                        else "upstream did not report this ref"
                    )
                )
                statuses.append((ref, reason))
            else:
                statuses.append(
                    (ref, messages.ref_reason(d, outcome.queue_ids.get(d.ref), outcome.enqueued))
                )
        outcome.statuses = statuses
        hold.mark_told(told)
        if wait > 0 and outcome.enqueued is not None and self.holder is not None:
            outcome.held = (wait, say, unpack, relay_lines)  # _process holds, then reports
            return b""
        return self._final(req, unpack, statuses, relay_lines)

    def _relay(
        self,
        caller: Caller,
        spool: BinaryIO,
        req: PushRequest,
        commands: list[Command],
        quarantine: Quarantine,
        partial: bool,
        emit: Callable[[bytes], None],
    ) -> RelayResult:
        def forward(text: bytes) -> None:
            if req.sideband:
                emit(b"".join(sideband(SIDE_BAND_CHANNEL_PROGRESS, text)))

        if partial and any(not c.is_delete for c in commands):
            # APPSEC: never send upstream the objects of refs the gate refused.
            self.mirrors.fetch(caller.repo)
            pack = repack(quarantine, str(self.mirrors.path(caller.repo)), commands)
            length = pack.seek(0, 2)
            pack.seek(0)
        elif req.needs_pack and any(not c.is_delete for c in commands):
            pack = spool
            length = spool.seek(0, 2) - req.pack_offset
            spool.seek(req.pack_offset)
        else:
            pack, length = None, 0
        try:
            return relay(self.upstream, caller.repo, req, commands, pack, length, forward)
        finally:
            if pack is not None and pack is not spool:
                pack.close()

    def _queue(
        self,
        caller: Caller,
        spool: BinaryIO,
        req: PushRequest,
        queued: list[RefDecision],
        quarantine: Quarantine,
        push: Push,
        outcome: PushOutcome,
    ) -> None:
        from gitgate.approval import QueueRefused

        try:
            if self.queue is None:
                raise QueueRefused("the approval queue is not available on this gate")
            entry = self.queue.enqueue(caller, req, queued, spool, quarantine, push)
        except QueueRefused as ex:
            for d in queued:
                d.effective = "reject"
                d.reasons.insert(0, str(ex))
            return
        outcome.enqueued = entry
        outcome.events.extend(entry.events)
        for d in queued:
            outcome.queue_ids[d.ref] = entry.id

    def _final(
        self,
        req: PushRequest,
        unpack: str,
        statuses: list[tuple[bytes, str | None]],
        relay_lines: dict[bytes, list[bytes]],
    ) -> bytes:
        return final_report(req, unpack, statuses, relay_lines)  # keeps upstream's v2 options
