"""What every check returns, and the context it runs in.

Checks *return* verdicts instead of raising or rejecting themselves: the policy turns each
failing verdict into the action its rule names (allow, reject, queue), and the engine turns a
check that raises into a reject. One object per outcome keeps "why was this refused?" answerable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, overload

from gitgate.config import Config, Rule
from gitgate.inspection.push import Push, RefUpdate, printable

if TYPE_CHECKING:
    from gitgate.auth.identity import Identity
    from gitgate.services import Scanner

# Where a secret found in a ref name or a push option is reported (Finding.path). Such a ref is
# always refused (no dry run, no break-glass, no queue): queueing or relaying it would store or
# send the value, and records show a marker instead of the name (`gitgate.checks.withheld`).
UNSTORABLE_PATHS = ("ref name", "push option")


@dataclass(frozen=True)
class Finding:
    """One thing a check found. Never carries a secret's value: type, place and short hash.

    Ids are kept whole (`commit`, `blob`: 40 hex) and a secret keeps its exact place (`line`,
    and `span`, the byte offsets of the value inside the blob, end exclusive), so that masking
    and reviewers can find it again without a search. Shortening is for people only: `record()`
    (the audit shape) and the `remote:` lines cut ids to SHORT_ID characters.
    """

    check: str
    ref: str
    message: str
    commit: str | None = None  # full id of the commit (or annotated tag) that brought it
    path: str | None = None
    line: int | None = None
    type: str | None = None
    hash: str | None = None
    confidence: str | None = None  # secrets: high | medium | low
    blob: str | None = None  # full id of the blob the finding is in (content findings)
    span: tuple[int, int] | None = None  # secrets: byte offsets of the value in the blob

    def __post_init__(self) -> None:
        # a path that is not UTF-8 (real histories have them) must not break a record or a
        # `remote:` line: its odd bytes become \xNN escapes here, once for every check
        object.__setattr__(self, "message", printable(self.message))
        if self.path is not None:
            object.__setattr__(self, "path", printable(self.path))

    @property
    def location(self) -> str:
        if self.path and self.line:
            return f"{self.path}:{self.line}"
        return self.path or ""

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def record(self) -> dict[str, Any]:
        """The audit shape: check, ref, commit, path, line, type, hash (what kind, where,
        a short hash; for non-secret findings the message is the type). Records, queued
        summaries and exports keep the shape they always had (gitgate.store.validation refuses
        other keys): a short commit id, and no blob or span."""
        out = self.to_dict()
        message = out.pop("message")
        out.pop("blob", None)
        out.pop("span", None)
        if self.commit is not None:
            out["commit"] = short(self.commit)
        out.setdefault("type", message)
        return out


@dataclass
class Verdict:
    """A check's answer for one ref update."""

    check: str
    ref: str
    passed: bool
    reason: str = ""
    findings: list[Finding] = field(default_factory=list)
    hint: str = ""  # what the agent should do next
    error: bool = False  # the check itself failed: always a reject (fail closed)
    output: list[str] = field(default_factory=list)  # lines for the client (hooks)

    def __post_init__(self) -> None:
        self.reason, self.hint = printable(self.reason), printable(self.hint)

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "ref": self.ref,
            "passed": self.passed,
            "reason": self.reason,
            "error": self.error,
        }


@dataclass
class CheckContext:
    """What checks may use besides the push: config, the scanner, who pushed."""

    config: Config
    scanner: Scanner | None = None  # gitgate.scanning.SecretScanner in production
    identity: Identity | None = None
    request_id: str = ""


class Check(Protocol):
    name: str

    def run(self, push: Push, rules: Mapping[str, Rule], ctx: CheckContext) -> list[Verdict]: ...


def updates_for(push: Push, rules: Mapping[str, Rule]) -> list[tuple[RefUpdate, Rule]]:
    """The updates a check looks at, each with the rule that governs it."""
    return [(u, rules[u.ref]) for u in push.updates if u.ref in rules]


SHORT_ID = 12  # how many hex digits of an id people read (git's own abbreviations are shorter)


def named_paths(findings: list[Finding], shown: int = 3) -> str:
    """The paths of `findings` for a verdict's one-line reason: the first few, then a count."""
    paths = sorted({f.path for f in findings if f.path})
    more = f" and {len(paths) - shown} more" if len(paths) > shown else ""
    return ", ".join(paths[:shown]) + more


@overload
def short(oid: bytes | str) -> str: ...
@overload
def short(oid: None) -> None: ...
def short(oid: bytes | str | None) -> str | None:
    """An id as people read it: its first SHORT_ID hex digits. Only for text written for
    people; findings and everything the gate works from keep whole ids."""
    if oid is None:
        return None
    text = oid.decode() if isinstance(oid, bytes) else oid
    return text[:SHORT_ID]
