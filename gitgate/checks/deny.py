"""Deny rules: force-push, ref deletion, tag overwrite, deleting protected files, sizes.

These are the GitHub-ruleset style refusals that do not need to read any content.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from gitgate import globs
from gitgate.checks.base import CheckContext, Finding, Verdict, updates_for
from gitgate.config import Rule
from gitgate.inspection.push import Push, RefUpdate


def _mb(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB"


@dataclass(frozen=True)
class DenyOptions:
    """`[rule.deny]`: which refusals apply (the docs' rows are tested against these fields)."""

    force_push: bool = True
    delete_ref: bool = True
    tag_overwrite: bool = True
    delete_paths: list[str] = field(default_factory=list)
    max_file_bytes: int = 0
    max_push_bytes: int = 0


class Deny:
    name = "deny"
    Options = DenyOptions
    inline = False
    default_action = "reject"
    maskable = False

    def run(self, push: Push, rules: Mapping[str, Rule], ctx: CheckContext) -> list[Verdict]:
        return [self._one(push, u, rule) for u, rule in updates_for(push, rules)]

    def _one(self, push: Push, update: RefUpdate, rule: Rule) -> Verdict:
        deny = rule.options(self.name, DenyOptions)
        found: list[tuple[str, str, Finding | None]] = []  # (reason, hint, finding)
        ref = update.ref

        def add(reason: str, hint: str, **kw: object) -> None:
            found.append((reason, hint, Finding(self.name, ref, reason, **kw)))  # type: ignore[arg-type]

        if deny.delete_ref and update.kind == "delete":
            add("deleting refs is not allowed", "ask a human to delete it on GitHub")
        if deny.tag_overwrite and update.is_tag and update.kind == "update":
            add("overwriting an existing tag is not allowed", "push a new tag name instead")
        elif deny.force_push and update.forced and not update.is_tag:
            add(
                "force-push (non-fast-forward) is not allowed",
                "fetch, rebase or merge onto the current branch (git pull --rebase), then push "
                "without --force",
            )
        if deny.delete_paths:
            for ch in update.changes:
                gone = (
                    ch.old_path if ch.kind == "rename" else ch.path if ch.kind == "delete" else None
                )
                pattern = globs.match_any(deny.delete_paths, gone) if gone else None
                if pattern:
                    add(
                        f"deleting {gone} is not allowed (matches {pattern!r})",
                        "restore the file (git checkout <old-commit> -- <path>) and amend",
                        commit=ch.commit.decode(),
                        path=gone,
                    )
        if deny.max_file_bytes:
            for blob_id, ch in update.new_blobs.items():
                if push.upstream_has(blob_id):
                    continue
                size = len(push.blob(blob_id).as_raw_string())
                if size > deny.max_file_bytes:
                    add(
                        f"{ch.path} is {_mb(size)}, over the limit of {_mb(deny.max_file_bytes)}",
                        "keep large files out of git (Git LFS or an artifact store)",
                        commit=ch.commit.decode(),
                        path=ch.path,
                        blob=blob_id.decode(),
                    )
        if deny.max_push_bytes and push.pack_bytes > deny.max_push_bytes:
            add(
                f"push is {_mb(push.pack_bytes)}, over the limit of {_mb(deny.max_push_bytes)}",
                "split the work into smaller pushes",
            )
        return Verdict(
            self.name,
            ref,
            passed=not found,
            reason="; ".join(dict.fromkeys(r for r, _, _ in found)),
            findings=[f for _, _, f in found if f],
            hint="; ".join(dict.fromkeys(h for _, h, _ in found)),
        )
