"""Shape checks on what callers hand the stores, aimed at one mistake: writing a secret down.

APPSEC: a finding says where a secret is and what kind it is; its value must never reach the
database. The stores cannot recognise a secret, but they can refuse any key that is not part of
a finding's agreed shape, and a "hash" that is longer than a short hash.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

FINDING_KEYS = frozenset({"check", "ref", "commit", "path", "line", "type", "hash", "confidence"})
CONFIDENCE_LEVELS = (None, "high", "medium", "low")
MAX_HASH_LEN = 16
_HEX = re.compile(r"[0-9a-f]*")


def check_findings(findings: Any) -> list[dict[str, Any]]:
    """Return ``findings`` as a list of dicts, or raise ValueError naming what is wrong."""
    if findings is None:
        return []
    if isinstance(findings, Mapping | str | bytes) or not isinstance(findings, Iterable):
        raise ValueError("findings must be a list of {check, ref, commit, path, line, type, hash}")
    checked = []
    for finding in findings:
        if not isinstance(finding, Mapping):
            raise ValueError("each finding must be a mapping")
        extra = sorted(set(finding) - FINDING_KEYS)
        if extra:
            raise ValueError(
                f"finding has unexpected keys {extra}: findings carry a type, a location and a "
                "short hash, never a secret value"
            )
        digest = finding.get("hash")
        if digest is not None and (
            not isinstance(digest, str) or len(digest) > MAX_HASH_LEN or not _HEX.fullmatch(digest)
        ):
            raise ValueError(
                f"finding hash must be a short lowercase hex hash (at most {MAX_HASH_LEN} chars)"
            )
        if finding.get("confidence") not in CONFIDENCE_LEVELS:
            raise ValueError("finding confidence must be high, medium or low")
        checked.append(dict(finding))
    return checked
