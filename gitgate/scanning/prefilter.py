"""Pick the few lines of a blob that detect-secrets needs to see (about 1 in 100 in real code).

detect-secrets runs 27 plugins and a dozen filters on every line, in Python: 0.3 MB/s. Almost
no line can produce a finding, and which ones can is decidable cheaply:

1. Candidates: every plugin's hints (see `hints`) run over the whole blob at once, at C speed.
   A line no hint of plugin P matches cannot give a finding of P.
2. Confirmation: for each candidate line, the plugins whose hints matched it run their own
   `analyze_line` (the exact code detect-secrets would run, minus the filters). If none of them
   reports anything, detect-secrets would report nothing on that line either.

Only confirmed lines go through detect-secrets' full line scan (plugins, then filters). The
result is the same as scanning every line as long as the filters look at nothing but the line
itself, which is how the engine configures them (see `engine`). The tests check the equality
over a corpus of planted secrets of every type in several file types, and random noise.
"""

from __future__ import annotations

import array
import re
import sys
from bisect import bisect_right
from collections.abc import Sequence
from functools import lru_cache
from itertools import accumulate, compress
from typing import Any

from gitgate.scanning.hints import LONG_WORD, Hint, UnsupportedPlugin, hints_for


@lru_cache(maxsize=8)
def fold_table(letters: str) -> dict[int, str]:
    """Map every character that IGNORECASE lets match one of `letters` onto that letter.

    Asked of the regex engine itself over all of Unicode, because its case-insensitive matching
    is wider than str.lower(): U+017F (long s) matches "s", U+212A (Kelvin sign) matches "k",
    U+0130 (capital I with dot) matches "i". An agent could spell "secret" with a long s to slip
    past a prefilter that only lower-cased.
    """
    encoding = "utf-32-le" if sys.byteorder == "little" else "utf-32-be"
    everything = array.array("I", range(sys.maxunicode + 1)).tobytes()
    chars = everything.decode(encoding, "surrogatepass")
    table: dict[int, str] = {}
    for char in re.findall(f"[{re.escape(letters)}]", chars, re.IGNORECASE):
        targets = [letter for letter in letters if re.fullmatch(letter, char, re.IGNORECASE)]
        if len(targets) != 1:
            raise UnsupportedPlugin(f"cannot fold {char!r}: matches {targets}")
        if char != targets[0]:
            table[ord(char)] = targets[0]
    return table


def _folded_letters(hints: Sequence[Hint]) -> str:
    """a-z (classes like [a-z] need all of them) and any other letter a folded hint spells."""
    extra = {c for h in hints if h.folded for c in h.pattern if c.isalpha() and not c.isascii()}
    return "abcdefghijklmnopqrstuvwxyz" + "".join(sorted(extra))


def _literal_of(pattern: str) -> str:
    """The string a pattern matches if it is a plain (escaped) literal, else ""."""
    plain = re.sub(r"\\(.)", r"\1", pattern)
    return plain if re.escape(plain) == pattern else ""


