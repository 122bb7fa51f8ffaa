"""Which URLs the gate serves, and the one name each repository goes by.

`/{owner}/{repo}.git/<service path>` (also without `.git`) maps to
`{upstream.git_url}/{owner}/{repo}.git`. GitHub resolves `owner/name` case-insensitively and
strips one trailing `.git`, so `acme/App`, `ACME/app.git` and `acme/app` are one repository
there. APPSEC: the gate must give them one decision too, or a strict `acme/app` rule is
bypassed by typing `acme/App` (the looser `acme/*` rule would match it and the push would land
upstream under the strict repo). Hence one canonical identity, `canonical_repo()`: lower-cased
owner and name, one trailing `.git` stripped, GitHub's own character set and nothing else. It is
what rules are matched against, what the mirror path, locks, the queue, the audit records and
every message use, and what the upstream URL is built from.

Names are checked strictly: no leading dot, no `..`, nothing that could turn into another path
upstream or on disk (the mirror lives at `{data_dir}/mirrors/{owner}/{repo}.git`). The check
runs before lower-casing, on ASCII only, so no Unicode case folding can map an odd spelling
onto a valid name.
"""

from __future__ import annotations

import re

_OWNER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,99}$")
HINT = "use http(s)://<gate>/<owner>/<repo>.git as the remote"


class BadRepo(ValueError):
    """Not a repo name the gate accepts; the message says why and what to use."""


def canonical_repo(owner: str, name: str) -> str:
    """The canonical `owner/name` (lower case, no `.git`) from URL segments; raises BadRepo."""
    if name.lower().endswith(".git"):
        name = name[:-4]
    if not _OWNER.match(owner):
        raise BadRepo(f"invalid owner {owner[:50]!r}: letters, digits and '-' only; {HINT}")
    if (
        not _NAME.match(name)
        or ".." in name
        or name.lower().endswith((".", ".lock", ".git"))  # `x.git.git`: GitHub's meaning unclear
    ):
        raise BadRepo(f"invalid repository name {name[:100]!r}; {HINT}")
    return f"{owner.lower()}/{name.lower()}"


def parse_repo(text: str) -> str:
    """The canonical name of an `owner/name` typed by an admin (CLI) or found in a URL path."""
    parts = text.strip().strip("/").split("/")
    if len(parts) != 2:
        raise BadRepo(f"{text[:150]!r} is not owner/name")
    return canonical_repo(parts[0], parts[1])


def repo_pattern(pattern: str) -> str:
    """A rule's `repos` glob in the canonical form: globs match repo names case-insensitively
    (as GitHub resolves them), and `acme/app.git` in a rule means `acme/app`."""
    pattern = pattern.lower()
    return pattern[:-4] if pattern.endswith(".git") else pattern
