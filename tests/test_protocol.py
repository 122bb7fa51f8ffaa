"""The push parser against hostile bytes: only ProtocolError, never a crash or a hang."""

from __future__ import annotations

import io
import random

import pytest
from dulwich.protocol import pkt_line

from gitgate.git.wire import (
    ProtocolError,
    PushRequest,
    encode_request_head,
    filter_advertisement_caps,
    one_line,
    parse_push_request,
)

OLD, NEW = b"1" * 40, b"2" * 40
GOOD = (
    pkt_line(OLD + b" " + NEW + b" refs/heads/main\0report-status side-band-64k push-options\n")
    + pkt_line(b"0" * 40 + b" " + NEW + b" refs/tags/v1\n")
    + pkt_line(None)
    + pkt_line(b"ci.skip\n")
    + pkt_line(None)
    + b"PACK\0\0\0\2\0\0\0\0"
)


def test_good_request_round_trips() -> None:
    req = parse_push_request(io.BytesIO(GOOD))
    assert [c.ref for c in req.commands] == [b"refs/heads/main", b"refs/tags/v1"]
    assert req.sideband and req.push_options == [b"ci.skip"]
    assert GOOD[req.pack_offset :].startswith(b"PACK")
    head = encode_request_head(req, req.commands)
    assert parse_push_request(io.BytesIO(head + b"PACK")).commands == req.commands


@pytest.mark.parametrize("seed", range(300))
def test_mutations_raise_only_protocol_errors(seed: int) -> None:
    rnd = random.Random(seed)
    data = bytearray(GOOD)
    for _ in range(rnd.randint(1, 6)):
        op = rnd.choice(("flip", "cut", "insert"))
        pos = rnd.randrange(len(data))
        if op == "flip":
            data[pos] = rnd.randrange(256)
        elif op == "cut":
            del data[pos:]
            if not data:
                break
        else:
            data[pos:pos] = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 8)))
    try:
        req = parse_push_request(io.BytesIO(bytes(data)))
    except ProtocolError as ex:
        assert str(ex) and "\n" not in str(ex)
    else:
        assert isinstance(req, PushRequest)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", None),  # an empty body parses to "no commands" (the probe is b"0000")
        (b"00", "truncated"),
        (b"zzzz", "malformed pkt-line"),
        (pkt_line(OLD + b" " + NEW + b" refs/heads/a\n") * 2 + pkt_line(None), "twice"),
        (pkt_line(OLD + b" " + OLD + b" refs/heads/a\n") + pkt_line(None), "does not change"),
        (pkt_line(OLD + b" " + NEW + b" HEAD\n") + pkt_line(None), "invalid ref name"),
    ],
)
def test_specific_errors(body: bytes, message: str | None) -> None:
    if message is None:
        with pytest.raises(ProtocolError):
            parse_push_request(io.BytesIO(body))
        return
    with pytest.raises(ProtocolError, match=message):
        parse_push_request(io.BytesIO(body))


def test_advertised_capabilities_are_deliberate() -> None:
    caps = [
        b"report-status",
        b"report-status-v2",
        b"push-cert=123",
        b"side-band-64k",
        b"atomic",
        b"object-format=sha1",
        b"agent=git/2.45",
    ]
    kept = filter_advertisement_caps(caps)
    assert b"push-cert=123" not in kept and b"agent=git/2.45" not in kept
    assert b"push-options" in kept and b"agent=gitgate" in kept
    assert b"object-format=sha1" in kept


def test_one_line_reasons() -> None:
    assert one_line("a\nb\rc\0d") == "a b c d"
    assert len(one_line("x" * 500)) == 200


SHALLOW = b"3" * 40


def test_shallow_lines_come_first_and_round_trip() -> None:
    body = pkt_line(b"shallow " + SHALLOW + b"\n") + GOOD
    req = parse_push_request(io.BytesIO(body))
    assert req.shallow == [SHALLOW]
    assert [c.ref for c in req.commands] == [b"refs/heads/main", b"refs/tags/v1"]
    assert req.sideband  # capabilities are on the first *command*, not on a shallow line
    head = encode_request_head(req, req.commands[:1])
    assert head.startswith(pkt_line(b"shallow " + SHALLOW + b"\n"))
    again = parse_push_request(io.BytesIO(head + b"PACK"))
    assert again.shallow == [SHALLOW] and again.commands == req.commands[:1]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (pkt_line(b"shallow xyz\n") + GOOD, "malformed shallow line"),
        (  # after the first command a shallow line is just a malformed command
            pkt_line(OLD + b" " + NEW + b" refs/heads/main\0report-status\n")
            + pkt_line(b"shallow " + SHALLOW + b"\n")
            + pkt_line(None),
            "malformed ref update",
        ),
    ],
)
def test_shallow_errors(body: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        parse_push_request(io.BytesIO(body))


def test_errors_carry_what_was_read() -> None:
    """So the answer can go in-band (gitgate.git.inband) on the channels the client asked for."""
    body = GOOD[: GOOD.index(b"PACK")]  # refs but no pack
    with pytest.raises(ProtocolError) as caught:
        parse_push_request(io.BytesIO(body))
    assert [c.ref for c in caught.value.commands] == [b"refs/heads/main", b"refs/tags/v1"]
    assert caught.value.capabilities == [b"report-status", b"side-band-64k", b"push-options"]
    with pytest.raises(ProtocolError) as caught:
        parse_push_request(io.BytesIO(b"zzzz"))
    assert caught.value.commands == [] and caught.value.capabilities is None
