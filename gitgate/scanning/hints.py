"""Necessary conditions ("hints") for each detect-secrets 1.5.0 plugin, taken from its regexes.

A hint H for plugin P is a regex such that: if P reports anything on a line, H matches that line.
The prefilter runs every hint over a whole blob at C speed and sends only the lines some hint
matched to detect-secrets, so a hint may match too much (costs time) but never too little (would
miss a secret). Where a plugin's own regex already satisfies the rules below it is used as is;
otherwise the hint is the part of the plugin's regex that every match must contain (a literal
prefix, the keyword group, the secret's character run), read from the plugin's class attributes
where the plugin exposes them.

Rules every hint obeys, so that one pass over the whole blob finds every line a per-line pass
would: no anchors (`^`, `$`, `\\b`) and no lookarounds, i.e. whether it matches at a position
depends only on the characters it consumes.

Two families:
- exact hints run on the text as it is (plugins whose regexes are case-sensitive);
- folded hints are written in lower case and run on the case-folded text (see `prefilter`), for
  plugins compiled with IGNORECASE: folding maps every character that IGNORECASE would let match
  a letter onto that letter, so a lower-case pattern over folded text matches wherever the
  IGNORECASE pattern matched the original.

The hints were derived by reading detect-secrets 1.5.0; any other version disables the prefilter
(`UnsupportedPlugin`), which costs speed, never findings.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from detect_secrets.__version__ import VERSION
from detect_secrets.plugins import keyword

SUPPORTED_VERSION = "1.5.0"

# Artifactory's regexes wrap the token in these boundary groups (anchors inside): drop them.
_ARTIFACTORY_LEAD = r'(?:\s|=|:|"|^)'
_ARTIFACTORY_TRAIL = r'(?:\s|"|$)'
_GITLAB_TRAIL = r"(?!\w)"
# build_assignment_regex() puts this between the prefix and the keyword of the assignment.
_DASH_UNDERSCORE = "(?:_|-|)"


class UnsupportedPlugin(Exception):
    """No hint is known for this plugin (or this detect-secrets version): scan every line."""


def by_first_letter(alternatives: list[str]) -> str:
    """`a|b|...` with the alternatives that start with the same letter grouped behind it:
    "api_?key|auth_?key|secret" -> "a(?:pi_?key|uth_?key)|s(?:ecret)". The same strings
    match, but the regex engine tries one group where a letter fits instead of every
    alternative (the keyword hint ran 1.6x faster over real source)."""
    groups: dict[str, list[str]] = {}
    for alternative in alternatives:
        first = alternative[:1]
        rest = alternative[1:]
        if not first.isalpha() or not rest or rest[0] in "?*+{" or set("|()[]\\") & set(rest):
            raise UnsupportedPlugin(f"cannot group {alternative!r} by its first letter")
        groups.setdefault(first, []).append(rest)
    return "|".join(f"{first}(?:{'|'.join(rest)})" for first, rest in groups.items())


def alternatives(group: str) -> list[str]:
    """The alternatives of a plain "(?:a|b|c)" group (no group inside): ["a", "b", "c"]."""
    inner = group[3:-1]
    if not (group.startswith("(?:") and group.endswith(")")) or set("()") & set(inner):
        raise UnsupportedPlugin(f"not a plain group of alternatives: {group!r}")
    return inner.split("|")


# detect-secrets' keyword plugin's hint, which gitgate's own detectors share (one pass).
KEYWORD_HINT = by_first_letter(list(keyword.DENYLIST))


@dataclass(frozen=True)
class Hint:
    pattern: str
    folded: bool  # run on the case-folded text; the pattern is lower case
    # The plugin matches this hint covers are runs of at least LONG_WORD characters without
    # whitespace (tokens), and the hint matches inside them: the prefilter first looks for it
    # in the blob's long words only (a fifth of code's text), and runs it over the whole text
    # only where it is there. Most token hints are in no blob, so this halves their cost.
    long_word: bool = False


LONG_WORD = 24
# Built-in plugins whose exact hints qualify (every regex's shortest match is >= 24
# characters of a token alphabet): read from detect-secrets 1.5.0's regexes.
# Folded hints that qualify: AWS's quoted 40-character secret key (the 20-character key id
# does not), Slack's webhook URL (its tokens can be shorter than LONG_WORD).
_LONG_WORD_FOLDED = {
    "AWSKeyDetector": (r"['\"][0-9a-z/+]{40}['\"]",),
    "SlackDetector": (r"hooks\.slack\.com/services/",),
}
_LONG_WORD_PLUGINS = frozenset(
    {
        "AzureStorageKeyDetector", "DiscordBotTokenDetector",
        "GitHubTokenDetector", "GitLabTokenDetector", "MailchimpDetector", "OpenAIDetector",
        "PypiTokenDetector", "SendGridDetector", "SquareOAuthDetector", "StripeDetector",
        "TelegramBotTokenDetector", "TwilioKeyDetector",
    }
)  # fmt: skip


def _exact(*patterns: str) -> list[Hint]:
    return [Hint(p, folded=False) for p in patterns]


def _folded(*patterns: str) -> list[Hint]:
    for p in patterns:
        if p != p.lower():
            # Upper case in a folded hint would be dead (or, as \S \W \D, mean something else).
            raise UnsupportedPlugin(f"folded hint is not lower case: {p!r}")
    return [Hint(p, folded=True) for p in patterns]


def _own(plugin: Any) -> list[Hint]:
    """The plugin's own regexes: only for case-sensitive ones without anchors or lookarounds."""
    for regex in plugin.denylist:
        if regex.flags & (re.IGNORECASE | re.MULTILINE | re.VERBOSE | re.DOTALL):
            raise UnsupportedPlugin(f"{type(plugin).__name__} has flags {regex.flags}")
    return _exact(*(regex.pattern for regex in plugin.denylist))


