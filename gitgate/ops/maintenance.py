"""Background upkeep in every gate worker: webhook deliveries, queue expiry, dead relays.

Runs in a daemon thread so nothing here is ever on a push's path: a slow or failing webhook
receiver delays only its own deliveries. Several workers and instances may run it at once;
the stores make that safe (outbox leases, conditional state changes).
"""

from __future__ import annotations

import contextvars
import logging
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from gitgate.config import Config
from gitgate.git.quarantine import PUSH_PREFIX, SPARE_PREFIX

log = logging.getLogger("gitgate.maintenance")
DELIVERY_INTERVAL_S = 5.0
HOUSEKEEPING_INTERVAL_S = 60.0
LEFTOVER_QUARANTINE_S = 86400.0  # no push takes a day: older quarantines were orphaned


def sweep_quarantines(root: Path, older_than_s: float = LEFTOVER_QUARANTINE_S) -> int:
    """Remove quarantine directories left behind by a killed worker (kill -9, OOM)."""
    removed = 0
    cutoff = time.time() - older_than_s
    prefixes = (PUSH_PREFIX, SPARE_PREFIX)  # a push's own, or one made ahead for it
    made = [p for prefix in prefixes for p in root.glob(f"{prefix}*")] if root.is_dir() else []
    for path in made:
        try:
            if path.stat().st_mtime < cutoff:
                shutil.rmtree(path, ignore_errors=True)
                removed += 1
        except FileNotFoundError:
            continue
    return removed


def expire_and_announce() -> list[int]:
    """Expire pending pushes past their expiry and queue an `expired` event for each."""
    from gitgate.outcomes.approval import announce
    from gitgate.store import queue

    expired = queue.expire_due()
    for push_id in expired:
        info = queue.get(push_id)
        if info:
            announce("expired", info)
    return expired


class Maintenance:
    def __init__(self, config: Config, upstream: Any = None) -> None:
        from gitgate.audit.notify import Notifier

        self.upstream = upstream  # resolves relays whose claimer died (gitgate.outcomes.recovery)
        self.notifier = Notifier(config.notify)
        self.quarantine_root = Path(config.storage.data_dir) / "quarantine"
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_housekeeping = 0.0

    def start(self) -> Maintenance:
        """Start the upkeep thread. It runs in a copy of the caller's context, so the caller
        chooses the gate (database) it works for: `Services.run(maintenance.start)`."""
        from gitgate.audit import notify

        notify.on_new_events(self._wake.set)
        self._thread = threading.Thread(
            target=contextvars.copy_context().run,
            args=(self._run,),
            name="gitgate-maintenance",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        from gitgate.audit import notify

        notify.forget(self._wake.set)
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=10)

    def tick(self) -> None:
        from gitgate.db import connection
        from gitgate.outcomes.recovery import recover

        with connection():
            if time.monotonic() - self._last_housekeeping >= HOUSEKEEPING_INTERVAL_S:
                self._last_housekeeping = time.monotonic()
                expire_and_announce()
                if swept := sweep_quarantines(self.quarantine_root):
                    log.info("removed %d orphaned push quarantine(s)", swept)
                for done in recover(self.upstream) if self.upstream is not None else ():
                    log.warning("interrupted relay #%s: %s", done.push_id, done.state)
            self.notifier.deliver_due()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("maintenance round failed; retrying next round")
            self._wake.wait(DELIVERY_INTERVAL_S)
            self._wake.clear()
