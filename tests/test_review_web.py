"""The review page over plain HTTP: web security (cookies, CSP, CSRF, trusted headers only from
trusted proxies), OIDC sign-in failures, the same review rules as the CLI, no secret value on
the page, the auditor's view, and links to a push's page in webhooks and `gitgate review`."""

from __future__ import annotations

import http.client
import json
import re
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.gate import GateServer
from tests.fixtures.oidc import CLIENT_SECRET, OidcProvider
from tests.fixtures.upstream import commit, git, upstream_ref

MakeGate = Callable[..., GateServer]
HEADERS_ON = {"trusted_headers": True, "trusted_proxies": ["127.0.0.1"]}


def queue_rule(**extra: Any) -> list[dict[str, Any]]:
    return [
        {
            "name": "prod-review",
            "protected_paths": ["deploy/**"],
            "reviewers": ["maintainers"],
            "actions": {"protected_paths": "queue", "secrets": "queue"},
            **extra,
        }
    ]


class Client:
    """A tiny HTTP client with a cookie store (Secure cookies kept: this is the browser's
    view of a loopback origin) and no automatic redirects."""

    def __init__(self, port: int, headers: dict[str, str] | None = None) -> None:
        self.port = port
        self.headers = headers or {}
        self.cookies: dict[str, str] = {}
        self.set_cookies: list[str] = []

    def request(
        self, method: str, path: str, form: dict[str, str] | None = None
    ) -> tuple[int, str, http.client.HTTPResponse]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        headers = dict(self.headers)
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        text = resp.read().decode()
        conn.close()
        for raw in resp.headers.get_all("Set-Cookie") or []:
            self.set_cookies.append(raw)
            name, _, rest = raw.partition("=")
            value = rest.split(";", 1)[0]
            if value:
                self.cookies[name] = value
            else:
                self.cookies.pop(name, None)
        return resp.status, text, resp


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


def queue_one(gate: GateServer, repo: str, tmp_path: Path, files: dict[str, str]) -> str:
    work = tmp_path / "agent"
    git("clone", "-q", gate.remote(repo), str(work))
    tip = commit(work, files, "change")
    result = git("push", "origin", "HEAD:main", cwd=work, check=False)
    assert "queued for approval as #1" in result.stderr, result.stderr
    return tip


def test_security_headers_cookies_and_csrf(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    bare, repo = seeded
    gate = make_gate(queue_rule(), sections={"review": HEADERS_ON})
    before = upstream_ref(bare, "refs/heads/main")
    queue_one(gate, repo, tmp_path, {"deploy/prod.yaml": "replicas: 5\n"})
    bob = Client(gate.server.server_port, {"X-Forwarded-User": "bob"})
    bob.headers["X-Forwarded-Groups"] = "maintainers"
    status, page, resp = bob.request("GET", "/-/review/push/1")
    assert status == 200
    csp = resp.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["Cache-Control"] == "no-store"
    (cookie,) = bob.set_cookies
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "secure", "samesite=lax", "path=/-/review"} <= flags
    assert "<script>" not in page and "style=" not in page  # nothing inline for the CSP to allow

    # no token, a wrong token, and a token of another session: refused, nothing decided
    for form in ({"verdict": "approve"}, {"verdict": "approve", "csrf": "x" * 32}):
        status, page, _ = bob.request("POST", "/-/review/push/1", form)
        assert status == 403 and "CSRF" in page
    mallory = Client(gate.server.server_port, {"X-Forwarded-User": "mallory"})
    mallory.headers["X-Forwarded-Groups"] = "maintainers"
    stolen = csrf_of(mallory.request("GET", "/-/review/push/1")[1])
    status, _, _ = bob.request("POST", "/-/review/push/1", {"verdict": "approve", "csrf": stolen})
    assert status == 403
    from gitgate.store import queue

    info = queue.get(1)
    assert info is not None and info.state == "pending" and not info.decisions
    assert upstream_ref(bare, "refs/heads/main") == before


