"""Secrets in new content, with detect-secrets behind gitgate.scanning.

What is scanned: every blob a push adds that upstream does not have yet, on every ref (tags
and merges included), and the message of every new commit and annotated tag. A new file
counts whole; for a modified file only lines that were not in the old version count, so a
secret already upstream is not blocked again (GitHub's rule). "Not in the old version" is a
multiset comparison of lines, which is linear in the file's size whatever an attacker puts
in it, unlike a diff.
Ref names and push options are scanned too (issue #8 §8), as pseudo-files "ref name" and
"push option": a secret in a ref's name refuses that ref, a secret in a push option refuses every
ref (options apply to the whole push, and a refused push is neither queued nor relayed), and
`gitgate.checks.withheld` keeps the name out of every record.
Binary files are skipped by the scanner. Admins allowlist by path glob or by secret hash in
config; in-repo `pragma: allowlist secret` comments are written by the very agent the gate
guards against and are not trusted.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import accumulate
from typing import TYPE_CHECKING, Any

from gitgate import globs
from gitgate.checks.addedlines import blank_unchanged
from gitgate.checks.base import (
    UNSTORABLE_PATHS,
    CheckContext,
    Finding,
    Verdict,
    updates_for,
)
from gitgate.config import Rule
from gitgate.inspection.push import FileChange, Push

if TYPE_CHECKING:  # the scanner (and detect-secrets) is imported when a push is scanned
    from gitgate.scanning.model import SecretHit

HASH_CHARS = 12
BATCH_BYTES = 16 * 1024 * 1024  # text held in memory at once, whatever the push's size


def scan_key(change: FileChange) -> bytes:
    """What a scan result is cached under: the blob, or the blob as a change of another."""
    assert change.new_blob is not None
    if change.old_blob and change.kind != "add":
        return change.new_blob + b"^" + change.old_blob
    return change.new_blob


def scan_text(push: Push, change: FileChange, max_bytes: int) -> bytes | None:
    """The text to scan for a change: a new file whole; for a modified file only the lines
    it adds, the others blanked so that line numbers stay true (detect-secrets looks at one
    line at a time, so this finds exactly what the whole file would, on those lines, and a
    one-line edit of a large file scans one line). None for binary content."""
    assert change.new_blob is not None
    data = push.blob_data(change.new_blob)
    if b"\0" in data[:8000]:  # binary, as git decides
        return None
    if change.old_blob and change.kind != "add":
        old = push.blob_data(change.old_blob)
        if b"\0" not in old[:8000]:
            data = blank_unchanged(old, data)
    return data[:max_bytes]


@dataclass(frozen=True)
class ScanItem:
    """One text to scan: a file's new content, or a commit message (agents paste tokens
    into messages too, and a message is as public as the code once pushed)."""

    key: bytes  # what the scanner caches the result under
    path: str  # where a finding is reported (a file path, or "commit message")
    commit: bytes
    change: FileChange | None = None
    message: bytes = b""

    def text(self, push: Push, max_bytes: int) -> bytes | None:
        if self.change is not None:
            return scan_text(push, self.change, max_bytes)
        return self.message[:max_bytes]

    def findings(
        self, check: str, ref: str, hits: list[SecretHit], push: Push, lines: LineStarts
    ) -> list[Finding]:
        """This item's findings, each with the secret's exact place: the blob (or message) and
        the byte span inside it, for masking to rewrite without a search. A ref name or push
        option keeps no place at all: its records are withheld."""
        placed = self.path not in UNSTORABLE_PATHS
        blob = self.change.new_blob if self.change is not None else None
        if hits and placed and self.key not in lines:  # once per text, whatever the hits, refs
            text = push.blob_data(blob) if blob is not None else self.message
            lines[self.key] = line_starts(text)
        return [
            Finding(
                check,
                ref,
                h.type,
                commit=self.commit.decode() or None,
                path=self.path,
                line=h.line if placed else None,
                type=h.type,
                hash=h.secret_hash[:HASH_CHARS],
                confidence=h.confidence,
                blob=blob.decode() if blob is not None else None,
                span=byte_span(lines[self.key], h) if placed else None,
            )
            for h in hits
        ]


LineStarts = dict[bytes, list[int]]  # per scan key: the byte offset where each line starts


def line_starts(text: bytes) -> list[int]:
    """Where each line of `text` starts (line n at index n - 1), as byte offsets."""
    return [0, *accumulate(len(line) + 1 for line in text.split(b"\n")[:-1])]


def byte_span(starts: list[int], hit: SecretHit) -> tuple[int, int] | None:
    """Where `hit` is in the whole blob or message, as byte offsets, end exclusive. The scanner
    reports offsets within the line; the line's own offset comes from the real blob (a modified
    file is scanned with its old lines blanked, so the scanned text's offsets are not the
    blob's). None when the line is not there or the scanner could not place the value."""
    if hit.end <= hit.start or not 1 <= hit.line <= len(starts):
        return None
    offset = starts[hit.line - 1]
    return offset + hit.start, offset + hit.end


