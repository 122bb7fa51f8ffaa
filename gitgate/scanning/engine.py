"""The worker side: detect-secrets configured once per process, scanning decoded text.

Runs inside the scanner's worker processes (and in-process in tests). detect-secrets' settings
are process-global and not thread-safe, which is one more reason it lives in its own processes.

How the default settings are changed, and why (all in `configure`):
- `pragma: allowlist secret` comments are not honoured: they are written by the very agent the
  gate guards against. Admins allowlist by hash or path in gitgate's config instead.
- `is_indirect_reference` ("secret = get_secret()") drops a whole line before any plugin runs,
  so with the defaults `boto3.client(aws_access_key_id="AKIA...")` and
  `requests.get(url, headers={"Authorization": "token ghp_..."})` report nothing. It exists to
  tame the keyword plugin's false positives, so it is kept, but only for the heuristic plugins
  (keyword, entropy), the same split detect-secrets makes for `is_likely_id_string`. Tokens with
  a fixed shape are reported wherever they sit.
- It also dropped secrets passed as call arguments (`connect(password="...")`), so a
  heuristic finding whose value is written quoted on the line is kept.
- With those two gone, no filter looks beyond the line itself, which is what makes the
  prefilter exact and lets a blob be scanned in chunks of lines.
- The gate adds its own plugins (`detectors`, through detect-secrets' custom-plugin paths) and
  filters (`filters`), and gives each finding a confidence (`confidence`).
- Filename-only filters (lock files, swagger, "non-text" extensions) are never consulted: the
  line scanner does not call them, and a gate must not let a file name switch scanning off.

One fix on the way out: the GitHub and GitLab regexes capture only the token's prefix ("ghp"),
so detect-secrets gives every GitHub token the same "secret" and the same hash; allowlisting one
by hash would allowlist them all. Where a plugin's reported value is a proper prefix of its
regex's whole match, the whole match is what gets hashed (`_whole_tokens`).
"""

from __future__ import annotations

import atexit
import logging
import os
import select
import signal
import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
from detect_secrets.core.potential_secret import PotentialSecret
from detect_secrets.core.scan import _process_line_based_plugins
from detect_secrets.filters.heuristic import is_indirect_reference
from detect_secrets.plugins.base import BasePlugin, RegexBasedDetector
from detect_secrets.settings import default_settings, get_filters, get_plugins, get_settings

from gitgate.scanning import detectors, filters
from gitgate.scanning.confidence import confidence
from gitgate.scanning.hints import UnsupportedPlugin
from gitgate.scanning.model import RawHit, ScanError
from gitgate.scanning.prefilter import Prefilter

ALLOWLIST_PRAGMA = "detect_secrets.filters.allowlist.is_line_allowlisted"
INDIRECT_REFERENCE = "detect_secrets.filters.heuristic.is_indirect_reference"
IP_PLUGIN = "IPPublicDetector"
VERIFICATION = "detect_secrets.filters.common.is_ignored_due_to_verification_policies"
INDIRECT_REFERENCE_HEURISTIC = f"{__name__}.is_indirect_reference_for_heuristics"
GATE_FILTERS = (
    INDIRECT_REFERENCE_HEURISTIC,
    f"{filters.__name__}.is_placeholder",
    f"{filters.__name__}.is_weak_heuristic",
    f"{filters.__name__}.is_example_credential",
    f"{filters.__name__}.is_key_header_mention",
)

# (item id, filename given to detect-secrets, number of the first line, raw bytes)
WorkItem = tuple[int, str, int, bytes]

log = logging.getLogger(__name__)


def is_indirect_reference_for_heuristics(secret: str, line: str, plugin: BasePlugin) -> bool:
    """detect-secrets' `is_indirect_reference`, applied to keyword and entropy findings only.

    detect-secrets injects arguments by name: taking `secret` makes this run once per finding
    (with its plugin) instead of once per line for all plugins.
    """
    if isinstance(plugin, RegexBasedDetector) or f'"{secret}"' in line or f"'{secret}'" in line:
        return False
    return is_indirect_reference(line)


@dataclass
class Engine:
    settings: AbstractContextManager[Any]  # kept open (and referenced) for the process's life
    plugins: list[Any]
    prefilter: Prefilter | None


_engine: Engine | None = None


def configure() -> Engine:
    """Enter detect-secrets' default settings for good, adjusted as the module docstring says."""
    global _engine
    if _engine is not None:
        return _engine
    settings_cm = default_settings()
    settings_cm.__enter__()
    # Leave it on interpreter exit, not in garbage collection at shutdown (where its imports fail).
    atexit.register(settings_cm.__exit__, None, None, None)
    settings = get_settings()
    settings.disable_filters(ALLOWLIST_PRAGMA, INDIRECT_REFERENCE)
    # Its every finding is dropped by the default filter is_not_alphanumeric_string (an IPv4
    # address has no letter), and a public IP is no secret: its scan pass is pure cost.
    settings.disable_plugins(IP_PLUGIN)
    for path in GATE_FILTERS:
        settings.filters[path] = {}
    get_filters.cache_clear()
    settings.configure_plugins(
        [
            {"name": name, "path": f"file://{path}"}
            for path in detectors.PLUGIN_FILES
            for name in detectors.plugin_names(path)
        ]
    )
    get_mapping_from_secret_type_to_class.cache_clear()
    if VERIFICATION in settings.filters:  # would send secrets to third-party APIs
        raise ScanError("detect-secrets verification must stay disabled")
    plugins = list(get_plugins())
    try:
        prefilter: Prefilter | None = Prefilter(plugins)
    except UnsupportedPlugin as ex:
        log.warning("secret scan prefilter disabled, scanning every line: %s", ex)
        prefilter = None
    _engine = Engine(settings_cm, plugins, prefilter)
    return _engine


