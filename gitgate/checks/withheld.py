"""Ref names that carry a secret, kept out of everything the gate stores (issue #8 §8).

A branch or tag name is written into session records (ref updates, statuses, verdicts,
findings), and from there into exports. When the secrets check finds a secret in a ref's name
the ref is refused, and every record of the push shows a marker instead of the name:
`<ref name withheld: GitHub Token 1a2b3c4d5e6f>` (the finding's type and short hash, enough to
find it in the agent's own output and to allowlist it). The agent's own git client still sees
its ref name in the report (`ng <ref> ...`): the protocol needs it, and the agent sent it.
A secret in a push option refuses every ref, so nothing is queued or relayed; options are not
recorded at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gitgate.checks.base import UNSTORABLE_PATHS


def markers(decisions: Iterable[Any]) -> dict[str, str]:
    """Ref name -> marker, for the refs whose names carry a secret."""
    out: dict[str, str] = {}
    for d in decisions:
        for v in d.verdicts:
            for f in v.findings:
                if f.path == UNSTORABLE_PATHS[0] and not v.passed:
                    out.setdefault(f.ref, f"<ref name withheld: {f.type} {f.hash}>")
    return out


def scrub(value: Any, withheld: dict[str, str]) -> Any:
    """`value` (JSON-shaped) with every withheld ref name replaced by its marker."""
    if not withheld:
        return value
    if isinstance(value, str):
        for ref, marker in withheld.items():
            value = value.replace(ref, marker)
        return value
    if isinstance(value, dict):
        return {scrub(k, withheld): scrub(v, withheld) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v, withheld) for v in value]
    return value
