"""One push, end to end, in git's steps: unpack, inspect and decide, carry out, report.

The HTTP status of a well-formed push is always 200; every outcome travels in-band as
report-status (`ok` / `ng <ref> <reason>`) plus side-band `remote:` lines, because that is the
only channel git shows its user in full. The work runs in a thread while the response
generator sends side-band keepalives, so no proxy drops a long inspection. Deciding is
gitgate.gate's (the API's writes share it); what each decision does is gitgate.outcomes'.
"""

from __future__ import annotations

import contextvars
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, BinaryIO

from dulwich.protocol import SIDE_BAND_CHANNEL_PROGRESS

from gitgate import gate
from gitgate.audit.metrics import INSPECTION_SECONDS, PUSHES_IN_FLIGHT
from gitgate.checks.base import Check, CheckContext
from gitgate.config import Config
from gitgate.exchange import Caller, Exchange
from gitgate.git import messages
from gitgate.git.mirror import Mirrors
from gitgate.git.wire import (
    KEEPALIVE,
    PushRequest,
    final_report,
    one_line,
    progress,
    sideband,
)
from gitgate.inspection.unpack import Limits, OverLimit, UnpackError, unpacked
from gitgate.mask import apply as mask_apply
from gitgate.ops import diskfull
from gitgate.outcomes import Wire, carry_out, hold
from gitgate.outcomes.hold import Holder
from gitgate.outcomes.queue import QueueHook
from gitgate.outcomes.table import table
from gitgate.policy import break_glass_reason
from gitgate.upstream.http import Upstream, UpstreamError

if TYPE_CHECKING:
    from gitgate.services import Scanner

log = logging.getLogger("gitgate.receive")
KEEPALIVE_S = 5.0


