"""One write through the gate, whatever its transport: a git push or a GitHub API call.

An `Exchange` is what one write carries from the request to the audit record (mitmproxy's
Flow): who (`Caller`), which repo and ref updates, the inspected `Push`, the frozen decisions
and, per ref, what became of it (`RefStatus`). Every stage reads and writes this one object
instead of passing the push's state along as loose arguments, so a second transport or a new
outcome does not change the signatures between the stages.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from gitgate.auth.identity import Identity
from gitgate.checks.base import Finding, Verdict
from gitgate.config import Rule
from gitgate.git.wire import Command
from gitgate.policy import Action, Decision

if TYPE_CHECKING:
    from gitgate.git.relay import RelayResult
    from gitgate.inspection.push import Push
    from gitgate.store.changes import Enqueued


@dataclass
class Caller:
    """Who is writing, from where: the request's context for checks and the audit record."""

    repo: str
    subject: str = "anonymous"
    groups: tuple[str, ...] = ()
    issuer: str = ""
    source_addr: str = ""
    request_id: str = ""
    identity: Identity | None = None


@dataclass(frozen=True)
class RefStatus:
    """What the gate does with one ref: its decision as carried out. It starts as the
    decision; carrying it out can only make it stricter (the queue refused it, its secrets
    could not be masked) or rewrite its command (masked ids), never loosen it. It reads like
    its decision, so the agent's lines and the audit record show the final word."""

    decision: Decision
    effective: Action
    reasons: tuple[str, ...]
    command: Command  # what goes upstream or into the queue (a masked ref's rewritten ids)

    @classmethod
    def of(cls, d: Decision) -> RefStatus:
        return cls(d, d.effective, d.reasons, d.command)

    @property
    def ref(self) -> str:
        return self.decision.ref

    @property
    def rule(self) -> Rule | None:
        return self.decision.rule

    @property
    def action(self) -> Action:
        return self.decision.action

    @property
    def verdicts(self) -> tuple[Verdict, ...]:
        return self.decision.verdicts

    @property
    def failed(self) -> list[Verdict]:
        return self.decision.failed

    @property
    def dry_run(self) -> bool:
        return self.decision.dry_run

    @property
    def break_glass(self) -> bool:
        return self.decision.break_glass


@dataclass
class Exchange:
    """One write: filled in stage by stage (rules, push, decisions, statuses, record)."""

    caller: Caller
    commands: list[Command] = field(default_factory=list)
    push_options: list[str] = field(default_factory=list)
    atomic: bool = False
    push: Push | None = None
    rules: dict[str, Rule | None] = field(default_factory=dict)  # per ref, from gate.route
    decisions: list[Decision] = field(default_factory=list)  # frozen: from policy.decide
    refs: list[RefStatus] = field(default_factory=list)  # per decision: what became of it
    statuses: list[tuple[bytes, str | None]] = field(default_factory=list)  # report: None=ok
    queue_ids: dict[str, int] = field(default_factory=dict)
    enqueued: Enqueued | None = None
    relay: RelayResult | None = None
    events: list[dict[str, Any]] = field(default_factory=list)  # JSON records: masked, hold
    error: str | None = None
    timings: dict[str, float] = field(default_factory=dict)  # stage -> seconds
    cancelled: threading.Event = field(default_factory=threading.Event)  # the client left

    @property
    def repo(self) -> str:
        return self.caller.repo

    @property
    def findings(self) -> list[Finding]:
        return [f for d in self.decisions for v in d.verdicts for f in v.findings]

    def settle(self, decisions: list[Decision]) -> None:
        """Take `decisions` as the write's own; each ref's status starts as its decision."""
        self.decisions = decisions
        self.refs = [RefStatus.of(d) for d in decisions]

    def decided(self, *actions: Action) -> list[RefStatus]:
        """The refs whose status is one of `actions`, in the order of the commands."""
        return [s for s in self.refs if s.effective in actions]

    def status(self, ref: str) -> RefStatus:
        return next(s for s in self.refs if s.ref == ref)

    def refuse(self, ref: str, reason: str, *, only: bool = False) -> None:
        """Carrying out `ref`'s decision failed: it is refused, `reason` first (`only`: the
        one reason, as when an atomic push's other ref failed)."""

        def refused(s: RefStatus) -> RefStatus:
            reasons = (reason,) if only else (reason, *s.reasons)
            return replace(s, effective=Action.REJECT, reasons=reasons)

        self._update(ref, refused)

    def rewrite(self, ref: str, command: Command) -> None:
        """`ref` goes on as `command` (its masked ids) instead of the agent's."""
        self._update(ref, lambda s: replace(s, command=command))

    def _update(self, ref: str, change: Callable[[RefStatus], RefStatus]) -> None:
        self.refs = [change(s) if s.ref == ref else s for s in self.refs]
