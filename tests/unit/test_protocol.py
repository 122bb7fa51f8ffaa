"""Every parse/format pair of gitgate.git.wire: format -> parse gives the same value back, and
the strict parsers refuse what git would not send."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from dulwich.protocol import SIDE_BAND_CHANNEL_DATA, SIDE_BAND_CHANNEL_PROGRESS

from gitgate.git.wire import (
    FLUSH,
    MAX_SIDEBAND_PAYLOAD,
    Advertisement,
    Command,
    LsRef,
    ProtocolError,
    PushRequest,
    Report,
    demux,
    encode_request_head,
    err_line,
    fatal,
    final_report,
    format_advertisement,
    format_git_protocol,
    format_ls_ref,
    format_report,
    is_tip,
    parse_advertisement,
    parse_command,
    parse_git_protocol,
    parse_ls_ref,
    parse_push_request,
    parse_report,
    pkt_line,
    progress,
    protocol_version,
    report,
    rewrite_advertisement,
    section_at,
    sideband,
    split_pkts,
)

A, B, C = b"a" * 40, b"b" * 40, b"c" * 40
ZERO = b"0" * 40


def reading(data: bytes) -> io.BytesIO:
    return io.BytesIO(data)


# pkt-lines


def test_split_pkts_walks_whole_packets_and_stops_at_a_partial_one() -> None:
    data = pkt_line(b"one\n") + FLUSH + b"0001" + pkt_line(b"two\n")
    pkts = list(split_pkts(data[:-2]))
    assert [p.payload for p in pkts] == [b"one\n", None, None]
    assert [p.size for p in pkts] == [8, 0, 1]
    assert pkts[-1].end == len(data) - len(pkt_line(b"two\n"))
    assert [p.payload for p in split_pkts(data)][-1] == b"two\n"


@pytest.mark.parametrize("data", [b"zzzz", b"0003", b"+01a" + b"x" * 30])
def test_split_pkts_refuses_malformed_lengths(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        list(split_pkts(data))


def test_section_at_finds_a_v2_section_header() -> None:
    head = pkt_line(b"acknowledgments\n") + pkt_line(b"ready\n") + b"0001"
    data = head + pkt_line(b"packfile\n") + pkt_line(b"\x02progress")
    assert section_at(data, b"packfile") == len(head)
    assert section_at(data[: len(head) + 5], b"packfile") is None  # not whole yet
    assert section_at(b"zzzz" + data, b"packfile") is None


def test_err_line() -> None:
    assert err_line("gitgate: no") == pkt_line(b"ERR gitgate: no\n")


# push requests


def test_command_round_trips_and_refusals() -> None:
    cmd = Command(A, B, b"refs/heads/main")
    assert parse_command(cmd.encode()) == cmd
    for bad in (A + b" " + B, A + b" " + A + b" refs/heads/x", A + b" " + B + b" main"):
        with pytest.raises(ProtocolError):
            parse_command(bad)


def test_push_request_round_trips_with_shallow_options_and_pack() -> None:
    caps = [b"report-status", b"side-band-64k", b"push-options", b"atomic"]
    commands = [Command(A, B, b"refs/heads/main"), Command(ZERO, C, b"refs/tags/v1")]
    req = PushRequest(commands, caps, [b"ci.skip", b"x=y"], shallow=[C])
    head = encode_request_head(req, commands)
    got = parse_push_request(reading(head + b"PACK...."))
    assert (got.commands, got.capabilities, got.push_options, got.shallow) == (
        commands,
        caps,
        [b"ci.skip", b"x=y"],
        [C],
    )
    assert got.pack_offset == len(head) and got.atomic and got.sideband


# advertisements (v0/v1)


SVC = b"git-receive-pack"


@pytest.mark.parametrize(
    "adv",
    [
        Advertisement(
            SVC,
            refs={b"refs/heads/main": A, b"refs/tags/v1": B, b"refs/heads/x": C},
            peeled={b"refs/tags/v1": C},
            capabilities=(b"report-status", b"symref=HEAD:refs/heads/main", b"agent=git/2"),
            haves=(C,),
        ),
        Advertisement(SVC, capabilities=(b"report-status", b"delete-refs")),  # empty repo
        Advertisement(SVC),  # a bare flush
        Advertisement(SVC, refs={b"refs/heads/main": A}, capabilities=(b"ofs-delta",), version=1),
        Advertisement(
            SVC, refs={b"refs/heads/main": b"d" * 64}, capabilities=(b"object-format=sha256",)
        ),
    ],
)
def test_advertisement_round_trips(adv: Advertisement) -> None:
    assert parse_advertisement(reading(format_advertisement(adv)).read) == adv


def test_an_empty_repo_is_advertised_as_git_does() -> None:
    data = format_advertisement(Advertisement(SVC, capabilities=(b"report-status",)))
    assert pkt_line(ZERO + b" capabilities^{}\0report-status\n") in data


def test_advertisement_reads_symrefs_and_tips_and_leaves_the_rest_unread() -> None:
    adv = Advertisement(
        SVC,
        refs={b"refs/heads/main": A, b"refs/pull/1/head": B, b"refs/tags/v1": C},
        peeled={b"refs/tags/v1": A},
        capabilities=(b"symref=HEAD:refs/heads/main",),
        haves=(B,),
    )
    stream = reading(format_advertisement(adv) + b"rest")
    parsed = parse_advertisement(stream.read)
    assert stream.read() == b"rest"
    assert parsed.symrefs == {b"HEAD": b"refs/heads/main"}
    assert parsed.tips() == [A, C]


def test_is_tip() -> None:
    assert is_tip(A, b"refs/heads/main") and is_tip(A, b"refs/tags/v1")
    assert not is_tip(ZERO, b"refs/heads/main")
    assert not is_tip(A, b"refs/tags/v1^{}") and not is_tip(A, b"refs/pull/1/head")
    assert not is_tip(b"x" * 40, b"refs/heads/main")


def test_the_client_sees_only_the_capabilities_the_gate_implements_and_its_own_tips() -> None:
    adv = Advertisement(
        SVC, refs={b"refs/heads/main": A, b"refs/heads/b": B}, capabilities=(b"push-cert",)
    )
    shown = adv.for_client({A: C})
    assert shown.refs == {b"refs/heads/main": C, b"refs/heads/b": B}
    assert b"push-cert" not in shown.capabilities
    assert shown.capabilities[-1] == b"agent=gitgate"
    assert Advertisement(SVC).for_client({}) == Advertisement(SVC)  # a bare flush stays one


SERVICE = pkt_line(b"# service=git-receive-pack\n") + FLUSH


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "ended early"),
        (pkt_line(b"hello\n") + FLUSH, "no service line"),
        (pkt_line(b"# service=git-receive-pack\n") + pkt_line(b"x"), "not followed by a flush"),
        (SERVICE + pkt_line(A + b"\n") + FLUSH, "malformed ref line"),
        (SERVICE + pkt_line(b"x" * 40 + b" refs/heads/a\n") + FLUSH, "malformed ref line"),
        (SERVICE + pkt_line(A + b" refs/heads/a\0x\0y\n") + FLUSH, "malformed capabilities"),
        (SERVICE + pkt_line(A + b" refs/heads/a\n") * 2 + FLUSH, "twice"),
        (SERVICE + pkt_line(A + b" refs/tags/v1^{}\n") + FLUSH, "peeled line without"),
        (SERVICE + pkt_line(A + b" refs/heads/a\n"), "ended early"),
        (SERVICE + b"00", "malformed pkt-line"),
    ],
)
def test_advertisement_refusals(data: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        parse_advertisement(reading(data).read)


class Body:
    """An upstream response body as the rewriting reads it."""

    def __init__(self, data: bytes) -> None:
        self.stream, self.closed = reading(data), False

    def read_some(self, n: int) -> bytes:
        return self.stream.read(n)

    def iter_body(self) -> Iterator[bytes]:
        yield self.stream.read()

    def close(self) -> None:
        self.closed = True


def test_rewrite_advertisement_offers_filtered_caps_swaps_tips_and_reports_them() -> None:
    adv = Advertisement(
        SVC, refs={b"refs/heads/main": A}, capabilities=(b"report-status", b"push-cert")
    )
    body = Body(format_advertisement(adv))
    tips: list[list[bytes]] = []
    out = b"".join(rewrite_advertisement(body, tips.append, lambda ids: {A: B}))
    assert parse_advertisement(reading(out).read) == adv.for_client({A: B})
    assert tips == [[A]] and body.closed


def test_rewrite_advertisement_answers_a_malformed_one_with_err() -> None:
    body = Body(SERVICE + pkt_line(b"nonsense\n") + FLUSH)
    out = b"".join(rewrite_advertisement(body))
    assert out == err_line("gitgate: upstream sent a malformed ref advertisement")
    assert body.closed


# ls-refs (protocol v2)


@pytest.mark.parametrize(
    "ref",
    [
        LsRef(A, b"refs/heads/main"),
        LsRef(A, b"HEAD", symref_target=b"refs/heads/main"),
        LsRef(B, b"refs/tags/v1", peeled=C),
        LsRef(B, b"HEAD", symref_target=b"refs/heads/x", peeled=C),
    ],
)
def test_ls_ref_round_trips(ref: LsRef) -> None:
    (pkt,) = split_pkts(format_ls_ref(ref))
    assert pkt.payload is not None and parse_ls_ref(pkt.payload) == ref


def test_ls_ref_skips_unknown_attributes_and_refuses_malformed_lines() -> None:
    assert parse_ls_ref(A + b" refs/heads/a future:x\n") == LsRef(A, b"refs/heads/a")
    for bad in (A, b"unborn HEAD symref-target:refs/heads/main", A + b" x peeled:zz"):
        with pytest.raises(ProtocolError):
            parse_ls_ref(bad)


# report-status (v1 and v2)


def test_report_round_trips_with_v2_options() -> None:
    rep = Report(
        "ok",
        {
            b"refs/heads/main": [b"ok refs/heads/main", b"option refname refs/heads/renamed"],
            b"refs/heads/x": [b"ng refs/heads/x non-fast-forward"],
        },
    )
    assert parse_report(format_report(rep)) == rep
    assert parse_report(format_report(rep)).ok(b"refs/heads/main")
    assert not rep.ok(b"refs/heads/x") and not rep.ok(b"refs/heads/absent")
    assert rep.reason(b"refs/heads/x") == "non-fast-forward"
    assert rep.reason(b"refs/heads/main") is None and rep.reason(b"refs/heads/absent") is None


def test_report_of_statuses_parses_back() -> None:
    data = report("ok", [(b"refs/heads/a", None), (b"refs/heads/b", "refused:\nsecret")])
    assert parse_report(data) == Report(
        "ok",
        {
            b"refs/heads/a": [b"ok refs/heads/a"],
            b"refs/heads/b": [b"ng refs/heads/b refused: secret"],
        },
    )


def test_report_keeps_upstreams_lines_for_a_relayed_ref() -> None:
    relayed = {b"refs/heads/a": [b"ok refs/heads/a", b"option old-oid " + A]}
    data = report("ok", [(b"refs/heads/a", None), (b"refs/heads/b", "no")], relayed)
    assert parse_report(data).refs[b"refs/heads/a"] == relayed[b"refs/heads/a"]


def test_final_report_follows_the_clients_capabilities() -> None:
    statuses = [(b"refs/heads/a", None)]
    plain = PushRequest([], [b"report-status"])
    banded = PushRequest([], [b"report-status-v2", b"side-band-64k"])
    assert final_report(plain, "ok", statuses) == report("ok", statuses)
    assert list(demux(reading(final_report(banded, "ok", statuses)).read)) == [
        (SIDE_BAND_CHANNEL_DATA, report("ok", statuses))
    ]
    assert final_report(PushRequest([], [b"side-band-64k"]), "ok", statuses) == FLUSH
    assert final_report(PushRequest([], []), "ok", statuses) == b""


def test_report_refuses_a_malformed_pkt_line() -> None:
    with pytest.raises(ProtocolError):
        parse_report(b"zzzzunpack ok")


# side-band-64k


def test_sideband_round_trips_through_demux_in_bounded_packets() -> None:
    data = bytes(range(256)) * 600  # more than two packets
    packets = list(sideband(SIDE_BAND_CHANNEL_DATA, data))
    assert len(packets) == 3 and all(len(p) <= MAX_SIDEBAND_PAYLOAD + 5 for p in packets)
    got = list(demux(reading(b"".join(packets) + progress(["hi"]) + FLUSH).read))
    assert b"".join(p for band, p in got if band == SIDE_BAND_CHANNEL_DATA) == data
    assert got[-1] == (SIDE_BAND_CHANNEL_PROGRESS, b"hi\n")


def test_fatal_on_band_3_or_as_err() -> None:
    assert list(demux(reading(fatal(True, "no")).read)) == [(3, b"no\n")]
    assert fatal(False, "no") == err_line("no")


@pytest.mark.parametrize("data", [pkt_line(b"\x07what"), pkt_line(b"\x01cut"), b"zzzz"])
def test_demux_refuses_unknown_bands_and_a_missing_flush(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        list(demux(reading(data).read))


# the Git-Protocol header


@pytest.mark.parametrize(
    "items", [[("version", "2")], [("version", "2"), ("object-format", "sha256"), ("x", "")], []]
)
def test_git_protocol_header_round_trips(items: list[tuple[str, str]]) -> None:
    assert parse_git_protocol(format_git_protocol(items)) == items


@pytest.mark.parametrize(
    ("header", "version"),
    [
        (None, 0),
        ("version=2", 2),
        ("version=1:version=2", 2),
        ("version=20", 0),  # not a substring match
        ("version=", 0),
        ("object-format=sha256:version=1", 1),
    ],
)
def test_protocol_version(header: str | None, version: int) -> None:
    assert protocol_version(header) == version
