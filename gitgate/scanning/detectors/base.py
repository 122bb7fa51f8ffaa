"""What the gitgate detectors share: a prefixed-token base class and the checksums.

Each detector says which strings every match must contain (`HINTS`, exact; or `FOLDED_HINTS`,
lower case, run on case-folded text), so the prefilter (`gitgate.scanning.hints`) can skip the
lines that cannot match, as it does for the built-in plugins. Hints carry no anchors and no
lookarounds; the detector's own regexes may.

Checksums: GitHub (ghp_, gho_, ghu_, ghs_, ghr_) and npm (npm_) tokens end in 6 base62 digits
of the CRC32 of the 30 random characters before them. A token whose checksum holds cannot be a
typo or an invented example, which is what makes it "high" confidence (see `confidence`).
"""

from __future__ import annotations

import re
import zlib
from typing import Any, ClassVar

from detect_secrets.plugins.base import RegexBasedDetector

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_CRC_TOKEN = re.compile(r"^(?:gh[pousr]|npm)_([A-Za-z0-9]{30})([A-Za-z0-9]{6})$")


def base62(number: int, width: int = 6) -> str:
    digits = ""
    while number:
        number, rest = divmod(number, 62)
        digits = BASE62[rest] + digits
    return digits.rjust(width, "0")


def crc32_base62(random_part: str) -> str:
    """The 6-character checksum GitHub and npm append to a token's 30 random characters."""
    return base62(zlib.crc32(random_part.encode("ascii")))


def has_valid_checksum(token: str) -> bool:
    """True for a GitHub classic or npm token whose CRC32 checksum holds."""
    match = _CRC_TOKEN.match(token)
    return match is not None and crc32_base62(match.group(1)) == match.group(2)


# Folded hints shared with other plugins, so that detectors needing a name next to the value
# add no pass over the text: CONTEXT_HINTS are shared by Token keyword, Bearer, Datadog and
# URL query credentials, KEYWORD_HINT is the very hint of detect-secrets' keyword plugin (see
# `hints._keyword`). Each detector that declares them matches one of them wherever it reports.
# Three hints rather than one "token|bearer |..." alternation: the regex engine finds each
# one's first letter at C speed, the alternation it tried at every t, b and d (3x slower).
CONTEXT_HINTS = ("token", "bearer ", r"(?:datadog|dd)[\w-]{0,20}?(?:api|app)")


class PrefixedDetector(RegexBasedDetector):
    """A token with a fixed shape. Subclasses set secret_type, denylist and HINTS."""

    HINTS: ClassVar[tuple[str, ...]] = ()
    FOLDED_HINTS: ClassVar[tuple[str, ...]] = ()
    # Every match is a run of at least this many characters without whitespace (a vendor
    # token): lets the prefilter look for HINTS in a blob's long words only. 0: no such run.
    MIN_WORD: ClassVar[int] = 24

    def analyze_string(self, string: str) -> Any:
        for regex in self.denylist:
            for match in regex.finditer(string):
                # The secret is group 1 where the regex has one (context around the token).
                yield match.group(1) if regex.groups else match.group(0)