def scan_items(push: Push, update: Any, scan_cfg: Any) -> list[ScanItem]:
    items = []
    for blob_id, change in update.new_blobs.items():
        if push.upstream_has(blob_id) or globs.match_any(scan_cfg.allowlist_paths, change.path):
            continue
        items.append(ScanItem(scan_key(change), change.path, change.commit, change=change))
    for commit in update.new_commits:
        items.append(
            ScanItem(b"msg:" + commit.id, "commit message", commit.id, message=commit.message)
        )
    for tag in update.new_tags:
        items.append(ScanItem(b"tag:" + tag.id, "tag message", tag.id, message=tag.message))
    ref = update.ref.encode("utf-8", "surrogateescape")
    items.append(ScanItem(b"ref:" + ref, UNSTORABLE_PATHS[0], b"", message=ref))
    return items


def option_items(push: Push) -> list[ScanItem]:
    """Push options, one item (one line) each: agents pass tokens as `-o token=...` too."""
    return [
        ScanItem(b"opt:" + option.encode(), UNSTORABLE_PATHS[1], b"", message=option.encode())
        for option in push.push_options
    ]


@dataclass(frozen=True)
class SecretsOptions:
    """`secrets = true|false` in the `[[rule]]` itself; the scanner's settings are `[scan]`."""

    secrets: bool = True

    def summary(self) -> str:
        return "scanned" if self.secrets else "not scanned"


class Secrets:
    name = "secrets"
    Options = SecretsOptions
    inline = True
    default_action = "reject"
    maskable = True  # findings can be rewritten away (gitgate.mask)

    def _scan(
        self, push: Push, items: Mapping[bytes, ScanItem], ctx: CheckContext
    ) -> dict[bytes, list[SecretHit]]:
        """Scan in batches of ~16 MB of text, all within the push's one time budget."""
        from gitgate.scanning import ScanTimeout

        scanner = ctx.scanner
        if scanner is None:  # a gate built without one: the check fails, so the ref is refused
            raise RuntimeError("this gate has no secret scanner")
        deadline = time.monotonic() + ctx.config.scan.time_budget
        hits: dict[bytes, list[SecretHit]] = {}
        batch: list[tuple[bytes, str, bytes]] = []
        size = 0

        def flush() -> None:
            nonlocal batch, size
            left = deadline - time.monotonic()
            if left <= 0:
                raise ScanTimeout("the push's scan budget is spent")
            hits.update(scanner.scan(batch, budget_s=left))
            batch, size = [], 0

        for key, item in items.items():
            text = item.text(push, ctx.config.scan.max_blob_bytes)
            if text is None:
                continue
            batch.append((key, item.path, text))
            size += len(text)
            if size >= BATCH_BYTES:
                flush()
        if batch:
            flush()
        return hits

    def run(self, push: Push, rules: Mapping[str, Rule], ctx: CheckContext) -> list[Verdict]:
        scan_cfg = ctx.config.scan
        unique: dict[bytes, ScanItem] = {}
        per_ref: list[tuple[str, list[ScanItem]]] = []
        for update, rule in updates_for(push, rules):
            if not rule.options(self.name, SecretsOptions).secrets:
                continue
            items = scan_items(push, update, scan_cfg)
            per_ref.append((update.ref, items))
        if not per_ref:
            return []
        options = option_items(push)
        for _, items in per_ref:
            items.extend(options)
            for item in items:
                unique.setdefault(item.key, item)
        if ctx.scanner is None:
            raise RuntimeError("no secret scanner configured")
        from gitgate.scanning import ScanError, ScanTimeout

        try:
            hits = self._scan(push, unique, ctx)
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
        lines: LineStarts = {}
        for ref, items in per_ref:
            findings = [
                finding
                for item in items
                for finding in item.findings(
                    self.name,
                    ref,
                    [
                        h
                        for h in hits.get(item.key, [])
                        if not (allowed and h.secret_hash.startswith(allowed))
                    ],
                    push,
                    lines,
                )
            ]
            verdicts.append(
                Verdict(
                    self.name,
                    ref,
                    passed=not findings,
                    reason=f"{len(findings)} secret(s) found in new content" if findings else "",
                    findings=findings,
                    hint="remove the secret from the file(s) (git rm --cached for whole files) "
                    "or the commit message (or rename the branch or tag, or drop the push "
                    "option), rewrite the commits that added it (git commit --amend, or git "
                    "rebase -i), and rotate the secret: it has left your machine",
                )
            )
        return verdicts
