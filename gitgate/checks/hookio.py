"""A hook process's pipes, pumped within a deadline and with bounded output.

Split from gitgate.checks.hookrunner (which builds git's pre-receive contract): this part only
moves bytes. One selector loop feeds the hook's stdin and reads its output; output is cut into
bounded lines because it becomes side-band packets for the agent.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time

# Longest line kept from a hook: output becomes side-band packets and must stay bounded even
# when a hook prints a binary blob without newlines.
_MAX_LINE_CHARS = 1000
_READ_CHUNK = 65536


def pump(proc: subprocess.Popen[bytes], stdin: bytes, output: OutputLines, deadline: float) -> bool:
    """Feed stdin, collect output and watch for exit until the deadline; True if it exited.

    One selector loop instead of threads: the hook may read no stdin, print megabytes, or hand
    its pipes to a grandchild, and none of those may stall the gate past the deadline. A pidfd
    tells us the hook exited *without* reaping it (see ``_run_one``).
    """
    assert proc.stdin is not None and proc.stdout is not None
    pidfd = os.pidfd_open(proc.pid)
    os.set_blocking(proc.stdin.fileno(), False)
    exited = False
    pending = memoryview(stdin)
    with selectors.DefaultSelector() as sel:
        sel.register(pidfd, selectors.EVENT_READ, "exit")
        sel.register(proc.stdout, selectors.EVENT_READ, "out")
        if pending:
            sel.register(proc.stdin, selectors.EVENT_WRITE, "in")
        else:
            proc.stdin.close()
        try:
            # The pidfd stays registered until exit, so this also waits for the hook itself.
            while sel.get_map():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                for key, _ in sel.select(remaining):
                    if key.data == "exit":
                        exited = True
                        sel.unregister(pidfd)
                        # Stragglers (backgrounded children) would hold the pipe open.
                        kill_group(proc.pid)
                    elif key.data == "out":
                        chunk = os.read(proc.stdout.fileno(), _READ_CHUNK)
                        if chunk:
                            output.feed(chunk)
                        else:
                            sel.unregister(proc.stdout)
                    else:
                        pending = _write_some(proc, pending)
                        if not pending:
                            sel.unregister(proc.stdin)
                            proc.stdin.close()
        finally:
            os.close(pidfd)
            for stream in (proc.stdin, proc.stdout):
                stream.close()
    output.finish()
    return exited


def _write_some(proc: subprocess.Popen[bytes], pending: memoryview) -> memoryview:
    """Write what the pipe takes; a hook that exits without reading stdin is not an error."""
    assert proc.stdin is not None
    try:
        written = os.write(proc.stdin.fileno(), pending)
    except BlockingIOError:
        return pending
    except BrokenPipeError:
        return pending[:0]
    return pending[written:]


def kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.killpg(pgid, signal.SIGKILL)


class OutputLines:
    """Bytes in, at most ``max_lines`` clean text lines out, plus one note of what was dropped."""

    def __init__(self, max_lines: int) -> None:
        self._max_lines = max_lines
        self._lines: list[str] = []
        self._dropped = 0
        self._partial = b""

    def feed(self, chunk: bytes) -> None:
        *complete, self._partial = (self._partial + chunk).split(b"\n")
        for raw in complete:
            self._add(raw)
        if len(self._partial) > 4 * _MAX_LINE_CHARS:
            # Keep memory bounded for output without newlines: the line is cut anyway.
            self._partial = self._partial[: 4 * _MAX_LINE_CHARS]

    def finish(self) -> None:
        if self._partial:
            self._add(self._partial)
            self._partial = b""

    def lines(self) -> list[str]:
        if self._dropped:
            return [*self._lines, f"[{self._dropped} more lines of hook output not shown]"]
        return list(self._lines)

    def _add(self, raw: bytes) -> None:
        if len(self._lines) >= self._max_lines:
            self._dropped += 1
            return
        text = raw.decode("utf-8", errors="replace")
        # APPSEC: these lines reach the client's terminal as `remote:` text; drop control
        # characters (escape sequences, CR overwrites) but keep tabs.
        clean = "".join(ch for ch in text if ch == "\t" or ch.isprintable())
        self._lines.append(clean[:_MAX_LINE_CHARS])
