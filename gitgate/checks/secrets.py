"""Secrets in new content, with detect-secrets behind gitgate.scanning.

What is scanned: every blob a push adds that upstream does not have yet, on every ref (tags and
merges included). A new file counts whole; for a modified file only lines that were not in the
old version count, so a secret already upstream is not blocked again (GitHub's rule). "Not in the
old version" is a multiset comparison of lines, which is linear in the file's size whatever an
attacker puts in it, unlike a diff. Binary files are skipped by the scanner. Admins allowlist by
path glob or by secret hash in config; in-repo `pragma: allowlist secret` comments are written by
the very agent the gate guards against and are not trusted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from gitgate import globs
from gitgate.checks.base import CheckContext, Finding, Verdict, short, updates_for
from gitgate.config import Rule
from gitgate.push import FileChange, Push

HASH_CHARS = 12


def added_lines(old: bytes, new: bytes) -> set[int]:
    """1-based numbers of lines in `new` that `old` did not already have."""
    budget = Counter(old.split(b"\n"))
    added = set()
    for i, line in enumerate(new.split(b"\n"), start=1):
        if budget[line] > 0:
            budget[line] -= 1
        else:
            added.add(i)
    return added


class Secrets:
    name = "secrets"

    def run(self, push: Push, rules: Mapping[str, Rule], ctx: CheckContext) -> list[Verdict]:
        scan_cfg = ctx.config.scan
        targets: dict[bytes, FileChange] = {}
        per_ref: list[tuple[str, list[FileChange]]] = []
        for update, rule in updates_for(push, rules):
            if not rule.secrets:
                continue
            changes = []
            for blob_id, change in update.new_blobs.items():
                if push.upstream_has(blob_id):
                    continue
                if globs.match_any(scan_cfg.allowlist_paths, change.path):
                    continue
                targets.setdefault(blob_id, change)
                changes.append(change)
            per_ref.append((update.ref, changes))
        if not per_ref:
            return []
        if ctx.scanner is None:
            raise RuntimeError("no secret scanner configured")
        from gitgate.scanning import ScanError, ScanTimeout

        blobs = []
        for bid, ch in targets.items():
            data = push.blob(bid).as_raw_string()
            if b"\0" in data[:8000]:  # binary, like git decides; the scanner would skip it
                continue
            blobs.append((bid, ch.path, data[: scan_cfg.max_blob_bytes]))  # bounded memory
        try:
            hits = ctx.scanner.scan(blobs, budget_s=scan_cfg.time_budget)
        except ScanError as ex:
            # Fail closed: a scan that did not finish proves nothing about the content.
            timed_out = isinstance(ex, ScanTimeout)
            reason = (
                f"secret scan did not finish within {scan_cfg.time_budget}s"
                if timed_out
                else "the secret scanner failed"
            )
            return [
                Verdict(
                    self.name,
                    ref,
                    passed=False,
                    error=True,
                    reason=reason,
                    hint="split the push into smaller pushes, or ask the gitgate admin",
                )
                for ref, _ in per_ref
            ]
        allowed = tuple(h.lower() for h in scan_cfg.allowlist_hashes)
        verdicts = []
        for ref, changes in per_ref:
            findings = []
            for change in changes:
                assert change.new_blob is not None
                found = (
                    [
                        h
                        for h in hits.get(change.new_blob, [])
                        if not h.secret_hash.startswith(allowed)
                    ]
                    if allowed
                    else hits.get(change.new_blob, [])
                )
                if found and change.old_blob and change.kind != "add":
                    new_lines = added_lines(
                        push.blob(change.old_blob).as_raw_string(),
                        push.blob(change.new_blob).as_raw_string(),
                    )
                    found = [h for h in found if h.line in new_lines]
                findings.extend(
                    Finding(
                        self.name,
                        ref,
                        f"{h.type}",
                        commit=short(change.commit),
                        path=change.path,
                        line=h.line,
                        type=h.type,
                        hash=h.secret_hash[:HASH_CHARS],
                    )
                    for h in found
                )
            verdicts.append(
                Verdict(
                    self.name,
                    ref,
                    passed=not findings,
                    reason=f"{len(findings)} secret(s) found in new content" if findings else "",
                    findings=findings,
                    hint="remove the secret from the file(s) (git rm --cached for whole files), "
                    "rewrite the commits that added it (git commit --amend, or git rebase -i), "
                    "and rotate the secret: it has left your machine",
                )
            )
        return verdicts
