"""gitgate.git.relay: what the gate sends upstream for the refs it relays, and how it reads the
answer. Upstream here is a small recording HTTP server on a free loopback port."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from dulwich.protocol import pkt_line

from gitgate.git.relay import advertised_refs, relay, upstream_request
from gitgate.git.wire import Command, PushRequest, parse_push_request
from gitgate.upstream.http import Upstream, UpstreamError

MAIN, DEV = b"refs/heads/main", b"refs/heads/dev"
A, B, C = b"a" * 40, b"b" * 40, b"c" * 40
PACK = b"PACK\x00\x00\x00\x02\x00\x00\x00\x00" + b"\x11" * 20
CLIENT_CAPS = [b"report-status-v2", b"side-band-64k", b"atomic", b"push-options", b"agent=git/2.45"]


def band(n: int, data: bytes) -> bytes:
    return pkt_line(bytes([n]) + data)


def report(*lines: bytes) -> bytes:
    return b"".join(pkt_line(line + b"\n") for line in lines) + pkt_line(None)


@dataclass
class Recorded:
    """What upstream received and what it answers."""

    caps: bytes = b"report-status report-status-v2 side-band-64k push-options"
    status: int = 200
    reply: bytes = b""
    gets: list[str] = field(default_factory=list)
    posts: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)


class Handler(BaseHTTPRequestHandler):
    server: Server

    def do_GET(self) -> None:
        rec = self.server.rec
        rec.gets.append(self.path)
        body = pkt_line(b"# service=git-receive-pack\n") + pkt_line(None)
        body += pkt_line(A + b" " + MAIN + b"\0" + rec.caps + b"\n") + pkt_line(None)
        self._answer(200, body)

    def do_POST(self) -> None:
        rec = self.server.rec
        body = self.rfile.read(int(self.headers["Content-Length"]))
        rec.posts.append((self.path, dict(self.headers), body))
        self._answer(rec.status, rec.reply)

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class Server(ThreadingHTTPServer):
    rec: Recorded


@pytest.fixture
def upstream() -> Iterator[tuple[Upstream, Recorded]]:
    srv = Server(("127.0.0.1", 0), Handler)
    srv.rec = Recorded()
    thread = threading.Thread(target=srv.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield Upstream(f"http://127.0.0.1:{srv.server_address[1]}", None, timeout=10), srv.rec
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join()


def request(options: list[bytes] | None = None, caps: list[bytes] = CLIENT_CAPS) -> PushRequest:
    cmds = [Command(A, B, MAIN), Command(A, C, DEV)]
    return PushRequest(cmds, list(caps), options or [], 0, [b"d" * 40])


def sent(rec: Recorded) -> tuple[PushRequest, bytes]:
    (_, _, body) = rec.posts[-1]
    stream = io.BytesIO(body)
    head = parse_push_request(stream)
    return head, body[head.pack_offset :]


def test_the_request_as_the_gate_rewrites_it() -> None:
    up = upstream_request(request([b"ci.skip", b"gitgate.reason=hotfix"]), [Command(A, B, MAIN)])
    assert up.commands == [Command(A, B, MAIN)]
    assert up.capabilities == [
        b"report-status-v2", b"side-band-64k", b"atomic", b"push-options", b"report-status",
        b"agent=gitgate",
    ]  # fmt: skip
    assert up.push_options == [b"ci.skip"]  # the gate's own options stay with the gate
    assert up.shallow == [b"d" * 40]
    bare = upstream_request(request([b"gitgate.reason=x"], caps=[b"push-options"]), [])
    assert b"push-options" not in bare.capabilities and bare.push_options == []
    refused = upstream_request(request([b"ci.skip"]), [], upstream_caps={b"report-status"})
    assert (refused.push_options, b"push-options" in refused.capabilities) == ([], False)


def test_relaying_a_subset_of_the_commands_with_options_and_the_pack(
    upstream: tuple[Upstream, Recorded],
) -> None:
    http, rec = upstream
    rec.reply = band(2, b"Resolving deltas: 100%\n") + band(
        1, report(b"unpack ok", b"ok refs/heads/main", b"option new-oid " + C)
    )
    rec.reply += pkt_line(None)
    progress: list[bytes] = []
    req = request([b"ci.skip", b"gitgate.reason=hotfix"])
    result = relay(
        http, "acme/app", req, [req.commands[0]], io.BytesIO(PACK), len(PACK), progress.append
    )
    path, headers, body = rec.posts[0]
    assert path == "/acme/app.git/git-receive-pack"
    assert rec.gets == ["/acme/app.git/info/refs?service=git-receive-pack"]  # asked: options?
    assert headers["Content-Type"] == "application/x-git-receive-pack-request"
    assert int(headers["Content-Length"]) == len(body)
    head, pack = sent(rec)
    assert head.commands == [Command(A, B, MAIN)]  # the refused dev update is not sent
    assert head.push_options == [b"ci.skip"] and head.shallow == [b"d" * 40]
    assert b"agent=gitgate" in head.capabilities and b"agent=git/2.45" not in head.capabilities
    assert pack == PACK
    assert progress == [b"Resolving deltas: 100%\n"]
    assert (result.unpack, result.status, result.ok(MAIN)) == ("ok", 200, True)
    assert result.refs[MAIN] == [b"ok refs/heads/main", b"option new-oid " + C]


def test_options_are_dropped_when_upstream_does_not_take_them(
    upstream: tuple[Upstream, Recorded],
) -> None:
    http, rec = upstream
    rec.caps = b"report-status side-band-64k"
    rec.reply = band(1, report(b"unpack ok", b"ok refs/heads/main")) + pkt_line(None)
    progress: list[bytes] = []
    req = request([b"ci.skip"])
    relay(http, "acme/app", req, req.commands[:1], io.BytesIO(PACK), len(PACK), progress.append)
    head, _ = sent(rec)
    assert head.push_options == [] and b"push-options" not in head.capabilities
    assert progress == [b"gitgate: upstream does not take push options; they were not sent\n"]


def test_a_delete_sends_no_pack_and_no_question_about_options(
    upstream: tuple[Upstream, Recorded],
) -> None:
    http, rec = upstream
    rec.reply = band(1, report(b"unpack ok", b"ng refs/heads/dev protected branch")) + pkt_line(
        None
    )
    delete = Command(A, b"0" * 40, DEV)
    result = relay(http, "acme/app", request(), [delete], None, 0, lambda _: None)
    head, pack = sent(rec)
    assert head.commands == [delete] and pack == b""
    assert rec.gets == []
    assert not result.ok(DEV) and result.refs[DEV] == [b"ng refs/heads/dev protected branch"]


def test_upstream_failures_are_upstream_errors(upstream: tuple[Upstream, Recorded]) -> None:
    http, rec = upstream
    rec.reply = band(3, b"disk full\n")
    with pytest.raises(UpstreamError, match="upstream failed: disk full"):
        relay(http, "acme/app", request(), [Command(A, B, MAIN)], None, 0, lambda _: None)
    rec.status, rec.reply = 500, b"oops"
    with pytest.raises(UpstreamError, match="HTTP 500") as caught:
        relay(http, "acme/app", request(), [Command(A, B, MAIN)], None, 0, lambda _: None)
    assert caught.value.status == 500
    rec.status, rec.reply = 200, band(1, b"00zzbroken") + pkt_line(None)  # not a pkt-line
    with pytest.raises(UpstreamError, match="malformed report"):
        relay(http, "acme/app", request(), [Command(A, B, MAIN)], None, 0, lambda _: None)


def test_advertised_refs(upstream: tuple[Upstream, Recorded]) -> None:
    http, _ = upstream
    assert advertised_refs(http, "acme/app") == {MAIN: A}


class Expiring:
    """A credential whose first token upstream no longer takes (an App token past expiry)."""

    def __init__(self) -> None:
        self.token, self.invalidated = "old", 0

    def authorization(self) -> str:
        return f"Bearer {self.token}"

    def invalidate(self) -> None:
        self.invalidated += 1
        self.token = "new"

    def describe(self) -> str:
        return "test credential"


def test_a_relay_refused_for_a_stale_token_is_sent_again_whole_with_a_fresh_one(
    upstream: tuple[Upstream, Recorded],
) -> None:
    """The relay's body is read back from the spool, so a 401 (a GitHub App token that
    expired) is answered by sending the same push again with a new token, not by failing."""
    up, rec = upstream
    cred = Expiring()
    up.credential = cred
    statuses = iter([401, 200])

    def answer_in_turn(self: Handler) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        rec.posts.append((self.path, dict(self.headers), body))
        status = next(statuses)
        self._answer(status, rec.reply if status == 200 else b"")

    rec.reply = band(1, report(b"unpack ok", b"ok " + MAIN)) + pkt_line(None)
    original = Handler.do_POST
    Handler.do_POST = answer_in_turn  # type: ignore[method-assign]
    try:
        pack = io.BytesIO(b"xx" + PACK)
        pack.seek(2)
        result = relay(up, "acme/app", request(), [Command(A, B, MAIN)], pack, len(PACK),
                       lambda _: None)  # fmt: skip
    finally:
        Handler.do_POST = original  # type: ignore[method-assign]
    assert cred.invalidated == 1
    assert [p[1]["Authorization"] for p in rec.posts] == ["Bearer old", "Bearer new"]
    assert rec.posts[0][2] == rec.posts[1][2] and rec.posts[1][2].endswith(PACK)  # whole again
    assert result.ok(MAIN)