def test_identity_headers_only_from_trusted_proxies(make_gate: MakeGate) -> None:
    review = {"trusted_headers": True, "trusted_proxies": ["127.0.0.2/32"]}
    gate = make_gate(queue_rule(), sections={"review": review})
    forged = Client(gate.server.server_port, {"X-Forwarded-User": "alice"})
    forged.headers["X-Forwarded-Groups"] = "maintainers"
    status, page, _ = forged.request("GET", "/-/review")
    assert status == 401 and "Sign in to review" in page and "alice" not in page
    status, body, _ = forged.request("GET", "/-/review/push/1/state")
    assert status == 401 and json.loads(body)["message"]

    off = make_gate(queue_rule(), sections={"review": {"trusted_headers": False}})
    forged.port = off.server.server_port
    assert forged.request("GET", "/-/review")[0] == 401


def test_same_rules_as_the_cli_and_no_secret_value_on_the_page(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path, db_url: str
) -> None:
    from tests.fixtures.secrets import GITHUB_TOKEN

    bare, repo = seeded
    gate = make_gate(queue_rule(approvals=2), sections={"review": HEADERS_ON}, db_url=db_url)
    tip = queue_one(
        gate,
        repo,
        tmp_path,
        {"deploy/prod.yaml": f'replicas: 5\ntoken: "{GITHUB_TOKEN}"\n', "src/x.py": "x = 1\n"},
    )
    port = gate.server.server_port

    def reviewer(name: str, groups: str) -> Client:
        return Client(port, {"X-Forwarded-User": name, "X-Forwarded-Groups": groups})

    dev = reviewer("dave", "developers")
    status, page, _ = dev.request("GET", "/-/review/push/1")
    assert status == 403 and "no reviewer or auditor group" in page

    alice = reviewer("alice", "maintainers")
    status, page, _ = alice.request("GET", "/-/review/push/1")
    assert status == 200
    assert GITHUB_TOKEN not in page and GITHUB_TOKEN[:12] not in page
    assert "GitHub Token" in page and "deploy/prod.yaml:2" in page  # type and path:line
    assert "[line withheld: looks like a secret]" in page
    assert "2 more needed" in page

    anon = reviewer("anonymous", "maintainers")  # the pusher (auth is off on this gate)
    status, page, _ = anon.request("GET", "/-/review/push/1")
    status, page, _ = anon.request(
        "POST", "/-/review/push/1", {"verdict": "approve", "csrf": csrf_of(page)}
    )
    assert status == 409 and "never approve its own push" in page

    approve = {"verdict": "approve", "csrf": csrf_of(alice.request("GET", "/-/review/push/1")[1])}
    status, page, _ = alice.request("POST", "/-/review/push/1", approve)
    assert status == 200 and "approval recorded (1 of 2)" in page
    status, page, _ = alice.request("POST", "/-/review/push/1", approve)
    assert status == 409 and "already approved" in page
    assert upstream_ref(bare, "refs/heads/main") != tip

    bob = reviewer("bob", "maintainers")
    csrf = csrf_of(bob.request("GET", "/-/review/push/1")[1])
    status, body, _ = bob.request("GET", "/-/review/push/1/state")
    assert json.loads(body)["approvals"] == 1
    status, page, _ = bob.request("POST", "/-/review/push/1", {"verdict": "approve", "csrf": csrf})
    assert status == 200 and "Relay: relayed" in page
    assert upstream_ref(bare, "refs/heads/main") == tip
    assert json.loads(bob.request("GET", "/-/review/push/1/state")[1])["state"] == "relayed"


