"""The checks, in the order they run. Add a check: one module, one line here.

Cheap, content-free checks come first; content scanning next; site hooks last (they are
external programs and the slowest).
"""

from __future__ import annotations

from gitgate.checks.base import Check, CheckContext, Finding, Verdict
from gitgate.checks.commits import CommitMetadata
from gitgate.checks.deny import Deny
from gitgate.checks.hooks import Hooks
from gitgate.checks.lfs import LfsPointers
from gitgate.checks.protected_paths import ProtectedPaths
from gitgate.checks.secrets import Secrets

DEFAULT_CHECKS: list[Check] = [
    Deny(),
    ProtectedPaths(),
    CommitMetadata(),
    LfsPointers(),
    Secrets(),
    Hooks(),
]

__all__ = ["DEFAULT_CHECKS", "Check", "CheckContext", "Finding", "Verdict"]