def _strip(pattern: str, lead: str = "", trail: str = "") -> str:
    if not (pattern.startswith(lead) and pattern.endswith(trail)):
        raise UnsupportedPlugin(f"unexpected pattern {pattern!r}")
    return pattern[len(lead) : len(pattern) - len(trail)]


def _artifactory(plugin: Any) -> list[Hint]:
    return _exact(
        *(_strip(r.pattern, _ARTIFACTORY_LEAD, _ARTIFACTORY_TRAIL) for r in plugin.denylist)
    )


def _gitlab(plugin: Any) -> list[Hint]:
    # Dropping a trailing negative lookahead only widens the match.
    return _exact(*(_strip(r.pattern, trail=_GITLAB_TRAIL) for r in plugin.denylist))


def _aws(plugin: Any) -> list[Hint]:
    # [0]: the key id, case-sensitive, used as is. [1]: IGNORECASE "aws ... key ... '<40>'";
    # its quoted 40-character run is the selective part.
    return [*_exact(plugin.denylist[0].pattern), *_folded(r"['\"][0-9a-z/+]{40}['\"]")]


def _assignment(prefix: str, keyword_regex: str) -> str:
    """The contiguous "<prefix><-|_|><keyword>" core of build_assignment_regex()."""
    return f"(?:{prefix}){_DASH_UNDERSCORE}(?:{keyword_regex})"


def _cloudant(plugin: Any) -> list[Hint]:
    cls = type(plugin)
    return _folded(
        _assignment(cls.cl, cls.cl_key_or_pass),  # "cloudant_password = ..."
        cls.dot + cls.cloudant_api_url,  # "https://user:pw@acct.cloudant.com"
    )


def _ibm_cloud_iam(plugin: Any) -> list[Hint]:
    # The prefix of this assignment may be empty and its keyword ("key") is in every other line
    # of code, so the hint is keyword + what build_assignment_regex allows between keyword and
    # secret (quotes, "]", spaces, "=", ":", "=>", "::") + the 44-character secret.
    keywords = by_first_letter(alternatives(type(plugin).key_or_pass))
    return _folded(f"(?:{keywords})" + r"[\"'\]: =>]*[a-z0-9_\-]{44}")


def _ibm_cos_hmac(plugin: Any) -> list[Hint]:
    return _folded(type(plugin).password_keyword)  # "secret[-_]?(access)?[-_]?key"


def _ip_public(plugin: Any) -> list[Hint]:
    # Four ASCII-digit octets: whatever the first octet, ".o2.o3.o4" is in the match.
    return _exact(r"\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]")


def _softlayer(plugin: Any) -> list[Hint]:
    cls = type(plugin)
    return _folded(_assignment(cls.sl, cls.key_or_pass), "softlayer")


def _discord(plugin: Any) -> list[Hint]:
    return _exact(r"\.[a-zA-Z\d_-]{6}\.[a-zA-Z\d_-]{27}")  # the tail of its one regex


def _slack(plugin: Any) -> list[Hint]:
    return _folded("xox(?:a|b|p|o|s|r)-", r"hooks\.slack\.com/services/")


