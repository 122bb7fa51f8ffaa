"""The audit event and its renderings (gitgate.audit), its one writer (gitgate.audit.recording) and
the domain errors mapped to HTTP (gitgate.errors): fast, no server, no database."""

from __future__ import annotations

import json
import logging
from typing import Any

import falcon
import falcon.testing
import pytest

from gitgate.app import RequestContext, _text_error
from gitgate.audit import RequestEvent, Who, log_fields, push_fields, queued_push, row
from gitgate.audit.logs import request_line
from gitgate.audit.recording import Audit, AuditMiddleware
from gitgate.audit.webhooks import BreakGlassEvent, QueueEvent, webhook_payload
from gitgate.auth import AuthError, AuthUnavailable
from gitgate.checks.base import Finding, Verdict
from gitgate.config import Rule
from gitgate.errors import Refusal, add_handlers
from gitgate.exchange import Caller, Exchange
from gitgate.git.relay import RelayResult
from gitgate.git.wire import Command
from gitgate.policy import Action, Decision
from gitgate.upstream.http import UpstreamError
from gitgate.web.links import page_url

OLD, NEW = b"1" * 40, b"2" * 40


def event(**fields: object) -> RequestEvent:
    who = Who("agent-1", ("agents",), "https://idp", "10.0.0.7")
    return RequestEvent(who, "acme/app", "upload-pack", "req1").but(fields)  # type: ignore[arg-type]


def test_row_leaves_unknown_values_to_the_columns_defaults() -> None:
    assert row(event(decision="forbidden", error="no rule gives you access")) == {
        "subject": "agent-1",
        "groups": ["agents"],
        "issuer": "https://idp",
        "source_addr": "10.0.0.7",
        "repo": "acme/app",
        "service": "upload-pack",
        "request_id": "req1",
        "decision": "forbidden",
        "error": "no rule gives you access",
        "ref_updates": [],
        "verdicts": [],
        "findings": [],
        "statuses": [],
        "events": [],
    }


def test_row_carries_counts_and_queued_push_is_the_first_queue_id() -> None:
    done = event(decision="queue", bytes_in=10, bytes_out=0, duration_ms=5, upstream_status=200)
    assert {k: row(done)[k] for k in ("bytes_in", "bytes_out", "duration_ms")} == {
        "bytes_in": 10,
        "bytes_out": 0,
        "duration_ms": 5,
    }
    assert queued_push(done.but({"queue_ids": {"refs/heads/a": 9, "refs/heads/b": 4}})) == 4
    assert queued_push(done) is None


def test_log_fields_keep_their_order_and_drop_empty_values() -> None:
    fields = log_fields(event(decision="allow", upstream_status=200, bytes_out=3, error=""))
    assert list(fields) == [
        "request_id",
        "subject",
        "repo",
        "service",
        "decision",
        "upstream_status",
        "bytes_out",
        "source_addr",
        "duration_ms",  # always there, 0 when not measured (a refusal): last, then
    ]
    assert fields["duration_ms"] == 0
    assert list(log_fields(event(decision="allow", duration_ms=3)))[5] == "duration_ms"


def test_request_line(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="gitgate.request"):
        request_line(event(decision="allow", duration_ms=7).but({"repo": None}))
    (record,) = caplog.records
    assert record.getMessage() == "upload-pack None allow"
    assert record.fields["duration_ms"] == 7 and "repo" not in record.fields  # type: ignore[attr-defined]


def _decision(ref: bytes, action: str, verdicts: list[Verdict]) -> Decision:
    act = Action(action)
    return Decision(Command(OLD, NEW, ref), Rule(name="main"), act, act, (), tuple(verdicts))


def _exchange(decisions: list[Decision], **kw: Any) -> Exchange:
    ex = Exchange(Caller(repo="acme/app"), **kw)
    ex.settle(decisions)
    return ex