def test_rejection_needs_a_reason_and_ends_the_review(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path, db_url: str
) -> None:
    _, repo = seeded
    gate = make_gate(queue_rule(), sections={"review": HEADERS_ON}, db_url=db_url)
    queue_one(gate, repo, tmp_path, {"deploy/prod.yaml": "replicas: 5\n"})
    alice = Client(gate.server.server_port, {"X-Forwarded-User": "alice"})
    alice.headers["X-Forwarded-Groups"] = "maintainers"
    csrf = csrf_of(alice.request("GET", "/-/review/push/1")[1])
    status, page, _ = alice.request("POST", "/-/review/push/1", {"verdict": "reject", "csrf": csrf})
    assert status == 409 and "needs a reason" in page
    status, page, _ = alice.request(
        "POST", "/-/review/push/1", {"verdict": "reject", "csrf": csrf, "comment": "too many"}
    )
    assert status == 200 and "rejected" in page and "too many" in page
    status, page, _ = alice.request("GET", "/-/review?state=rejected&repo=acme/app")
    assert status == 200 and "#1" in page
    assert '<span class="refs">main </span>' in page  # the refs, extracted by the database
    status, page, _ = alice.request("GET", "/-/review?state=rejected&repo=acme/other")
    assert "#1" not in page and "No rejected pushes for acme/other" in page


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> Iterator[OidcProvider]:
    monkeypatch.setenv("GITGATE_TEST_REVIEW_CLIENT_SECRET", CLIENT_SECRET)
    p = OidcProvider().start()
    yield p
    p.stop()


def test_oidc_sign_in_failures(make_gate: MakeGate, provider: OidcProvider) -> None:
    issuer, review = provider.config()
    gate = make_gate(queue_rule(), sections={"auth": {"oidc": [issuer]}, "review": review})
    port = gate.server.server_port

    def login(next_path: str) -> tuple[Client, str]:
        c = Client(port)
        status, _, resp = c.request("GET", "/-/review/login?next=" + urllib.parse.quote(next_path))
        assert status == 303
        return c, resp.headers["Location"]

    def follow(location: str) -> str:
        """The provider's answer: a redirect back to the gate's callback."""
        url = urllib.parse.urlsplit(location)
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        conn.request("GET", f"{url.path}?{url.query}")
        resp = conn.getresponse()
        resp.read()
        back = urllib.parse.urlsplit(resp.headers["Location"])
        return f"{back.path}?{back.query}"

    # a good sign-in; `next` may only point into the review UI (no open redirect)
    c, location = login("https://evil.example/")
    status, _, resp = c.request("GET", follow(location))
    assert status == 303 and resp.headers["Location"].endswith("/-/review")
    assert c.request("GET", "/-/review")[0] == 200

    # the callback's state must be the one this browser's sign-in started with
    c, location = login("/-/review")
    callback = follow(location)
    other, _ = login("/-/review")
    status, page, _ = other.request("GET", callback)
    assert status == 403 and "state does not match" in page
    assert other.request("GET", "/-/review")[0] == 401

    # the right browser finishes; the login cookie is then spent: a replay is refused
    assert c.request("GET", callback)[0] == 303
    status, page, _ = c.request("GET", callback)
    assert status == 403 and "Sign in again" in page

    # the identity provider failing is the gate's problem, said so, with a 502
    c, location = login("/-/review")
    provider.token_status = 500
    status, page, _ = c.request("GET", follow(location))
    assert status == 502 and "not your fault" in page
    provider.token_status = 200

    # a wrong group: signed in, but no reviewer of this gate
    provider.user = ("erin", ["developers"])
    c, location = login("/-/review")
    assert c.request("GET", follow(location))[0] == 303
    status, page, _ = c.request("GET", "/-/review")
    assert status == 403 and "erin is in no reviewer or auditor group" in page


