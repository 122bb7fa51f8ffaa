"""The lines of a modified file that the secrets check scans: those the old version did not
already have, as a multiset (issue #17: the fast form must mean exactly the plain one)."""

from __future__ import annotations

import random
from collections import Counter

from gitgate.checks.secrets import added_lines, blank_unchanged


def _plain(old: bytes, new: bytes) -> set[int]:
    """The definition, line by line: each old line pays for one copy in the new file."""
    budget = Counter(old.split(b"\n"))
    added = set()
    for i, line in enumerate(new.split(b"\n"), start=1):
        if budget[line] > 0:
            budget[line] -= 1
        else:
            added.add(i)
    return added


def test_duplicates_count_as_a_multiset() -> None:
    old = b"a\nb\na"
    new = b"a\na\na\nb\nb\nc"
    assert added_lines(old, new) == {3, 5, 6}
    assert blank_unchanged(old, new) == b"\n\na\n\nb\nc"
    assert added_lines(new, old) == set()
    assert blank_unchanged(new, old) == b"\n\n"


def test_matches_the_plain_definition_on_random_files() -> None:
    rng = random.Random(17)
    alphabet = [b"a", b"b", b"c", b"", b"  x = 1", b"\xff\xfe"]
    for _ in range(5000):
        old = b"\n".join(rng.choice(alphabet[:-1]) for _ in range(rng.randint(0, 9)))
        new = b"\n".join(rng.choice(alphabet[1:]) for _ in range(rng.randint(0, 9)))
        expected = _plain(old, new)
        assert added_lines(old, new) == expected, (old, new)
        lines = new.split(b"\n")
        kept = [line if i in expected else b"" for i, line in enumerate(lines, start=1)]
        assert blank_unchanged(old, new) == b"\n".join(kept), (old, new)