def test_push_fields_decide_by_severity_and_describe_each_ref() -> None:
    failed = Verdict(
        "paths",
        "refs/heads/a",
        False,
        "protected path",
        [Finding("paths", "refs/heads/a", "ci", path="x")],
    )
    outcome = _exchange(
        [
            _decision(b"refs/heads/a", "queue", [failed]),
            _decision(b"refs/heads/b", "allow", [Verdict("paths", "refs/heads/b", True)]),
        ],
        relay=RelayResult(status=200),
        queue_ids={"refs/heads/a": 3},
        statuses=[(b"refs/heads/a", "queued as #3"), (b"refs/heads/b", None)],
    )
    commands = [d.command for d in outcome.decisions]
    fields = push_fields(outcome, commands)
    assert fields["decision"] == "queue" and fields["upstream_status"] == 200
    assert fields["ref_updates"][0] == {
        "ref": "refs/heads/a",
        "old": OLD.decode(),
        "new": NEW.decode(),
    }
    assert fields["verdicts"][0] == {
        "check": "paths",
        "ref": "refs/heads/a",
        "passed": False,
        "reason": "protected path",
        "error": False,
        "rule": "main",
        "action": "queue",
        "policy_action": "queue",
    }
    assert fields["findings"] == [
        {"check": "paths", "ref": "refs/heads/a", "path": "x", "type": "ci"}
    ]
    assert fields["statuses"] == [
        {"ref": "refs/heads/a", "status": "queued as #3"},
        {"ref": "refs/heads/b", "status": "ok"},
    ]
    assert push_fields(_exchange([], error="internal error: X"), [])["decision"] == "error"


def test_push_fields_withhold_a_ref_name_that_carries_a_secret() -> None:
    ref = "refs/heads/ghp_" + "a" * 36
    secret = Finding(
        "secrets", ref, "GitHub Token", path="ref name", type="GitHub Token", hash="abc"
    )
    outcome = _exchange(
        [_decision(ref.encode(), "reject", [Verdict("secrets", ref, False, "secret", [secret])])],
        statuses=[(ref.encode(), "secret in ref name")],
    )
    fields = push_fields(outcome, [d.command for d in outcome.decisions])
    assert ref not in json.dumps(fields)
    assert fields["ref_updates"][0]["ref"] == "<ref name withheld: GitHub Token abc>"


class Recorded:
    def __init__(self) -> None:
        self.events: list[RequestEvent] = []

    def __call__(self, event: RequestEvent) -> int:
        self.events.append(event)
        return len(self.events)


def test_audit_writes_once_and_only_a_decided_request_with_a_caller() -> None:
    recorded = Recorded()
    audit = Audit(recorded)
    audit.note(decision="allow")
    assert audit.write() is None  # no caller named: nothing to say who
    caller = Caller(repo="acme/app", request_id="req2")
    audit.about(caller, "info-refs")
    caller.subject = "agent-2"  # authentication fills the caller in after it is named
    assert audit.write() == 1 and audit.write() is None
    (written,) = recorded.events
    assert (written.who.subject, written.service, written.decision) == (
        "agent-2",
        "info-refs",
        "allow",
    )


def test_a_push_writes_started_then_completes_that_row() -> None:
    recorded = Recorded()
    audit = Audit(recorded)
    audit.about(Caller(repo="acme/app"), "receive-pack")
    audit.note(bytes_in=5)
    audit.start()
    audit.note(decision="allow")
    audit.write()
    started, done = recorded.events
    assert (started.decision, started.bytes_in, started.record_id) == ("started", 5, None)
    assert (done.decision, done.bytes_in, done.record_id) == ("allow", 5, 1)


def test_a_streamed_answer_is_written_when_the_stream_ends() -> None:
    recorded = Recorded()
    audit = Audit(recorded)
    audit.about(Caller(repo="acme/app"), "upload-pack")
    audit.note(decision="allow")
    body = audit.streamed(iter([b"abc", b"de"]), bytes_in=4)
    assert next(body) == b"abc" and not recorded.events
    assert list(body) == [b"de"]
    (done,) = recorded.events
    assert (done.bytes_out, done.bytes_in) == (5, 4) and done.duration_ms is not None


