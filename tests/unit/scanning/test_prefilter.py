"""prefilter.candidates: the lines a search of every hint over the whole blob marks are the
lines a search line by line would mark (the bookkeeping that maps matches to lines)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import ClassVar

from gitgate.scanning import engine
from gitgate.scanning.hints import LONG_WORD
from gitgate.scanning.prefilter import Prefilter


def per_line(prefilter: Prefilter, stripped: list[str]) -> dict[int, set[int]]:
    """Each hint searched in each line alone; a long-word hint (Hint.long_word) only where it
    is in one of the blob's words of LONG_WORD characters or more."""
    words = [w for w in " ".join(stripped).split() if len(w) >= LONG_WORD]
    hints = [(r, p, lw, str) for r, p, lw, _ in prefilter._exact]
    hints += [(r, p, lw, prefilter.fold) for r, p, lw in prefilter._folded]
    found: dict[int, set[int]] = {}
    for regex, plugins, long_word, fold in hints:
        if long_word and not any(regex.search(fold(w)) for w in words):
            continue
        for index, line in enumerate(stripped):
            if regex.search(fold(line)):
                found.setdefault(index, set()).update(plugins)
    return found


def test_candidates_are_the_lines_each_hint_matches_on_its_own() -> None:
    prefilter = engine.configure().prefilter
    assert prefilter is not None
    rng = random.Random(5)
    source = Path(engine.__file__).read_text(encoding="utf-8").split("\n")
    folds = ["  ", "\u017fecret", "\u0130 token"]  # long s, capital I with a dot
    blobs = [source, [], [""], ["token"], ["", "password = 1", ""], folds]
    for _ in range(50):  # lines shuffled, some empty, some with trailing blanks
        blobs.append([rng.choice(source) + rng.choice(["", "  ", "\t"]) for _ in range(30)])
    for lines in blobs:
        stripped = [line.rstrip() for line in lines]
        assert prefilter.candidates(stripped) == per_line(prefilter, stripped), lines


class _Spanning:
    """A declared plugin whose one hint crosses a line end (real hints never do)."""

    HINTS: ClassVar[tuple[str, ...]] = ("x\ny",)
    FOLDED_HINTS: ClassVar[tuple[str, ...]] = ()
    MIN_WORD: ClassVar[int] = 0


def test_a_match_across_lines_marks_every_line_it_covers() -> None:
    prefilter = Prefilter([_Spanning()])
    assert prefilter.candidates(["ax", "yb", "c"]) == {0: {0}, 1: {0}}
    assert prefilter.candidates(["x", "y"]) == {0: {0}, 1: {0}}
    assert prefilter.candidates(["x", "", "y"]) == {}
