"""`gitgate try` must stop on SIGTERM even when the kernel hands the signal to one of the
local upstream's threads (CI once waited 90 s for a stop that never came)."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from pathlib import Path
from types import FrameType

import pytest

from gitgate.onboard.tryout import _wait_interruptibly


def _blocked_in_kernel(native_id: int) -> bool:
    """True once that thread sleeps in a system call (waitpid or the poll's short sleeps)."""
    wchan = Path(f"/proc/self/task/{native_id}/wchan").read_text().strip()
    return wchan not in ("", "0")


def test_sigterm_on_another_thread_ends_the_wait() -> None:
    if not Path("/proc/self/task").is_dir():
        pytest.fail("this test reads /proc (Linux)")
    child = subprocess.Popen(["sleep", "60"])
    main_id = threading.get_native_id()
    idle = threading.Event()
    bystander = threading.Thread(target=idle.wait, daemon=True)  # the upstream's thread
    bystander.start()
    stop_polling = threading.Event()

    def send() -> None:
        while not _blocked_in_kernel(main_id) and not stop_polling.wait(0.01):
            pass
        assert bystander.ident is not None
        signal.pthread_kill(bystander.ident, signal.SIGTERM)

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    sender = threading.Thread(target=send, daemon=True)
    started = time.monotonic()
    try:
        sender.start()
        with pytest.raises(KeyboardInterrupt):
            _wait_interruptibly(child)
        assert time.monotonic() - started < 30, "the wait outlived the signal"
        assert child.poll() is None  # the gate is stopped by the caller, not by the wait
    finally:
        stop_polling.set()
        signal.signal(signal.SIGTERM, previous)
        idle.set()
        child.kill()
        child.wait()
