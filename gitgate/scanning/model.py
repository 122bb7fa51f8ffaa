"""What the secret scanner hands back: a type, a line and a hash, never the secret itself."""

from __future__ import annotations

from dataclasses import dataclass

# (secret type, 1-based line, sha1 hex of the secret, confidence, byte span in the line): the
# only shape that leaves a worker.
RawHit = tuple[str, int, str, str, int, int]


@dataclass(frozen=True)
class SecretHit:
    """One finding in one blob.

    `secret_hash` is detect-secrets' sha1 of the value (the same hash a detect-secrets baseline
    stores), so an admin can allowlist a finding without anyone writing the value down.
    """

    type: str  # detect-secrets plugin secret type, e.g. "AWS Access Key"
    line: int  # 1-based line number in the blob
    secret_hash: str
    confidence: str = "high"  # high | medium | low (see gitgate.scanning.confidence)
    start: int = 0  # byte offsets of the secret within its line (for masking), end exclusive
    end: int = 0


class ScanError(Exception):
    """The scan produced no verdict. A security gate treats this as a failure (fails closed)."""


class ScanTimeout(ScanError):
    """The scan exceeded its time budget; the worker processes were killed."""


class ScanAborted(ScanError):
    """The gate is shutting down: the scan was stopped with its worker processes."""