def test_auditor_view_and_export(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path, db_url: str
) -> None:
    _, repo = seeded
    review = {**HEADERS_ON, "auditor_groups": ["audit"]}
    gate = make_gate(queue_rule(), sections={"review": review}, db_url=db_url)
    queue_one(gate, repo, tmp_path, {"deploy/prod.yaml": "replicas: 5\n"})
    port = gate.server.server_port
    maint = Client(port, {"X-Forwarded-User": "alice", "X-Forwarded-Groups": "maintainers"})
    status, page, _ = maint.request("GET", "/-/review/audit")
    assert status == 403 and "auditor_groups" in page
    assert maint.request("GET", "/-/review/audit/export")[0] == 403

    auditor = Client(port, {"X-Forwarded-User": "ivy", "X-Forwarded-Groups": "audit"})
    status, page, _ = auditor.request("GET", "/-/review/audit?decision=queue&repo=acme/app")
    assert status == 200 and "receive-pack" in page and "refs/heads/main" in page
    export = re.search(r'id="export" href="([^"]+)"', page)
    assert export
    status, body, resp = auditor.request("GET", export.group(1).replace("&amp;", "&"))
    assert status == 200 and resp.headers["Content-Type"] == "application/x-ndjson"
    rows = [json.loads(line) for line in body.splitlines()]
    assert rows and all(r["decision"] == "queue" and r["repo"] == repo for r in rows)
    status, body, _ = auditor.request("GET", "/-/review/audit/export?subject=nobody")
    assert status == 200 and body == ""
    # auditors read the queue too, and cannot decide
    status, page, _ = auditor.request("GET", "/-/review/push/1")
    assert status == 200 and "you can read it, not decide" in page


def test_links_to_the_page_in_webhooks_and_cli(
    make_gate: MakeGate,
    seeded: tuple[Path, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tests.fixtures.webhook import WebhookReceiver

    _, repo = seeded
    monkeypatch.setenv("HOOK_SECRET", "webhook-signing-key")
    with WebhookReceiver() as hook:
        gate = make_gate(
            queue_rule(),
            sections={
                "server": {"public_url": "https://gate.example.com"},
                "notify": {"webhook_url": hook.url, "secret": "env:HOOK_SECRET"},
            },
        )
        queue_one(gate, repo, tmp_path, {"deploy/prod.yaml": "replicas: 5\n"})
        queued = hook.wait_for("queued")
    assert queued["review"] == "https://gate.example.com/-/review/push/1"
    assert "Review: https://gate.example.com/-/review/push/1" in queued["text"]
    assert gate.cli("review", "show", "1") == 0
    assert "page:      https://gate.example.com/-/review/push/1" in capsys.readouterr().out


def test_config_refuses_unsafe_review_settings(tmp_path: Path) -> None:
    from gitgate import config

    def problems(review: dict[str, Any]) -> str:
        path = tmp_path / "c.toml"
        from tests.fixtures.toml import dumps

        path.write_text(dumps({"storage": {"data_dir": str(tmp_path)}, "review": review}))
        with pytest.raises(config.ConfigError) as info:
            config.load(path)
        return str(info.value)

    assert "review.trusted_proxies" in problems({"trusted_headers": True})
    assert "not an address" in problems({"trusted_headers": True, "trusted_proxies": ["x"]})
    assert "review.session_secret" in problems({"session_secret": "inline-value"})
    assert "[[auth.oidc]]" in problems({"oidc_issuer": "corp"})


def test_database_down_is_the_gates_fault(make_gate: MakeGate, tmp_path: Path) -> None:
    import peewee

    gate = make_gate(queue_rule(), sections={"review": HEADERS_ON})
    alice = Client(gate.server.server_port, {"X-Forwarded-User": "alice"})
    alice.headers["X-Forwarded-Groups"] = "maintainers"
    services = gate.runtime.services
    database = services.database
    services.database = peewee.SqliteDatabase(str(tmp_path / "missing-dir" / "gitgate.db"))
    try:
        status, page, _ = alice.request("GET", "/-/review")
        state, body, _ = alice.request("GET", "/-/review/push/1/state")
    finally:
        services.database = database
    assert status == 503 and "not your fault" in page and "cannot reach its database" in page
    assert state == 503 and "database is unavailable" in json.loads(body)["message"]
    assert alice.request("GET", "/-/review")[0] == 200