def scan_text(
    text: str, filename: str, first_line: int = 1, *, prefilter: bool = True
) -> list[RawHit]:
    """Findings in `text` (lines numbered from `first_line`); filename picks keyword patterns.

    Lines are split on "\\n" only, as git and the diff code count them (str.splitlines() also
    splits on form feeds and other separators and would shift line numbers).
    """
    engine = configure()
    lines = text.split("\n")
    if prefilter and engine.prefilter is not None:
        indexes: Sequence[int] = engine.prefilter.lines_to_scan(lines, filename)
    else:
        indexes = range(len(lines))
    numbered = [(first_line + i, lines[i]) for i in indexes]
    if not numbered:
        return []
    by_type = {p.secret_type: p for p in engine.plugins}
    hits = set()
    for found in _process_line_based_plugins(numbered, filename):
        line = lines[found.line_number - first_line].rstrip()
        for value in _whole_tokens(by_type[found.type], found.secret_value or "", line):
            if value != found.secret_value and filters.is_placeholder(value):
                continue  # ghp_xxxx...: the plugin reported "ghp", the filters saw only that
            start = max(0, line.find(value))
            byte_start = len(line[:start].encode("utf-8", "surrogatepass"))
            hits.add(
                (
                    found.type,
                    found.line_number,
                    PotentialSecret.hash_secret(value),
                    confidence(found.type, value, filename),
                    byte_start,
                    byte_start + len(value.encode("utf-8", "surrogatepass")),
                )
            )
    return _one_per_secret(hits)


def _one_per_secret(hits: set[RawHit]) -> list[RawHit]:
    """Where a fixed-shape plugin and a heuristic one report overlapping text on one line
    (`api_key = "sk-ant-..."`), keep the fixed-shape finding: it names the type."""
    shaped = [hit for hit in hits if hit[0] not in filters.HEURISTIC_TYPES]
    return sorted(
        (
            hit
            for hit in hits
            if hit[0] not in filters.HEURISTIC_TYPES
            or not any(s[1] == hit[1] and s[4] < hit[5] and hit[4] < s[5] for s in shaped)
        ),
        key=lambda hit: (hit[1], hit[0], hit[2]),
    )


def _whole_tokens(plugin: Any, value: str, line: str) -> list[str]:
    """The whole tokens a regex plugin matched, where it reported just their prefix."""
    if not value or not isinstance(plugin, RegexBasedDetector):
        return [value]
    whole = [
        match.group(0)
        for regex in plugin.denylist
        for match in regex.finditer(line)
        if match.group(0) != value and match.group(0).startswith(value) and value in match.groups()
    ]
    return whole or [value]


def init_worker(owner: int = 0) -> None:
    """Pool initializer: configure once; detect-secrets' own logger stays quiet.

    SIGINT is ignored: Ctrl-C in a terminal reaches the whole process group, and a pool
    process it interrupts dies (at times holding the task queue's lock, leaving the gate's
    worker stuck on exit) and is respawned. The gate stops its pool itself (shutdown.py).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if owner:
        _exit_with(owner)
    logging.getLogger("detect-secrets").disabled = True
    configure()


def _exit_with(owner: int) -> None:
    """End this worker as soon as `owner` (the gate process that made the pool) is gone,
    however it went (a kill -9 included), even in the middle of a scan.

    Neither the pool nor the fork server notices on its own: each worker holds the write end
    of the fork server's "alive" pipe and of its own task queue, so no EOF ever comes, and a
    worker deep in a slow line keeps scanning for minutes. A pidfd (Linux >= 5.3) becomes
    readable when the process exits; a daemon thread waits on it. Where there is no pidfd,
    nothing changes.
    """
    try:
        fd = os.pidfd_open(owner)
    except ProcessLookupError:
        os._exit(1)  # already gone
    except (AttributeError, OSError):
        return

    def watch() -> None:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        poller.poll()  # no timeout: returns when the owner has exited
        os._exit(1)

    threading.Thread(target=watch, name="owner-watch", daemon=True).start()


def scan_task(items: list[WorkItem]) -> list[tuple[int, list[RawHit]]]:
    """Scan a batch of chunks. Only (type, line, hash) tuples go back to the parent."""
    try:
        return [
            (item_id, scan_text(data.decode("utf-8", "replace"), filename, first_line))
            for item_id, filename, first_line, data in items
        ]
    except Exception as ex:
        # APPSEC: the original exception could carry a line of the blob in its message.
        raise ScanError(f"{type(ex).__name__} in the secret scanner") from None
