"""A gunicorn worker that stops within seconds and leaves no process behind.

On SIGTERM gunicorn's gthread worker stops accepting and waits for requests in flight, up to
the graceful timeout. A push in flight may be minutes into a secret scan, and the scanner's
processes (a fork server and its pool) are not the worker's children in gunicorn's eyes: a
worker killed at the end of the grace period left them running. So, in each worker:

- SIGTERM (and SIGINT/SIGQUIT) first marks the worker's gate as stopping (its own event,
  `Services.stopping`: a signal stops the whole process, but a gate closed in a process that
  holds others must not stop them) and, from a helper thread (a signal handler must stay
  short), stops the scanner's processes. A scan in
  progress ends at once; `ReceivePack` then refuses every push whose checks end while
  stopping ("the gate is shutting down; push again"), so nothing half-checked is relayed or
  queued. A relay already under way finishes. Then gunicorn's own handler runs as before.
- At exit the scanner is closed and multiprocessing's fork server and resource tracker are
  stopped and waited for, so the worker is the last of its processes to go.
- Scanner pool processes watch the worker that made them (a pidfd) and exit with it
  (`engine.init_worker`), so even a SIGKILLed worker leaves no scanner running.

Installed by `get_app()` only (gunicorn's worker, main thread); the in-process test server
and the CLI never install it.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

log = logging.getLogger("gitgate.shutdown")

SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)

Handler = Callable[[int, FrameType | None], Any]


def install(
    stopping: threading.Event, stop_work: Callable[[], None], close: Callable[[], None]
) -> bool:
    """Chain the stop handler (sets `stopping`, then runs `stop_work`) before the current
    ones; `close` runs at interpreter exit. Returns False (and does nothing) outside the main
    thread, where signals cannot be set."""
    if threading.current_thread() is not threading.main_thread():
        return False
    for sig in SIGNALS:
        signal.signal(sig, _chained(signal.getsignal(sig), stopping, stop_work))
    atexit.register(_at_exit, stopping, close)
    return True


def _chained(previous: Any, stopping: threading.Event, stop_work: Callable[[], None]) -> Handler:
    def on_signal(signum: int, frame: FrameType | None) -> None:
        if not stopping.is_set():
            stopping.set()
            threading.Thread(
                target=_stop, args=(stop_work,), name="gitgate-stop", daemon=True
            ).start()
        if callable(previous):
            previous(signum, frame)

    return on_signal


def _stop(stop_work: Callable[[], None]) -> None:
    try:
        stop_work()
    except Exception:
        log.exception("stopping the scanner failed")


def _at_exit(stopping: threading.Event, close: Callable[[], None]) -> None:
    stopping.set()
    try:
        close()
    except Exception:
        log.exception("closing the gate's runtime failed")
    stop_helpers()


def stop_helpers() -> None:
    """Stop multiprocessing's fork server and resource tracker and wait for them.

    Both would exit on their own once this process is gone (they wait for EOF on a pipe),
    but a moment after it: a supervisor could see them outlive the service. `_stop` is
    private API (CPython's tests use it), so it is used only where it exists.
    """
    from multiprocessing import forkserver, resource_tracker

    for helper in (
        getattr(forkserver, "_forkserver", None),
        getattr(resource_tracker, "_resource_tracker", None),
    ):
        stop = getattr(helper, "_stop", None)
        if callable(stop):
            with contextlib.suppress(Exception):
                stop()
