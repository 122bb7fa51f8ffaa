"""Prometheus metrics: what an operator's monitoring expects from the gate.

The metrics are module-level objects of the official client. Under gunicorn each worker is its
own process, so `gitgate serve` sets ``PROMETHEUS_MULTIPROC_DIR`` (a directory under the data
dir, emptied at start) before gunicorn imports anything: the client then keeps every value in
a per-process file and a scrape, answered by any worker, sums them all. Gunicorn's
``child_exit`` hook (gitgate.ops.gunicorn_hooks) marks dead workers so their live gauges vanish.

Queue depth and the age of the oldest pending push are not counted as events happen (several
instances share one queue): they are read from the database at scrape time.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import falcon
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from gitgate.audit import RequestEvent

log = logging.getLogger("gitgate.metrics")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

REQUESTS = Counter(
    "gitgate_requests", "HTTP requests answered, by service and status", ["service", "status"]
)
PUSHES = Counter(
    "gitgate_pushes",
    "Pushes inspected, by decision and the rule that decided",
    ["decision", "rule"],
)
INSPECTION_SECONDS = Histogram(
    "gitgate_inspection_seconds",
    "Time to unpack and check one push (before relaying or queueing)",
    buckets=_LATENCY_BUCKETS,
)
SCAN_SECONDS = Histogram(
    "gitgate_scan_seconds", "Time of one secret-scan call over a batch", buckets=_LATENCY_BUCKETS
)
RELAYS = Counter(
    "gitgate_relays",
    "Relays upstream: direct (an agent's push) or queued (after approval), by result",
    ["kind", "result"],
)
UPSTREAM_ERRORS = Counter(
    "gitgate_upstream_errors",
    "Upstream failures (an HTTP error status, or unreachable / cut short / malformed)",
    ["kind"],
)
PUSHES_IN_FLIGHT = Gauge(
    "gitgate_pushes_in_flight",
    "Pushes inside the gate right now (received, being inspected or relayed)",
    multiprocess_mode="livesum",
)
HELD_PUSHES = Gauge(
    "gitgate_held_pushes",
    "Queued pushes held open for review right now (git push -o gitgate.wait=...)",
    multiprocess_mode="livesum",
)
SCANNER_BUSY = Gauge(
    "gitgate_scanner_busy",
    "Secret-scan calls running right now (each uses the scanner's worker pool)",
    multiprocess_mode="livesum",
)
REVIEW_DECISIONS = Counter(
    "gitgate_review_decisions", "Review decisions recorded, by verdict and channel", ["verdict"]
)

_ROUTE_SERVICES = {
    "/{owner}/{name}/info/refs": "info-refs",
    "/{owner}/{name}/git-upload-pack": "upload-pack",
    "/{owner}/{name}/git-receive-pack": "receive-pack",
    "/healthz": "health",
    "/readyz": "health",
    "/metrics": "metrics",
}


def service_of(req: falcon.Request) -> str:
    """A small fixed set of label values (never the path: that would be unbounded)."""
    template = getattr(req, "uri_template", None) or ""
    if template in _ROUTE_SERVICES:
        return _ROUTE_SERVICES[template]
    if req.path.startswith("/-/review"):
        return "review"
    return "other"


class MetricsMiddleware:
    """Counts every answered request by service and status."""

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, req_succeeded: bool
    ) -> None:
        try:
            REQUESTS.labels(service_of(req), str(resp.status_code)).inc()
        except Exception:  # metrics must never break a request
            log.exception("could not count the request")


def observe_session(event: RequestEvent) -> None:
    """Count what a push's event says: pushes by decision and rule, direct relays.
    Called with every event the gate records (gitgate.runtime.Runtime.record)."""
    skip = ("", "started", "probe", "unauthenticated", "forbidden", "error")
    if event.service != "receive-pack" or event.decision in skip:
        return  # "error": nothing was decided; "started": the same push is counted when it ends
    rules = sorted({str(v.get("rule")) for v in event.verdicts if v.get("rule")})
    for rule in rules or ["none"]:
        PUSHES.labels(event.decision, rule).inc()
    status = event.upstream_status
    if status is not None or event.error:  # a relay was attempted
        ok = status == 200 and not event.error
        RELAYS.labels("direct", "ok" if ok else "failed").inc()


class QueueCollector(Collector):
    """Queue depth by state and the age of the oldest pending push, read at scrape time."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from gitgate.store.webviews import queue_depth

        up = GaugeMetricFamily("gitgate_database_up", "1 if the last scrape could read the queue")
        try:
            counts, oldest = queue_depth()
        except Exception as ex:
            log.warning("metrics: cannot read the queue: %s", type(ex).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        depth = GaugeMetricFamily("gitgate_queue_depth", "Queued pushes by state", labels=["state"])
        for state, count in sorted(counts.items()):
            depth.add_metric([state], count)
        yield depth
        yield GaugeMetricFamily(
            "gitgate_queue_oldest_pending_seconds",
            "Age of the oldest pending push (0 when none is pending)",
            value=oldest,
        )


class _Default(Collector):
    """This process's own metrics (no multiprocess directory: one process, e.g. tests)."""

    def collect(self) -> Iterable[Any]:
        return REGISTRY.collect()


def scrape() -> bytes:
    """The text exposition of every metric: all workers' (multiprocess) and the queue's."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_Default())
    registry.register(QueueCollector())
    return generate_latest(registry)


class MetricsResource:
    """`GET /metrics` in Prometheus' text format."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = CONTENT_TYPE_LATEST
        resp.data = scrape()


class Timer:
    """`with Timer(HISTOGRAM):` also counts a call as busy in `gauge` while it runs."""

    def __init__(self, histogram: Histogram, gauge: Gauge | None = None) -> None:
        self.histogram = histogram
        self.gauge = gauge
        self.start = 0.0

    def __enter__(self) -> Timer:
        self.start = time.monotonic()
        if self.gauge is not None:
            self.gauge.inc()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.gauge is not None:
            self.gauge.dec()
        self.histogram.observe(time.monotonic() - self.start)