def _keyword(plugin: Any) -> list[Hint]:
    # Every keyword regex (all file types) contains one of the denylisted words.
    return _folded(KEYWORD_HINT)


def min_entropy_length(limit: float) -> int:
    """Shortest string whose Shannon entropy can exceed `limit`.

    A string of n characters has entropy at most log2(n) (all characters distinct); the margin
    covers floating-point rounding in detect-secrets' own computation.
    """
    return max(1, math.ceil(2 ** (limit - 1e-6)))


def _entropy(plugin: Any) -> list[Hint]:
    # The plugin reports quoted runs of its charset whose entropy is above its limit.
    shortest = min_entropy_length(plugin.entropy_limit)
    run = f"[{re.escape(plugin.charset)}]{{{shortest},}}"
    # A quoted run has no whitespace: with its quotes, a long word if long enough (base64).
    return [Hint(rf"(['\"]){run}\1", folded=False, long_word=shortest + 2 >= LONG_WORD)]


def _literal(*patterns: str) -> Callable[[Any], list[Hint]]:
    return lambda plugin: _exact(*patterns)


_BUILDERS: dict[str, Callable[[Any], list[Hint]]] = {
    "ArtifactoryDetector": _artifactory,
    "AWSKeyDetector": _aws,
    "AzureStorageKeyDetector": _own,
    "BasicAuthDetector": _own,  # its classes exclude whitespace: no newline crossing
    "CloudantDetector": _cloudant,
    "DiscordBotTokenDetector": _discord,
    "GitHubTokenDetector": _own,
    "GitLabTokenDetector": _gitlab,
    "IbmCloudIamDetector": _ibm_cloud_iam,
    "IbmCosHmacDetector": _ibm_cos_hmac,
    "IPPublicDetector": _ip_public,
    "JwtTokenDetector": _literal("eyJ"),
    "MailchimpDetector": _literal("-us[0-9]"),
    "NpmDetector": _literal("/:_authToken="),
    "OpenAIDetector": _literal("T3BlbkFJ"),
    "PrivateKeyDetector": _literal("PRIVATE KEY", "PuTTY-User-Key-File-2"),  # 2 passes, not 8
    "PypiTokenDetector": _own,
    "SendGridDetector": _own,
    "SlackDetector": _slack,
    "SoftlayerDetector": _softlayer,
    "SquareOAuthDetector": _own,
    "StripeDetector": _literal("k_live_"),  # "(?:r|s)k_live_": a literal start is faster
    "TelegramBotTokenDetector": _literal(":[0-9A-Za-z_-]{35}"),
    "TwilioKeyDetector": _own,
    "KeywordDetector": _keyword,
    "Base64HighEntropyString": _entropy,
    "HexHighEntropyString": _entropy,
}


def _declared(plugin: Any) -> list[Hint]:
    """gitgate's own detectors declare their hints (`detectors.base.PrefixedDetector`)."""
    cls = type(plugin)
    long_word = cls.MIN_WORD >= LONG_WORD  # every match is a long run without whitespace
    exact = [Hint(re.escape(lit), folded=False, long_word=long_word) for lit in cls.HINTS]
    hints = [*exact, *_folded(*cls.FOLDED_HINTS)]
    if not hints:
        raise UnsupportedPlugin(f"{cls.__name__} declares no hints")
    return hints


def hints_for(plugin: Any) -> list[Hint]:
    """The hints of one configured plugin instance. Raises UnsupportedPlugin."""
    if VERSION != SUPPORTED_VERSION:
        raise UnsupportedPlugin(f"hints are for detect-secrets {SUPPORTED_VERSION}, not {VERSION}")
    if all(hasattr(type(plugin), a) for a in ("HINTS", "FOLDED_HINTS", "MIN_WORD")):
        return _declared(plugin)
    name = type(plugin).__name__
    builder = _BUILDERS.get(name)
    if builder is None or type(plugin).__module__.split(".")[0] != "detect_secrets":
        raise UnsupportedPlugin(f"no hint for plugin {name}")
    hints = builder(plugin)
    if name in _LONG_WORD_PLUGINS:
        hints = [Hint(h.pattern, h.folded, long_word=not h.folded) for h in hints]
    elif name in _LONG_WORD_FOLDED:
        hints = [
            Hint(h.pattern, h.folded, long_word=h.pattern in _LONG_WORD_FOLDED[name]) for h in hints
        ]
    return hints
