"""hints: grouping alternatives by their first letter changes how fast, never what, they match."""

from __future__ import annotations

import random
import re
from pathlib import Path

import detect_secrets
import pytest
from detect_secrets.plugins import keyword

from gitgate.scanning.detectors.base import CONTEXT_HINTS
from gitgate.scanning.hints import KEYWORD_HINT, UnsupportedPlugin, alternatives, by_first_letter

OLD_CONTEXT_HINT = r"token|bearer |(?:datadog|dd)[\w-]{0,20}?(?:api|app)"


def texts() -> list[str]:
    """Lines near the keywords (pieces of them, underscores, dashes) and real source."""
    rng = random.Random(11)
    pieces = [w.replace("_?", "_") for w in keyword.DENYLIST] + ["token", "bearer ", "datadog"]
    alphabet = "abcdekopstuy_- \n"
    out = []
    for _ in range(3000):
        parts = [rng.choice(pieces)[: rng.randrange(1, 12)] for _ in range(rng.randrange(1, 4))]
        noise = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 6)))
        out.append(noise.join(parts) + rng.choice(["", "api", "app", "_key", "key"]))
    package = Path(detect_secrets.__file__).parent
    out += [p.read_text(encoding="utf-8").lower() for p in sorted(package.rglob("*.py"))]
    return out


def lines_matched(pattern: str | list[str], text: str) -> set[int]:
    found = set()
    for regex in [pattern] if isinstance(pattern, str) else pattern:
        found |= {text.count("\n", 0, m.start()) for m in re.finditer(regex, text)}
    return found


def test_grouped_keyword_hint_marks_the_lines_the_plain_alternation_did() -> None:
    plain = "|".join(keyword.DENYLIST)
    assert plain != KEYWORD_HINT
    for text in texts():
        assert lines_matched(KEYWORD_HINT, text) == lines_matched(plain, text), text


def test_split_context_hints_mark_the_lines_the_one_alternation_did() -> None:
    for text in texts():
        assert lines_matched(list(CONTEXT_HINTS), text) == lines_matched(OLD_CONTEXT_HINT, text)


def test_by_first_letter_groups_in_order() -> None:
    assert by_first_letter(["api_?key", "secret", "auth_?key", "pwd"]) == (
        "a(?:pi_?key|uth_?key)|s(?:ecret)|p(?:wd)"
    )


@pytest.mark.parametrize("bad", ["a", "a?pi", "a*b", "a{2}b", "ab|cd", "a(b)", "a[bc]", r"\wab"])
def test_by_first_letter_refuses_what_it_cannot_group_safely(bad: str) -> None:
    with pytest.raises(UnsupportedPlugin):
        by_first_letter(["secret", bad])


def test_alternatives_of_a_plain_group() -> None:
    assert alternatives("(?:key|pwd|password|pass|token)") == [
        "key", "pwd", "password", "pass", "token",
    ]  # fmt: skip
    for bad in ("key|pwd", "(?:a(?:b)|c)", "(key|pwd)"):
        with pytest.raises(UnsupportedPlugin):
            alternatives(bad)
