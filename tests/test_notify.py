"""gitgate.audit.notify: events into the outbox, signed webhook delivery, retries and giving up.

A real loopback receiver (http.server on port 0) records what the gate sends; time is an
injected clock, so backoff is tested without sleeping. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import socket
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import peewee
import pytest

from gitgate.audit import notify
from gitgate.audit.notify import Notifier, emit, slack_text
from gitgate.config import NotifyConfig
from gitgate.db import bind, connection
from gitgate.db.models import NotificationOutbox
from gitgate.store import outbox

T0 = datetime(2030, 5, 1, 12, 0, 0, tzinfo=UTC)
SECRET = "whsec-test-value-0123456789"
SECRET_ENV = "GITGATE_TEST_WEBHOOK_SECRET"
QUEUED = {
    "id": 42,
    "repo": "acme/app",
    "pusher": "agent-7",
    "rule": "acme-agents",
    "refs": ["refs/heads/main"],
    "reason": "touches protected paths: deploy/x",
    "review": "gitgate review show 42",
}
QUEUED_TEXT = (
    "gitgate: push #42 to acme/app (refs/heads/main) by agent-7 queued for approval: touches "
    "protected paths: deploy/x (rule acme-agents). Review: gitgate review show 42"
)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A webhook receiver that answers each request with the next of ``statuses``."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    default_status: int = 200


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.requests.append(Received(self.path, dict(self.headers.items()), body))
            status = state.statuses.pop(0) if state.statuses else state.default_status
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/T000/secret-path"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now.timestamp()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loopback only: an inherited proxy setting must not route the receiver's traffic."""
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


def _row(item_id: int) -> NotificationOutbox:
    with connection():
        return NotificationOutbox.get_by_id(item_id)


def _notifier(url: str, clock: Clock, **kw: Any) -> Notifier:
    return Notifier(NotifyConfig(webhook_url=url, **kw), clock=clock)


