"""Protected paths: any add, modify, delete or rename touching a configured glob.

Both sides of a rename count, so moving `deploy/prod.yaml` out of `deploy/` is as protected as
editing it. Paths come from every new commit and, for a force-push, from the net change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from gitgate import globs
from gitgate.checks.base import CheckContext, Finding, Verdict, named_paths, updates_for
from gitgate.config import Rule
from gitgate.inspection.push import Push


@dataclass(frozen=True)
class ProtectedPathsOptions:
    """`protected_paths = [globs]` in the `[[rule]]` itself (the key predates per-check tables)."""

    protected_paths: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return str(self.protected_paths or "none")


class ProtectedPaths:
    name = "protected_paths"
    Options = ProtectedPathsOptions
    inline = True
    default_action = "reject"
    maskable = False

    def run(self, push: Push, rules: Mapping[str, Rule], ctx: CheckContext) -> list[Verdict]:
        verdicts = []
        for update, rule in updates_for(push, rules):
            protected = rule.options(self.name, ProtectedPathsOptions).protected_paths
            if not protected:
                continue
            findings: list[Finding] = []
            seen: set[tuple[str, str]] = set()
            for change in update.changes:
                for path in change.paths:
                    pattern = globs.match_any(protected, path)
                    if pattern is None or (change.kind, path) in seen:
                        continue
                    seen.add((change.kind, path))
                    what = f"{change.kind} of a protected path (matches {pattern!r})"
                    if change.kind == "rename":
                        what = (
                            f"rename {change.old_path} -> {change.path} touches a protected "
                            f"path (matches {pattern!r})"
                        )
                    findings.append(
                        Finding(
                            self.name, update.ref, what, commit=change.commit.decode(), path=path
                        )
                    )
            verdicts.append(
                Verdict(
                    self.name,
                    update.ref,
                    passed=not findings,
                    reason=f"touches protected paths: {named_paths(findings)}",
                    findings=findings,
                    hint="changes under protected paths need a human; leave them out of this "
                    "push (git reset/rebase) or ask a reviewer",
                )
            )
        return verdicts
