"""The lines of a modified file that the secrets check scans: those the old version did not
already have, as a multiset (issue #17: the fast form must mean exactly the plain one)."""

from __future__ import annotations

import random
from collections import Counter

from gitgate.checks.addedlines import added_lines, blank_unchanged, common_head


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


def test_a_common_head_left_out_changes_nothing() -> None:
    """Files that share their first lines (the usual edit), cut anywhere: left out of the
    count by `common_head`, they give what the plain definition gives."""
    rng = random.Random(1717)
    alphabet = [b"a", b"b", b"", b"  x = 1", b"a" * 5000]  # a line longer than a compared block
    for _ in range(3000):
        head = b"\n".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6)))
        if rng.random() < 0.5:
            head += b"\n"
        old = head + b"\n".join(rng.choice(alphabet) for _ in range(rng.randint(0, 5)))
        new = head + b"\n".join(rng.choice(alphabet) for _ in range(rng.randint(0, 5)))
        cut = common_head(old, new)
        assert old[:cut] == new[:cut] and (cut == 0 or new[cut - 1 : cut] == b"\n")
        expected = _plain(old, new)
        assert added_lines(old, new) == expected, (old, new)
        lines = new.split(b"\n")
        kept = [line if i in expected else b"" for i, line in enumerate(lines, start=1)]
        assert blank_unchanged(old, new) == b"\n".join(kept), (old, new)
    assert common_head(b"a\nb\nc", b"a\nb\nc") == 4  # the last line has no newline: counted
    assert common_head(b"a\nb\n", b"a\nb\n") == 4 and common_head(b"ab", b"ab") == 0