def test_delivery_is_signed_and_carries_event_text_and_ids(
    db: peewee.Database, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    event_id = emit("queued", QUEUED, now=T0)
    clock = Clock(T0)
    notifier = _notifier(receiver.url, clock, secret=f"env:{SECRET_ENV}")
    assert notifier.deliver_due() == 1
    (req,) = receiver.requests
    assert req.path == "/hooks/T000/secret-path"
    assert req.headers["Content-Type"] == "application/json"
    assert req.headers["User-Agent"] == "gitgate"
    assert req.headers["X-Gitgate-Event"] == "queued"
    assert req.headers["X-Gitgate-Delivery"] == str(event_id)
    expected = hmac.new(SECRET.encode(), req.body, hashlib.sha256).hexdigest()
    assert req.headers["X-Gitgate-Signature-256"] == f"sha256={expected}"
    assert (
        req.body == json.dumps(json.loads(req.body), sort_keys=True, separators=(",", ":")).encode()
    )
    body = json.loads(req.body)
    assert body == {**QUEUED, "event": "queued", "text": QUEUED_TEXT, "delivery": event_id}
    row = _row(event_id)
    assert row.delivered_at == T0 and row.attempts == 1 and row.last_error is None
    clock.now += timedelta(hours=1)
    assert notifier.deliver_due() == 0
    assert len(receiver.requests) == 1


def test_without_a_secret_there_is_no_signature(db: peewee.Database, receiver: Receiver) -> None:
    emit("relayed", {"id": 7, "repo": "acme/app"}, now=T0)
    assert _notifier(receiver.url, Clock(T0)).deliver_due() == 1
    (req,) = receiver.requests
    assert "X-Gitgate-Signature-256" not in req.headers
    assert json.loads(req.body)["text"] == "gitgate: push #7 to acme/app relayed upstream"


def test_failure_backs_off_then_the_retry_succeeds(
    db: peewee.Database, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    event_id = emit("expired", {"id": 3, "repo": "acme/app"}, now=T0)
    clock = Clock(T0)
    notifier = _notifier(receiver.url, clock, secret=f"env:{SECRET_ENV}")
    receiver.statuses = [500]
    assert notifier.deliver_due() == 0
    row = _row(event_id)
    assert (row.attempts, row.delivered_at) == (1, None)
    assert row.next_attempt_at == T0 + timedelta(seconds=notify.BACKOFF_BASE_S)
    assert row.last_error == "HTTP 500 from the receiver"
    clock.now = T0 + timedelta(seconds=notify.BACKOFF_BASE_S - 1)
    assert notifier.deliver_due() == 0
    assert len(receiver.requests) == 1  # not due yet: nothing sent
    clock.now = T0 + timedelta(seconds=notify.BACKOFF_BASE_S)
    assert notifier.deliver_due() == 1
    first, second = receiver.requests
    assert first.headers["X-Gitgate-Delivery"] == second.headers["X-Gitgate-Delivery"]
    assert first.body == second.body  # same event, same signature: receivers deduplicate
    row = _row(event_id)
    assert row.delivered_at == clock.now and row.attempts == 2


def test_unreachable_receiver_counts_one_attempt_and_stops_the_round(
    db: peewee.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    with socket.socket() as sock:  # a port that was just free: nothing listens on it
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/hooks/T000/secret-path"
    first = emit("rejected", {"id": 1, "reviewer": "alice"}, now=T0)
    second = emit("rejected", {"id": 2, "reviewer": "alice"}, now=T0)
    assert _notifier(url, Clock(T0), secret=f"env:{SECRET_ENV}").deliver_due() == 0
    row = _row(first)
    assert row.attempts == 1 and row.delivered_at is None
    assert row.next_attempt_at > T0
    assert row.last_error.startswith("cannot reach the receiver: ")
    assert "refused" in row.last_error.lower()
    assert SECRET not in row.last_error and "secret-path" not in row.last_error
    assert _row(second).attempts == 0  # not tried against a receiver known to be down


def test_gives_up_after_max_attempts(
    db: peewee.Database, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.default_status = 503
    event_id = emit("failed", {"id": 9, "detail": "upstream said no"}, now=T0)
    clock = Clock(T0)
    notifier = _notifier(receiver.url, clock, max_attempts=3)
    with caplog.at_level(logging.WARNING, logger="gitgate.notify"):
        for attempt in (1, 2, 3):
            clock.now = _row(event_id).next_attempt_at
            assert notifier.deliver_due() == 0
            assert _row(event_id).attempts == attempt
    row = _row(event_id)
    assert row.next_attempt_at == notify.GIVEN_UP_AT
    assert row.last_error == "given up after 3 attempts: HTTP 503 from the receiver"
    assert f"webhook event {event_id} given up after 3 attempts" in caplog.text
    assert [r.levelname for r in caplog.records if "given up" in r.getMessage()] == ["ERROR"]
    clock.now = T0 + timedelta(days=3650)
    assert notifier.deliver_due() == 0
    assert len(receiver.requests) == 3


def test_backoff_doubles_and_is_capped(db: peewee.Database, receiver: Receiver) -> None:
    receiver.default_status = 500
    event_id = emit("stale", {"id": 5}, now=T0)
    clock = Clock(T0)
    notifier = _notifier(receiver.url, clock, max_attempts=100)
    delays = []
    for _ in range(12):
        notifier.deliver_due()
        after = _row(event_id).next_attempt_at
        delays.append(int((after - clock.now).total_seconds()))
        clock.now = after
    assert delays[:4] == [5, 10, 20, 40]
    assert delays[-1] == notify.BACKOFF_MAX_S


def test_redirects_are_not_followed(db: peewee.Database, receiver: Receiver) -> None:
    receiver.statuses = [302]
    event_id = emit("relayed", {"id": 1}, now=T0)
    assert _notifier(receiver.url, Clock(T0)).deliver_due() == 0
    assert [r.path for r in receiver.requests] == ["/hooks/T000/secret-path"]
    assert _row(event_id).last_error == "HTTP 302 from the receiver"


def test_without_a_webhook_url_events_stay_in_the_outbox(db: peewee.Database) -> None:
    event_id = emit("queued", QUEUED, now=T0)
    assert Notifier(NotifyConfig(), clock=Clock(T0)).deliver_due() == 0
    assert _row(event_id).attempts == 0
    assert [i.id for i in outbox.due(T0)] == [event_id]


@pytest.mark.parametrize(
    ("secret", "logged"),
    [
        ("file:/nonexistent/gitgate-key", "notify.secret: file /nonexistent/gitgate-key"),
        ("inline-hunter2-value", "notify.secret: write"),
    ],
    ids=["missing-file", "inline"],
)
def test_an_unusable_secret_sends_nothing_and_is_never_echoed(
    db: peewee.Database,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
    secret: str,
    logged: str,
) -> None:
    event_id = emit("queued", QUEUED, now=T0)
    with caplog.at_level(logging.ERROR, logger="gitgate.notify"):
        assert _notifier(receiver.url, Clock(T0), secret=secret).deliver_due() == 0
    assert receiver.requests == []
    assert _row(event_id).attempts == 0
    assert logged in caplog.text
    assert "hunter2" not in caplog.text


def test_plain_http_is_only_for_loopback(
    db: peewee.Database, caplog: pytest.LogCaptureFixture
) -> None:
    event_id = emit("queued", QUEUED, now=T0)
    with caplog.at_level(logging.ERROR, logger="gitgate.notify"):
        assert _notifier("http://hooks.example.com/x", Clock(T0)).deliver_due() == 0
    assert "notify.webhook_url: must be an https:// URL" in caplog.text
    assert _row(event_id).attempts == 0


def test_deliver_due_never_raises(db: peewee.Database, caplog: pytest.LogCaptureFixture) -> None:
    class Broken(urllib.request.OpenerDirector):
        def open(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("boom")

    event_id = emit("approved", {"id": 4}, now=T0)
    cfg = NotifyConfig(webhook_url="https://hooks.example.com/x")
    assert Notifier(cfg, clock=Clock(T0), opener=Broken()).deliver_due() == 0
    assert _row(event_id).last_error == "delivery error: RuntimeError: boom"
    bind(None)  # the database goes away: logged, not raised
    try:
        with caplog.at_level(logging.ERROR, logger="gitgate.notify"):
            assert Notifier(cfg, clock=Clock(T0)).deliver_due() == 0
    finally:
        bind(db)
    assert "webhook delivery round failed" in caplog.text


def test_emit_refuses_unknown_events_and_stores_json(db: peewee.Database) -> None:
    with pytest.raises(ValueError, match=r"unknown notification event 'push\.queued'"):
        emit("push.queued", {})
    event_id = emit("expired", {"id": 1, "expires_at": T0, "groups": ("a", "b")}, now=T0)
    payload = _row(event_id).payload
    assert payload["expires_at"] == "2030-05-01T12:00:00+00:00"
    assert payload["groups"] == ["a", "b"]
    assert payload["event"] == "expired"
    assert payload["text"] == "gitgate: push #1 expired without a decision"


def test_slack_text_for_each_event() -> None:
    base = {"id": 8, "repo": "acme/app", "pusher": "agent-7", "refs": ["refs/heads/main"]}
    head = "gitgate: push #8 to acme/app (refs/heads/main) by agent-7"
    assert slack_text("queued", QUEUED) == QUEUED_TEXT
    assert slack_text("approved", {**base, "reviewer": "alice", "approvals": 1, "required": 2}) == (
        f"{head} approved by alice (1 of 2 approvals)"
    )
    assert slack_text("rejected", {**base, "reviewer": "bob", "detail": "no"}) == (
        f"{head} rejected by bob: no"
    )
    assert slack_text("stale", {**base, "detail": "main moved"}).startswith(f"{head} not relayed")
    assert slack_text("failed", base) == f"{head} failed to relay. See: gitgate review show 8"
    many = {"refs": [f"refs/heads/b{i}" for i in range(5)]}
    assert "(refs/heads/b0, refs/heads/b1, refs/heads/b2 +2 more)" in slack_text("relayed", many)


def test_slack_text_neutralises_agent_chosen_text() -> None:
    text = slack_text(
        "break_glass",
        {
            "repo": "acme/app",
            "pusher": "agent-7",
            "refs": ["refs/heads/main"],
            "overridden": ["protected path .github/workflows/ci.yml"],
            "reason": "hotfix <!channel> <https://evil.example|click>\n\x1b[2Jmore " + "x" * 500,
        },
    )
    assert text.startswith(
        "gitgate: BREAK GLASS: push to acme/app (refs/heads/main) by agent-7 bypassed "
        "protected path .github/workflows/ci.yml. Reason given: hotfix &lt;!channel&gt; "
    )
    assert "<" not in text and "\n" not in text and "\x1b" not in text
    assert len(text) < 400
