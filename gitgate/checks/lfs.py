"""Git LFS pointers whose objects never went through the gate.

The gate does not relay LFS (gitgate.git.lfs), so a new LFS pointer file in a push means its
object was either never uploaded (a push made without git-lfs, or with `--no-verify`: the repo
then holds a pointer to nothing) or uploaded around the gate, uninspected. Either way it must
not pass unnoticed: each new pointer is a finding, and `[rule.actions] lfs` decides (reject by
default; `allow` for sites that upload LFS objects to GitHub another way, or `queue`).

A pointer is recognised by content, not by `.gitattributes` (the agent writes those): git-lfs's
spec says a pointer is under 1024 bytes, starts with the `version` line and names the object
as `oid sha256:<64 hex>`. Only content upstream does not have yet counts, so an existing
pointer that is moved or kept is not blamed on the push.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from gitgate.checks.base import CheckContext, Finding, Verdict, named_paths, updates_for
from gitgate.config import Rule
from gitgate.inspection.push import Push

MAX_POINTER_BYTES = 1024  # git-lfs spec: "Pointer files must be stored ... less than 1024 bytes"
_POINTER = re.compile(
    rb"\Aversion https://(?:git-lfs\.github\.com|hawser\.github\.com)/spec/v1\n"
    rb"(?:[a-z0-9.-]+ [^\n]*\n)*?oid sha256:(?P<oid>[0-9a-f]{64})\n",
)


def lfs_object(data: bytes) -> str | None:
    """The sha256 an LFS pointer names, or None when `data` is not a pointer."""
    if len(data) >= MAX_POINTER_BYTES:
        return None
    match = _POINTER.match(data)
    return match.group("oid").decode() if match else None


@dataclass(frozen=True)
class LfsOptions:
    """No settings: every rule looks for pointers; `[rule.actions] lfs` says what they do."""

    def summary(self) -> str:
        return "pointers without their objects"


class LfsPointers:
    name = "lfs"
    Options = LfsOptions
    inline = False
    default_action = "reject"
    maskable = False

    def run(self, push: Push, rules: Mapping[str, Rule], ctx: CheckContext) -> list[Verdict]:
        verdicts = []
        found: dict[bytes, str | None] = {}  # blob id -> LFS object, read once per push
        for update, _rule in updates_for(push, rules):
            findings: list[Finding] = []
            for blob_id, change in update.new_blobs.items():
                if blob_id not in found:
                    found[blob_id] = (
                        None if push.upstream_has(blob_id) else lfs_object(_head(push, blob_id))
                    )
                oid = found[blob_id]
                if oid is None:
                    continue
                findings.append(
                    Finding(
                        self.name,
                        update.ref,
                        f"Git LFS pointer to object sha256:{oid[:12]}, which was not uploaded "
                        "through the gate",
                        commit=change.commit.decode(),
                        path=change.path,
                        blob=blob_id.decode(),
                        type="Git LFS pointer",
                    )
                )
            if not update.new_blobs:
                continue
            verdicts.append(
                Verdict(
                    self.name,
                    update.ref,
                    passed=not findings,
                    reason=f"Git LFS pointers without their objects: {named_paths(findings)}",
                    findings=findings,
                    hint="the gate does not relay Git LFS: commit these files as regular git "
                    'files (git lfs migrate export --include="<path>" --everything) and push '
                    "again, or ask the gitgate admin",
                )
            )
        return verdicts


def _head(push: Push, blob_id: bytes) -> bytes:
    size = push.blob_sizes.get(blob_id)
    if size is not None and size >= MAX_POINTER_BYTES:
        return b""  # no pointer: its size is known from the unpack, no need to read it
    data = push.blob_data(blob_id)
    return b"" if len(data) >= MAX_POINTER_BYTES else data
