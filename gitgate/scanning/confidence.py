"""How sure the gate is that a finding is a live secret: high, medium or low.

- high: a fixed-shape token with a vendor prefix (sk-ant-, github_pat_, AKIA, xoxb-, hvs., ...),
  a token whose checksum holds (GitHub classic, npm), or a private key. Such a string is not
  written by accident; the placeholder filter removes the documented example values.
- medium: shapes that also occur as non-secrets (JWTs, URL credentials, Bearer values,
  unprefixed vendor keys), and keyword and entropy findings in config files.
- low: keyword and entropy findings in code, public IP addresses.
Tests, fixtures, examples and docs (`paths.is_test_path`) lower a finding one level, except a
token whose checksum holds: fake-looking content is expected there, a valid token is not.

Rules map each level to an action (`[rule.secret_actions]`), so an admin can reject high and
queue or allow-with-warning the rest.
"""

from __future__ import annotations

from gitgate.scanning import paths
from gitgate.scanning.detectors.base import has_valid_checksum
from gitgate.scanning.filters import HEURISTIC_TYPES

LEVELS = ("low", "medium", "high")
CHECKSUMMED = frozenset({"GitHub Token", "npm Token"})
MEDIUM = frozenset(
    {
        "Artifactory Credentials", "Basic Auth Credentials", "Bearer Token", "Cloudant Credentials",
        "Datadog Key", "Discord Bot Token", "IBM Cloud IAM Key", "IBM COS HMAC Credentials",
        "JSON Web Token", "Mailchimp Access Key", "SoftLayer Credentials", "Telegram Bot Token",
        "Twilio API Key", "Netrc Password", "URL Query Credential", "URL Credentials",
    }
)  # fmt: skip
LOW = frozenset({"Public IP (ipv4)"})


def confidence(secret_type: str, value: str, filename: str) -> str:
    """The level of one finding; `filename` is the pseudo name from `paths.scan_name`."""
    if secret_type in CHECKSUMMED:
        if has_valid_checksum(value):
            return "high"  # not lowered in tests: a valid token is a leak wherever it sits
        level = "medium"
    elif secret_type in HEURISTIC_TYPES:
        level = "medium" if paths.kind_of(filename) == "config" else "low"
    elif secret_type in LOW:
        level = "low"
    elif secret_type in MEDIUM:
        level = "medium"
    else:
        level = "high"
    if paths.is_test_name(filename):
        level = LEVELS[max(0, LEVELS.index(level) - 1)]
    return level
