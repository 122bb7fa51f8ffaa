"""Gunicorn server hooks, loaded by `gitgate serve` (``--config
python:gitgate.ops.gunicorn_hooks``).

A worker that exits leaves its metric files behind in ``PROMETHEUS_MULTIPROC_DIR``: counters
must keep counting what it did, but its live gauges (pushes held, scanner busy) must not.
"""

from __future__ import annotations

import os
from typing import Any


def child_exit(server: Any, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
