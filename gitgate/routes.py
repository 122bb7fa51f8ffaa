"""Which URLs the gate serves, and which repo names it accepts.

`/{owner}/{repo}.git/<service path>` (also without `.git`) maps to
`{upstream.git_url}/{owner}/{repo}.git`. Names are checked strictly: GitHub's own character
set, no leading dot, no `..`, nothing that could turn into another path upstream or on disk
(the mirror lives at `{data_dir}/mirrors/{owner}/{repo}.git`).
"""

from __future__ import annotations

import re

_OWNER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,99}$")


class BadRepo(ValueError):
    """Not a repo name the gate accepts; the message says why."""


def repo_name(owner: str, name: str) -> str:
    """`owner/name` from URL segments, with `.git` removed; raises BadRepo."""
    if name.endswith(".git"):
        name = name[:-4]
    if not _OWNER.match(owner):
        raise BadRepo(f"invalid owner {owner[:50]!r}: letters, digits and '-' only")
    if not _NAME.match(name) or ".." in name or name.endswith((".", ".lock")):
        raise BadRepo(f"invalid repository name {name[:100]!r}")
    return f"{owner}/{name}"