class _Raises:
    def __init__(self, error: Exception, channel: str = "git") -> None:
        self.error, self.channel = error, channel

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.channel = self.channel
        req.context.audit.about(Caller(repo="acme/app", request_id="req3"), "info-refs")
        raise self.error


def _client(error: Exception, channel: str = "git") -> tuple[falcon.testing.TestClient, Recorded]:
    recorded = Recorded()
    app = falcon.App(middleware=[RequestContext(), AuditMiddleware(recorded)])
    app.add_error_handler(falcon.HTTPError, _text_error)
    add_handlers(app, _text_error)
    app.add_route("/x", _Raises(error, channel))
    return falcon.testing.TestClient(app), recorded


def test_errors_are_answered_in_git_text_and_recorded() -> None:
    client, recorded = _client(AuthError("bad token"))
    result = client.simulate_get("/x")
    assert (
        result.status_code == 401 and result.headers["WWW-Authenticate"] == 'Basic realm="gitgate"'
    )
    assert result.text.startswith("gitgate: bad token. Use a valid gitgate token")
    assert (recorded.events[0].decision, recorded.events[0].error) == (
        "unauthenticated",
        "bad token",
    )

    client, recorded = _client(AuthUnavailable("identity provider unreachable", retry_after_s=7))
    result = client.simulate_get("/x")
    assert result.status_code == 503 and result.headers["Retry-After"] == "7"
    assert recorded.events[0].decision == "error"

    client, recorded = _client(UpstreamError("upstream unreachable", status=None))
    result = client.simulate_get("/x")
    assert (result.status_code, result.text) == (502, "gitgate: upstream unreachable\n")

    refusal = Refusal(falcon.HTTPForbidden(description="gitgate: no"), "forbidden", "why")
    client, recorded = _client(refusal)
    assert client.simulate_get("/x").status_code == 403
    assert (recorded.events[0].decision, recorded.events[0].error) == ("forbidden", "why")


def test_the_queue_api_channel_answers_auth_errors_in_json() -> None:
    client, _ = _client(AuthUnavailable("database unreachable"), channel="json")
    result = client.simulate_get("/x")
    assert (
        result.status_code == 401 and result.headers["WWW-Authenticate"] == 'Bearer realm="gitgate"'
    )
    assert result.json == {
        "message": "gitgate: database unreachable. Send your gitgate token as a Bearer token"
    }


def test_webhook_payload_of_a_queue_event_names_the_push_and_only_what_the_event_adds() -> None:
    summary = {"ref_updates": [{"ref": "refs/heads/main"}], "reasons": ["rule prod: a", "b"]}
    queued = QueueEvent.about("queued", 3, "acme/app", "agent-7", summary, "prod")
    assert webhook_payload(queued.but({"supersedes": (1, 2)})) == {
        "id": 3,
        "repo": "acme/app",
        "pusher": "agent-7",
        "rule": "prod",
        "refs": ["refs/heads/main"],
        "reason": "rule prod: a; b",
        "review": page_url(3) or "gitgate review show 3",  # a page when reviews are on
        "supersedes": [1, 2],
    }
    approved = queued.but({"reviewer": "alice", "approvals": 1, "required": 2})
    assert approved.event == "queued" and webhook_payload(approved)["approvals"] == 1
    assert "detail" not in webhook_payload(approved)


def test_webhook_payload_of_break_glass() -> None:
    ev = BreakGlassEvent("acme/app", "agent-7", "hotfix", ["refs/heads/main"], ["protected"], "r1")
    assert ev.event == "break_glass"
    assert webhook_payload(ev) == {
        "repo": "acme/app",
        "pusher": "agent-7",
        "reason": "hotfix",
        "refs": ["refs/heads/main"],
        "overridden": ["protected"],
        "request_id": "r1",
    }
