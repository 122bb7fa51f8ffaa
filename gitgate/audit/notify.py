"""Webhook notifications: queue an event with the change it announces, deliver it later.

:func:`emit` only writes to the durable outbox (:mod:`gitgate.store.outbox`), so a caller inside
``write_transaction()`` announces exactly what it commits and never waits on the network.
:class:`Notifier` sends what is due, signed like GitHub's webhooks, and retries with exponential
backoff; it never raises into its caller, because a failing receiver must never block a push.
With no ``notify.webhook_url`` it sends nothing and events simply stay in the outbox (set the
URL later and they are delivered then).

Payload keys the gate uses (all optional; gitgate.audit.slack reads them): ``id`` (queued push
id), ``repo``, ``pusher``, ``refs``, ``rule``, ``reason``, ``review`` (the push's review page,
else the CLI command), ``reviewer``, ``approvals``, ``required``, ``detail``, ``overridden``
(break glass). Each delivery adds ``event``, ``text`` (one Slack-ready line) and ``delivery``
(the outbox id, also sent as ``X-Gitgate-Delivery``: receivers deduplicate on it, delivery is
at least once).
APPSEC: payloads hold names and reasons, never a token or a secret value; the webhook URL (Slack
URLs are bearer secrets) and the signing key never reach a log line or a stored error.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import peewee

from gitgate.audit.slack import jsonable, slack_text
from gitgate.audit.webhooks import BreakGlassEvent, QueueEvent, webhook_payload
from gitgate.auth.urls import check_transport
from gitgate.config import NotifyConfig
from gitgate.db import db_proxy
from gitgate.store import outbox
from gitgate.upstream.credential import load_token_ref

log = logging.getLogger("gitgate.notify")  # the name admins filter on, kept across moves

EVENTS = (
    "queued",
    "approved",
    "rejected",
    "relayed",
    "stale",
    "expired",
    "failed",
    "break_glass",
    "superseded",
    "hold",
)

BACKOFF_BASE_S = 5
BACKOFF_MAX_S = 3600
#: A given-up event is parked here: never due again, still visible (attempts, last_error).
GIVEN_UP_AT = datetime(9999, 1, 1, tzinfo=UTC)
_BATCH = 5  # events leased at a time, so a lease covers the sends it was taken for


# (database, waker): a gate's maintenance thread, woken only by events in its own database
_wakers: list[tuple[peewee.Database | None, Callable[[], None]]] = []


def on_new_events(waker: Callable[[], None]) -> None:
    """Register a callable that starts a delivery round (the gate's maintenance thread), for
    the database in use where it is registered (gitgate.db: one process may hold gates)."""
    _wakers.append((db_proxy.obj, waker))


def forget(waker: Callable[[], None]) -> None:
    _wakers[:] = [(database, w) for database, w in _wakers if w != waker]


def wake() -> None:
    """Ask for a delivery round now. Call it after the transaction that emitted commits."""
    here = db_proxy.obj
    for database, waker in list(_wakers):
        if database is here:
            waker()


def emit(event: str, payload: dict[str, Any], *, now: datetime | None = None) -> int:
    """Queue ``event`` for delivery; returns its outbox id. Call it inside the transaction that
    makes the change, so the event exists exactly when the change does."""
    if event not in EVENTS:
        raise ValueError(f"unknown notification event {event!r}: one of {', '.join(EVENTS)}")
    body: dict[str, Any] = jsonable(payload)
    body.update(event=event, text=slack_text(event, payload))
    return outbox.add(event, body, now=now)


def announce(ev: QueueEvent | BreakGlassEvent) -> int:
    """Queue a typed event (gitgate.audit.webhooks) for delivery, as :func:`emit` does."""
    return emit(ev.event, webhook_payload(ev))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """APPSEC: a redirect would re-send the signed body wherever the receiver points it."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Notifier:
    """Delivers due outbox events to ``cfg.webhook_url``; safe to call from any thread or gate
    instance (the outbox leases each event to one sender)."""

    def __init__(
        self,
        cfg: NotifyConfig,
        *,
        clock: Callable[[], float] = time.time,
        opener: urllib.request.OpenerDirector | None = None,
    ) -> None:
        self.cfg = cfg
        self._clock = clock
        self._opener = opener or urllib.request.build_opener(_NoRedirect())

    def deliver_due(self, limit: int = 50) -> int:
        """Send up to ``limit`` due events; returns how many were delivered. Never raises."""
        if not self.cfg.webhook_url:
            return 0
        try:
            return self._deliver(limit)
        except Exception:
            log.exception("webhook delivery round failed; events stay in the outbox")
            return 0

    def _deliver(self, limit: int) -> int:
        try:
            check_transport(self.cfg.webhook_url, "notify.webhook_url")
            key = self._key()
        except ValueError as ex:
            log.error("webhooks not sent: %s", ex)
            return 0
        delivered = attempted = 0
        lease_s = self.cfg.timeout * _BATCH + 30
        while attempted < limit:
            items = outbox.due(self._now(), min(_BATCH, limit - attempted), lease_s=lease_s)
            if not items:
                break
            for item in items:
                attempted += 1
                error, reachable = self._send(item, key)
                if error is None:
                    outbox.mark_delivered(item.id, now=self._now())
                    delivered += 1
                    continue
                self._failed(item, error)
                if not reachable:
                    # The rest would wait out the same timeout; their leases lapse and they
                    # are tried on a later round, without counting an attempt against them.
                    return delivered
        return delivered

    def _send(self, item: outbox.OutboxItem, key: bytes | None) -> tuple[str | None, bool]:
        """POST one event. Returns (error or None, whether the receiver answered at all)."""
        payload = item.payload if isinstance(item.payload, dict) else {"payload": item.payload}
        body = {**payload, "event": item.event, "delivery": item.id}
        data = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "gitgate",
            "X-Gitgate-Event": item.event,
            "X-Gitgate-Delivery": str(item.id),
        }
        if key is not None:
            digest = hmac.new(key, data, hashlib.sha256).hexdigest()
            headers["X-Gitgate-Signature-256"] = f"sha256={digest}"
        # check_transport() in _deliver allows only https (http to loopback): no file: URLs.
        request = urllib.request.Request(  # noqa: S310
            self.cfg.webhook_url, data=data, headers=headers, method="POST"
        )
        try:
            with self._opener.open(request, timeout=self.cfg.timeout) as response:
                status = response.status
        except urllib.error.HTTPError as ex:
            ex.close()
            return f"HTTP {ex.code} from the receiver", True
        except urllib.error.URLError as ex:
            return self._scrub(f"cannot reach the receiver: {_reason(ex.reason)}", key), False
        except OSError as ex:  # timeouts, resets, TLS errors
            return self._scrub(f"cannot reach the receiver: {_reason(ex)}", key), False
        except Exception as ex:  # a broken opener must not stop the round
            return self._scrub(f"delivery error: {_reason(ex)}", key), True
        if 200 <= status < 300:
            return None, True
        return f"HTTP {status} from the receiver", True

    def _failed(self, item: outbox.OutboxItem, error: str) -> None:
        attempts = item.attempts + 1
        host = urlsplit(self.cfg.webhook_url).hostname
        if attempts >= max(1, self.cfg.max_attempts):
            outbox.mark_failed(item.id, f"given up after {attempts} attempts: {error}", GIVEN_UP_AT)
            log.error(
                "webhook event %s given up after %s attempts: %s (receiver %s)",
                item.id,
                attempts,
                error,
                host,
            )
            return
        delay = min(BACKOFF_BASE_S * 2**item.attempts, BACKOFF_MAX_S)
        outbox.mark_failed(item.id, error, self._now() + timedelta(seconds=delay))
        log.warning(
            "webhook event %s (%s) not delivered: %s (receiver %s); retry in %ss",
            item.id,
            item.event,
            error,
            host,
            delay,
        )

    def _key(self) -> bytes | None:
        """The HMAC key, read per round so that a rotated ``file:`` key needs no restart.
        APPSEC: an unreadable key stops delivery; sending unsigned would bypass receivers'
        checks, and the message names the key's source, never its value."""
        if not self.cfg.secret:
            return None
        try:
            return load_token_ref(self.cfg.secret).encode()
        except ValueError as ex:
            raise ValueError(f"notify.secret: {str(ex).partition(': ')[2]}") from None

    def _scrub(self, error: str, key: bytes | None) -> str:
        """APPSEC: library messages may quote the URL (a bearer secret for Slack) or worse."""
        error = error.replace(self.cfg.webhook_url, "<notify.webhook_url>")
        if key:
            error = error.replace(key.decode(), "<notify.secret>")
        return error

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)


def _reason(ex: object) -> str:
    if isinstance(ex, BaseException):
        text = getattr(ex, "strerror", None) or str(ex)
        return f"{type(ex).__name__}: {text}" if text else type(ex).__name__
    return str(ex)
