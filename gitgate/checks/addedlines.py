"""Which lines of a modified file are new: what the secrets check scans of it.

A secret already upstream is not blocked again (GitHub's rule), so of a modified file only the
lines that were not in the old version count. "Not in the old version" is a multiset
comparison of lines (a line's first copies are the old ones, its last copies the new), which
is linear in the file's size whatever an attacker puts in it, unlike a diff. A file's
unchanged head is compared block by block in C and left out of the count.
"""

from __future__ import annotations

from collections import Counter


def added_lines(old: bytes, new: bytes) -> set[int]:
    """1-based numbers of lines in `new` that `old` did not already have."""
    cut = common_head(old, new)
    head = new.count(b"\n", 0, cut)
    lines = new[cut:].split(b"\n")
    return {head + i + 1 for i in _added_indexes(old[cut:].split(b"\n"), lines)}


def common_head(old: bytes, new: bytes, block: int = 4096) -> int:
    """Where the whole lines `old` and `new` start with in common end (just after a newline).

    Those lines are old in `new` and can be left out of the count: a copy of a line in them
    is an early copy in both files, and only a line's last copies in `new` are new (see
    `_added_indexes`), so the answer for the rest is the same. Most edits of a file leave its
    head as it was; comparing it block by block in C spares splitting and counting it."""
    end = min(len(old), len(new))
    at = 0
    while at < end and old[at : at + block] == new[at : at + block]:
        at += block
    lo, hi = at, min(at + block, end)  # the first difference is in here: halve to it
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if old[at:mid] == new[at:mid]:
            lo = mid
        else:
            hi = mid - 1
    return new.rfind(b"\n", 0, lo) + 1


def _added_indexes(old_lines: list[bytes], new_lines: list[bytes]) -> list[int]:
    """0-based indexes of the lines of `new_lines` that `old_lines` did not already have,
    as a multiset: of n copies of a line where old had k, the first k are old, the rest new.
    Both files are counted in C (Counter); Python only visits lines whose count grew, so a
    small edit of a large file costs two splits and two counts, not a loop over its lines."""
    had = Counter(old_lines).get
    excess = {line: n - had(line, 0) for line, n in Counter(new_lines).items() if n > had(line, 0)}
    if not excess:
        return []
    added = []
    for i in reversed([i for i, line in enumerate(new_lines) if line in excess]):
        line = new_lines[i]
        if excess[line] > 0:  # the last copies are the new ones
            excess[line] -= 1
            added.append(i)
    added.reverse()
    return added


def blank_unchanged(old: bytes, new: bytes) -> bytes:
    """`new` with every line `old` already had blanked (line numbers stay true)."""
    cut = common_head(old, new)  # its lines are blanked whole: their newlines stay
    new_lines = new[cut:].split(b"\n")
    out = [b""] * len(new_lines)
    for i in _added_indexes(old[cut:].split(b"\n"), new_lines):
        out[i] = new_lines[i]
    return b"\n" * new.count(b"\n", 0, cut) + b"\n".join(out)
