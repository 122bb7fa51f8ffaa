"""The gate's own detect-secrets filters, added to the library's (see `engine.configure`).

Each filter is a function detect-secrets calls with the arguments it names (secret, plugin,
line, filename); True drops the finding. They look at nothing but the line and the pseudo file
name (`paths`), so the prefilter stays exact. Why each exists (measured on real source):
- `is_placeholder`: documented example values (AKIAIOSFODNN7EXAMPLE, ghp_xxxx..., your-api-key,
  <token>, ${VAR}, ****) are reported by every plugin; they are not secrets.
- `is_weak_heuristic`: keyword and entropy findings in code are mostly test values
  (`password="secret"`), hash test vectors and checksums. In code they are kept only when the
  value looks generated (long, mixed characters) and, for entropy, when the line names a
  credential; in lock files they are dropped (integrity hashes). Fixed-shape tokens are
  never touched by this filter.
- `is_example_credential`: `scheme://user:pass@host` with an obvious example password.
- `is_key_header_mention`: "-----BEGIN RSA PRIVATE KEY-----" written as a constant in code
  (parsers, this scanner's own source) rather than starting a key: a key's header ends its
  line or is followed by "\n" and key material.
- `is_indirect_reference_for_heuristics` is in `engine` (it wraps a library filter).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any

from gitgate.scanning import paths

KEYWORD_TYPES = frozenset({"Secret Keyword", "Token Keyword"})
HEURISTIC_TYPES = frozenset(
    {"Secret Keyword", "Token Keyword", "Base64 High Entropy String", "Hex High Entropy String"}
)
_PLACEHOLDER = re.compile(
    r"example|xxxx|your[_-]?|<[^>]*>|\$\{|\{\{|%\(|%s|\*\*\*|\.\.\.|…|changeme|change[_-]me|"
    r"placeholder|dummy|redacted|replace[_-]?me|insert[_-]|fake|sample|not[_-]?a[_-]?real|(.)\1{5}"
    # a reference to where the secret lives, not the secret: env:NAME, file:/path, vault:...
    r"|^(?:env|file|vault|ssm|arn|op|sops|secretref|keyring):",
    re.IGNORECASE,
)
_CREDENTIAL_NAME = re.compile(
    r"key|secret|token|passw|pwd|auth|credential|api|private|signature|cookie", re.IGNORECASE
)
_WORDS = re.compile(r"[A-Za-z_.:/-]+")  # identifiers, dotted paths, URLs without digits
_TYPE_LIKE = re.compile(r"[\w.]+\[[\w.\[\], |]*\]")  # "Iterable[pysequoia.Tsk]": an annotation
EXAMPLE_PASSWORDS = frozenset(
    str.split(
        """pass password passwd pwd pw secret changeme test testing tests example foo bar baz
    admin root guest user username postgres mysql redis rabbitmq mongo demo sample letmein
    hunter2 qwerty 123456 1234 12345 abc123 mypassword mysecret s3cret default token key
    apikey dbpass dbpassword topsecret supersecret pa55word p4ssw0rd p@ssw0rd password1
    password123 secret123 x xx xxx"""
    )
)


def entropy(value: str) -> float:
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


# Values of settings that merely sound secret (`secrets = "reject"`, `password_auth = true`).
CONFIG_WORDS = frozenset(
    str.split(
        "true false yes no on off none null nil required optional enabled disabled allow "
        "reject queue deny warn ignore auto default"
    )
)


def is_placeholder(secret: str) -> bool:
    value = secret.strip("\"'`")
    return (
        bool(_PLACEHOLDER.search(value))
        or (len(value) >= 6 and len(set(value)) <= 3)
        or value.lower() in CONFIG_WORDS
    )


def looks_generated(value: str) -> bool:
    """A value someone generated or chose as a password, not a word, name or sentence."""
    if len(value) < 8 or any(c.isspace() for c in value):
        return False
    if _WORDS.fullmatch(value) or _TYPE_LIKE.fullmatch(value):
        return False
    classes = sum(
        any(test(c) for c in value)
        for test in (str.islower, str.isupper, str.isdigit, lambda c: not c.isalnum())
    )
    return classes >= 3 or (len(value) >= 16 and entropy(value) >= 3.0)


def is_weak_heuristic(secret: str, plugin: Any, line: str, filename: str) -> bool:
    kind = paths.kind_of(filename)
    if plugin.secret_type not in HEURISTIC_TYPES:
        return False
    if kind == "config":
        # Hex digests (SBOMs, checksums, integrity fields) unless a credential is named.
        return plugin.secret_type == "Hex High Entropy String" and not _CREDENTIAL_NAME.search(
            line.replace(secret, "")
        )
    if kind == "lock":
        return True
    value = secret.strip("\"'`")
    if not looks_generated(value):
        return True
    if plugin.secret_type in KEYWORD_TYPES:  # code: a literal, not `token = next_token()`
        return f'"{value}"' not in line and f"'{value}'" not in line and f"`{value}`" not in line
    # Entropy in code: hashes and test vectors unless the line says it holds a credential.
    return not _CREDENTIAL_NAME.search(line.replace(secret, ""))


def is_example_credential(secret: str, plugin: Any, line: str) -> bool:
    if plugin.secret_type not in ("Basic Auth Credentials", "URL Credentials"):
        return False
    if secret.lower() in EXAMPLE_PASSWORDS:
        return True
    user = re.search(r"([^/:@\s]+):" + re.escape(secret) + "@", line)
    return user is not None and user.group(1) == secret  # user:user@


_KEY_HEADER = re.compile(r"-{4,5} ?BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)? ?-{4,5}(.*)$")
_KEY_MATERIAL = re.compile(r"^(?:\\r)?\\n[A-Za-z0-9+/=:-]{16,}|^[A-Za-z0-9+/=]{40,}")


def is_key_header_mention(secret: str, plugin: Any, line: str) -> bool:
    if plugin.secret_type not in ("Private Key", "Encrypted Private Key"):
        return False
    if "PuTTY-User-Key-File-" in line:  # a .ppk file starts with it; code quotes it
        return not line.lstrip().startswith("PuTTY-User-Key-File-")
    header = _KEY_HEADER.search(line)
    if header is None:
        return True  # "BEGIN RSA PRIVATE KEY" without the dashes: a name, not a PEM block
    rest = header.group(1).strip()
    return bool(rest) and not _KEY_MATERIAL.match(rest)
