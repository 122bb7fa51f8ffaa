"""The checks, in the order they run: the one registry. Add a check: one module, one line here.

Cheap, content-free checks come first; content scanning next; site hooks last (they are
external programs and the slowest). Each check declares its settings (`Options`, read from
`[rule.<name>]` or, when `inline`, from the `[[rule]]` itself) and its `default_action`;
config loading, `check-config`, `gitgate explain` and the docs test read them from this list.
"""

from __future__ import annotations

from typing import Protocol

from gitgate.checks.base import Check, CheckContext, Finding, Verdict
from gitgate.checks.commits import CommitMetadata
from gitgate.checks.deny import Deny
from gitgate.checks.hooks import Hooks
from gitgate.checks.lfs import LfsPointers
from gitgate.checks.protected_paths import ProtectedPaths
from gitgate.checks.secrets import Secrets
from gitgate.config import CheckSpec


class RegisteredCheck(CheckSpec, Check, Protocol):
    """A check as the registry holds it: what it declares (CheckSpec) and what it does (Check)."""


DEFAULT_CHECKS: list[RegisteredCheck] = [
    Deny(),
    ProtectedPaths(),
    CommitMetadata(),
    LfsPointers(),
    Secrets(),
    Hooks(),
]

__all__ = ["DEFAULT_CHECKS", "Check", "CheckContext", "Finding", "RegisteredCheck", "Verdict"]
