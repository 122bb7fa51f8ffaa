"""Glob matching for repos, refs and paths, with one meaning everywhere.

`*` matches within one path segment, `**` matches across segments (including none), `?` one
character. A pattern without a `/` matches the last segment at any depth (like .gitignore), so
`*.tf` catches `infra/prod/main.tf`. GitHub rulesets and Gitea use the same `*`/`**` split, which
is what admins expect: `refs/heads/*` is not `refs/heads/feature/x`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache


@lru_cache(maxsize=4096)
def _compile(pattern: str) -> re.Pattern[str]:
    anchored = "/" in pattern
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(c))
            i += 1
    body = "".join(out)
    if not anchored:
        body = "(?:.*/)?" + body
    return re.compile(body + r"\Z", re.DOTALL)


def match(pattern: str, value: str) -> bool:
    """True when `value` matches the glob `pattern` (see the module docstring)."""
    return _compile(pattern).match(value) is not None


def match_any(patterns: Iterable[str], value: str) -> str | None:
    """The first pattern in `patterns` that matches `value`, or None."""
    for pattern in patterns:
        if match(pattern, value):
            return pattern
    return None
