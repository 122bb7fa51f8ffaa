"""From a finding (type, line, short hash) back to the bytes to replace, and the marker.

The scanner hands back no secret values, by design (gitgate.scanning.model). To mask, the gate
looks at the one line a finding names, asks detect-secrets' plugins in-process which values
they see there, and keeps the one whose sha1 starts with the finding's hash. That value is
then replaced everywhere in the push's new content (a later commit that edits another line of
the same file still carries it, and the scanner, which looks at added lines only, does not
report it again).

Two cases where the span is not one token:
- a private key: the finding names its `BEGIN` line; the whole block up to the `END` line (or
  the end of the text) is masked, one marker per line;
- a value that cannot be found again on its line (should not happen; e.g. bytes that are not
  UTF-8 inside the token): the whole line, indentation kept, is masked. The gate never leaves a
  finding's line as it was.
Markers keep line structure (no newline is added or removed), so line numbers hold.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass

MARKER = "**gitgate-masked:{type}:{hash}**"
HASH_CHARS = 8
PRIVATE_KEY = "Private Key"
_lock = threading.Lock()


def marker(secret_type: str, secret_hash: str) -> bytes:
    """The fixed, greppable marker: names the type and the short hash, never the value."""
    return MARKER.format(type=secret_type, hash=secret_hash[:HASH_CHARS]).encode()


@dataclass(frozen=True)
class Secret:
    """A value to mask in every new object of the push, and what replaces it."""

    value: bytes
    replacement: bytes
    type: str
    hash: str


def _candidates(line: str, filename: str) -> list[str]:
    """Every value detect-secrets' plugins report on `line` (whole tokens, as the scanner
    hashes them)."""
    from detect_secrets.core.scan import _process_line_based_plugins

    from gitgate.scanning.engine import _whole_tokens, configure

    with _lock:  # detect-secrets' settings are process-global: configure once, scan one at a time
        engine = configure()
        by_type = {p.secret_type: p for p in engine.plugins}
        found = list(_process_line_based_plugins([(1, line)], filename))
    out: list[str] = []
    for f in found:
        plugin = by_type.get(f.type)
        value = f.secret_value or ""
        out.extend(_whole_tokens(plugin, value, line.rstrip()) if plugin else [value])
    return out


def _private_key_block(lines: list[bytes], index: int) -> bytes:
    end = index
    while end < len(lines) and not (b"END" in lines[end] and b"PRIVATE KEY" in lines[end]):
        end += 1
    return b"\n".join(lines[index : min(end, len(lines) - 1) + 1])


def secrets_in(
    text: bytes, line_no: int, secret_type: str, secret_hash: str, filename: str
) -> list[Secret]:
    """What to mask for one finding at `line_no` (1-based) of `text`."""
    lines = text.split(b"\n")
    if not 1 <= line_no <= len(lines):
        return []
    raw = lines[line_no - 1]
    mark = marker(secret_type, secret_hash)
    if secret_type == PRIVATE_KEY:
        block = _private_key_block(lines, line_no - 1)
        return [
            Secret(block, b"\n".join([mark] * (block.count(b"\n") + 1)), secret_type, secret_hash)
        ]
    decoded = raw.decode("utf-8", "replace")
    out = []
    for value in set(_candidates(decoded, filename)):
        digest = hashlib.sha1(value.encode("utf-8"), usedforsecurity=False).hexdigest()
        if value and digest.startswith(secret_hash.lower()):
            as_bytes = value.encode("utf-8")
            if as_bytes in raw:
                out.append(Secret(as_bytes, mark, secret_type, secret_hash))
    if not out:
        body = raw.lstrip()
        if body:
            out.append(Secret(body, mark, secret_type, secret_hash))
    return out


def apply(data: bytes, secrets: list[Secret]) -> bytes:
    """`data` with every secret replaced, longest first (a value inside another goes too)."""
    for s in secrets:
        if s.value in data:
            data = data.replace(s.value, s.replacement)
    return data