class ReceivePack:
    """git-receive-pack in front of upstream: one `Exchange` per push, through git's steps."""

    def __init__(
        self,
        config: Config,
        upstream: Upstream,
        mirrors: Mirrors,
        checks: Sequence[Check],
        scanner: Scanner | None = None,
        queue: QueueHook | None = None,
        review_hint: str = "",
        holder: Holder | None = None,
        stopping: threading.Event | None = None,
    ) -> None:
        self.config = config
        self.upstream = upstream
        self.mirrors = mirrors
        self.checks = checks
        self.scanner = scanner
        self.queue = queue
        self.review_hint = review_hint
        # set by SIGTERM in a gunicorn worker (gitgate.ops.shutdown); each gate has its own
        self.stopping = stopping if stopping is not None else threading.Event()
        self.holder = (
            holder  # gitgate.outcomes.hold.Holder: held pushes (git push -o gitgate.wait=)
        )
        self.outcomes = table(config, upstream, mirrors, queue, holder)

    def respond(
        self,
        caller: Caller,
        spool: BinaryIO,
        req: PushRequest,
        on_done: Callable[[Exchange], None] | None = None,
    ) -> Iterator[bytes]:
        """The response body, streamed: progress and keepalives first, the report last."""
        events: queue.Queue[bytes | None] = queue.Queue()  # None: done
        ex = Exchange(
            caller,
            commands=list(req.commands),
            push_options=[o.decode("utf-8", "replace") for o in req.push_options],
            atomic=req.atomic,
        )

        answered = threading.Event()

        def answer(report: bytes | None) -> None:
            """End the response: the report, then the push's record, then the end. Once."""
            if answered.is_set():
                return
            answered.set()
            if report is not None:
                events.put(report)
            if on_done:
                try:
                    on_done(ex)
                except Exception:
                    log.exception("recording the push to %s failed", caller.repo)
            events.put(None)

        def work() -> None:
            PUSHES_IN_FLIGHT.inc()
            try:
                answer(self._process(ex, spool, req, events.put, answer))
            except Exception as err:
                full = diskfull.is_disk_full(err)
                if full:  # the gate's fault, not the pack's nor upstream's: say so
                    diskfull.report(f"receiving a push to {caller.repo}", caller.request_id)
                    reason = diskfull.message(caller.request_id)
                    self._say(req, events.put, [f"error: {reason}"])
                else:
                    log.exception("push to %s failed inside the gate", caller.repo)
                    reason = f"gitgate internal error (request {caller.request_id})"
                ex.error = "out of disk space" if full else f"internal error: {type(err).__name__}"
                ex.statuses = [(c.ref, reason) for c in req.commands]
                answer(self._final(req, "ok", ex))
            finally:
                PUSHES_IN_FLIGHT.dec()
                spool.close()
                answer(None)  # only if nothing answered (BaseException): the record, the end

        thread = threading.Thread(  # in this request's context: the gate's database (gitgate.db)
            target=contextvars.copy_context().run,
            args=(work,),
            name=f"push-{caller.request_id}",
            daemon=True,
        )
        thread.start()
        try:
            while True:
                try:
                    item = events.get(timeout=KEEPALIVE_S)
                except queue.Empty:
                    if req.sideband:
                        yield KEEPALIVE
                    continue
                if item is None:
                    break
                yield item
        finally:
            ex.cancelled.set()  # a held push stops waiting for a client that left

    def _say(self, req: PushRequest, emit: Callable[[bytes], None], lines: list[str]) -> None:
        if lines and req.sideband:
            emit(progress(lines))

    def _process(
        self,
        ex: Exchange,
        spool: BinaryIO,
        req: PushRequest,
        emit: Callable[[bytes], None],
        answer: Callable[[bytes], None],
    ) -> bytes:
        """git's steps: unpack -> inspect and decide -> carry out -> (hold) -> report.

        A push that holds nothing is `answer`ed as soon as its outcomes are carried out, and
        the mirror's upkeep (gitgate.git.settle) runs after, before the quarantine goes."""
        say: Callable[[list[str]], None] = lambda lines: self._say(req, emit, lines)  # noqa: E731
        writable = gate.route(ex, self.config.rule)
        started = time.monotonic()
        try:
            with unpacked(
                self.mirrors,
                ex.repo,
                spool,
                req,
                [c for c in req.commands if c.ref.decode("utf-8", "replace") in writable],
                known=mask_apply.known(self.config, ex.repo, req.commands),
                limits=self._limits(),
            ) as (quarantine, ex.push):
                ctx = CheckContext(
                    self.config, self.scanner, ex.caller.identity, ex.caller.request_id
                )
                try:
                    gate.inspect(ex, self.config.rule, self.checks, ctx, stopping=self.stopping)
                finally:
                    INSPECTION_SECONDS.observe(time.monotonic() - started)  # unpack + checks
                wire = Wire(req, spool, quarantine, say, self._forwarder(req, emit))
                self._break_glass(ex)
                hold.mark_told(self._carry_out(ex, wire))
                holding = [row for row in self.outcomes.values() if row.holds(ex, wire)]
                if not holding:
                    with self.mirrors.settling.running(ex.repo):
                        answer(self._final(req, ex.relay.unpack if ex.relay else "ok", ex))
                        self._settle(ex, wire)
                    return b""  # answered
                self._settle(ex, wire)
            # Held for review: outside `unpacked`, so neither the quarantine nor the mirror's
            # shared lock (which the nightly repack waits for) is kept while waiting.
            if holding:
                spool.close()
                ex.push = None  # its objects went with the quarantine: not kept while held
            for row in holding:
                row.hold(ex, wire)
        except gate.Interrupted:
            # SIGTERM: scans were stopped mid-way; nothing half-checked goes anywhere
            return self._refuse_all(ex, req, say, "shutting down", self._stopping_reason(ex))
        except UnpackError as err:
            over = isinstance(err, OverLimit)  # not a broken pack: a push over the limits
            ex.error = str(err)
            say([f"error: {err}"])
            ex.statuses = [
                (c.ref, one_line(str(err)) if over else f"unpack failed: {err}")
                for c in req.commands
            ]
            unpack = "push over the gate's size limits" if over else one_line(str(err))
            return self._final(req, "error " + unpack, ex)
        except UpstreamError as err:
            return self._refuse_all(ex, req, say, str(err), one_line(str(err)), f"error: {err}")
        return self._final(req, ex.relay.unpack if ex.relay else "ok", ex)

    def _settle(self, ex: Exchange, wire: Wire) -> None:
        """The mirror's upkeep the outcomes left (gitgate.git.settle). It changes nothing the
        agent was told: a failure is logged, and the next push fetches what it needs."""
        for upkeep in wire.after:
            try:
                upkeep()
            except Exception:
                log.exception("mirror upkeep after the push to %s failed", ex.repo)

    def _limits(self) -> Limits:
        storage = self.config.storage
        return Limits(
            max_bytes=storage.max_push_bytes,
            max_object_bytes=storage.max_object_bytes,
            max_inflated_bytes=storage.max_inflated_bytes,
        )

    def _forwarder(
        self, req: PushRequest, emit: Callable[[bytes], None]
    ) -> Callable[[bytes], None]:
        def forward(text: bytes) -> None:
            if req.sideband:
                emit(b"".join(sideband(SIDE_BAND_CHANNEL_PROGRESS, text)))

        return forward

    def _break_glass(self, ex: Exchange) -> None:
        glass = [d for d in ex.decisions if d.break_glass]
        if glass and self.queue is not None:
            self.queue.break_glass(ex.caller, glass, break_glass_reason(ex.push_options) or "")

    def _carry_out(self, ex: Exchange, wire: Wire) -> list[int]:
        """Carry out every decision (gitgate.outcomes), telling the agent once the outcomes
        know what they will do; returns the earlier queued pushes whose story was told."""
        told: list[int] = []

        def tell(lines: list[str]) -> None:
            if self.queue is not None and wire.req.sideband:
                told.extend(hold.tell_story(ex.caller, wire.say))
            summary = messages.summary_lines(
                ex.refs,
                max_findings=self.config.scan.max_findings_shown,
                queue_ids=ex.queue_ids,
                review_hint=self.review_hint,
            )
            wire.say(summary + lines)

        carry_out(self.outcomes, ex, wire, tell)
        return told

    def _stopping_reason(self, ex: Exchange) -> str:
        return (
            f"the gate is shutting down (request {ex.caller.request_id}): nothing was relayed or "
            "queued; push again in a minute"
        )

    def _refuse_all(
        self,
        ex: Exchange,
        req: PushRequest,
        say: Callable[[list[str]], None],
        error: str,
        reason: str,
        line: str | None = None,
    ) -> bytes:
        """Nothing of the push went anywhere: every ref is `ng` with the same `reason`."""
        ex.error = error
        say([line or f"error: {reason}"])
        ex.statuses = [(c.ref, reason) for c in req.commands]
        return self._final(req, "ok", ex)

    def _final(self, req: PushRequest, unpack: str, ex: Exchange) -> bytes:
        relay_lines = ex.relay.refs if ex.relay else {}
        return final_report(req, unpack, ex.statuses, relay_lines)  # keeps upstream's v2 options