class Prefilter:
    """Candidate and confirmed lines for one set of configured plugin instances."""

    def __init__(self, plugins: Sequence[Any]) -> None:
        """Raises UnsupportedPlugin if any plugin has no known hints."""
        self._plugins = list(plugins)
        hints = [(hint, index) for index, p in enumerate(self._plugins) for hint in hints_for(p)]
        # One pass per distinct hint, for every plugin that declares it.
        grouped: dict[tuple[str, bool, bool], list[int]] = {}
        for h, i in hints:
            grouped.setdefault((h.pattern, h.folded, h.long_word), []).append(i)
        # (regex, plugin indexes, whether to look in the long words first: see Hint.long_word)
        self._exact = [
            (re.compile(pattern), tuple(found), long_word, _literal_of(pattern))
            for (pattern, folded, long_word), found in grouped.items()
            if not folded
        ]
        self._folded = [
            (re.compile(pattern), tuple(found), long_word)
            for (pattern, folded, long_word), found in grouped.items()
            if folded
        ]
        self._fold = fold_table(_folded_letters([h for h, _ in hints]))
        ascii_part = {k: v for k, v in self._fold.items() if k < 128}
        if ascii_part != {ord(c.upper()): c for c in "abcdefghijklmnopqrstuvwxyz"}:
            # The fast path below uses str.lower() for ASCII text; it must agree with the table.
            raise UnsupportedPlugin("ASCII case folding is not A-Z -> a-z")
        # For non-ASCII text, str.lower() (C speed) then str.replace() of the few characters
        # lower() leaves unlike the table (long s stays long s): translate() with a dict is
        # ~10x slower. lower() turns letters into letters, so this may fold more than the
        # table (more candidates, harmless) but never less.
        # (A character whose lower() is longer, like İ, changes the length: see `fold`.)
        self._after_lower = {
            chr(k).lower(): v
            for k, v in self._fold.items()
            if len(chr(k).lower()) == 1 and chr(k).lower() != v
        }

    def fold(self, text: str) -> str:
        """`text` case-folded for the folded hints, one character for one."""
        if text.isascii():
            return text.lower()
        folded = text.lower()
        if len(folded) != len(text):
            return text.translate(self._fold)  # lower() expanded a character (İ -> i̇)
        for char, letter in self._after_lower.items():
            if char in folded:
                folded = folded.replace(char, letter)
        return folded

    def lines_to_scan(self, lines: Sequence[str], filename: str) -> list[int]:
        """Indexes (0-based) of the lines detect-secrets has to scan, in order."""
        stripped = list(map(str.rstrip, lines))  # what the plugins see
        candidates = self.candidates(stripped)
        return [
            index
            for index in sorted(candidates)
            if self._confirmed(stripped[index], candidates[index], filename)
        ]

    def candidates(self, stripped: Sequence[str]) -> dict[int, set[int]]:
        """Line index -> indexes of the plugins whose hints match that (right-stripped) line."""
        text = "\n".join(stripped)
        spans: list[tuple[int, int, tuple[int, ...]]] = []
        all_words = text.split()
        # The long words, picked at C speed (no Python loop over the words).
        words = "\n".join(compress(all_words, map((LONG_WORD - 1).__lt__, map(len, all_words))))
        for regex, plugins, long_word, literal in self._exact:
            if long_word and not (literal in words if literal else regex.search(words)):
                continue
            spans.extend((m.start(), m.end(), plugins) for m in regex.finditer(text))
        if self._folded:
            folded = self.fold(text)  # one character for one: offsets (and lines) stay
            # Folding keeps whitespace where it is: the folded text's long words are these.
            folded_words = self.fold(words)
            for regex, plugins, long_word in self._folded:
                if long_word and regex.search(folded_words) is None:
                    continue
                spans.extend((m.start(), m.end(), plugins) for m in regex.finditer(folded))
        if not spans:
            return {}
        # Where each line starts in `text` (one more: where a line after the last would), at
        # C speed: a Python lambda per line was a tenth of the engine's time on real source.
        starts = list(accumulate(map((1).__add__, map(len, stripped)), initial=0))
        found: dict[int, set[int]] = {}
        for start, end, plugins in spans:
            first = bisect_right(starts, start) - 1
            last = max(start, end - 1)
            if last < starts[first + 1]:  # within its line, as hints are built to be
                found.setdefault(first, set()).update(plugins)
                continue
            # A match that spans lines marks them all; hints are built not to, but be safe.
            for index in range(first, bisect_right(starts, last)):
                found.setdefault(index, set()).update(plugins)
        return found

    def _confirmed(self, line: str, plugins: set[int], filename: str) -> bool:
        return any(
            self._plugins[index].analyze_line(filename=filename, line=line, line_number=0)
            for index in sorted(plugins)
        )
