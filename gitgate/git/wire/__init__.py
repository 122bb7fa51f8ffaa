"""git's wire format, every parse beside its format: the one place the gate reads or writes it.

Wire values stay bytes and dulwich's constants are used rather than redefined. Modules:
`pkt` (pkt-line framing), `push` (a push request's commands, capabilities, options), `advert`
(ref advertisements, v0 and v2 ls-refs), `report` (report-status v1/v2), `sideband`.
Today's names are re-exported here, so `from gitgate.git.wire import X` keeps working.
"""

from __future__ import annotations

from dulwich.protocol import (  # re-exported: the module used to import them
    CAPABILITY_ATOMIC,
    CAPABILITY_PUSH_OPTIONS,
    CAPABILITY_REPORT_STATUS,
    CAPABILITY_SIDE_BAND_64K,
    SIDE_BAND_CHANNEL_DATA,
    SIDE_BAND_CHANNEL_PROGRESS,
    ZERO_SHA,
)

from gitgate.git.wire.advert import (
    ALLOWED_PUSH_CAPABILITIES,
    Advertisement,
    LsRef,
    filter_advertisement_caps,
    format_advertisement,
    format_git_protocol,
    format_ls_ref,
    is_tip,
    parse_advertisement,
    parse_git_protocol,
    parse_ls_ref,
    protocol_version,
    rewrite_advertisement,
)
from gitgate.git.wire.pkt import (
    FLUSH,
    KEEPALIVE,
    Pkt,
    ProtocolError,
    err_line,
    pkt_line,
    section_at,
    split_pkts,
)
from gitgate.git.wire.push import (
    CAPABILITY_REPORT_STATUS_V2,
    MAX_COMMANDS,
    MAX_PUSH_OPTIONS,
    Command,
    PushRequest,
    encode_request_head,
    parse_command,
    parse_push_request,
)
from gitgate.git.wire.report import (
    Report,
    Status,
    final_report,
    format_report,
    one_line,
    parse_report,
    report,
    status_line,
)
from gitgate.git.wire.sideband import (
    MAX_SIDEBAND_PAYLOAD,
    demux,
    fatal,
    progress,
    sideband,
    wrap_report,
)

__all__ = [
    "ALLOWED_PUSH_CAPABILITIES",
    "CAPABILITY_ATOMIC",
    "CAPABILITY_PUSH_OPTIONS",
    "CAPABILITY_REPORT_STATUS",
    "CAPABILITY_REPORT_STATUS_V2",
    "CAPABILITY_SIDE_BAND_64K",
    "FLUSH",
    "KEEPALIVE",
    "MAX_COMMANDS",
    "MAX_PUSH_OPTIONS",
    "MAX_SIDEBAND_PAYLOAD",
    "SIDE_BAND_CHANNEL_DATA",
    "SIDE_BAND_CHANNEL_PROGRESS",
    "ZERO_SHA",
    "Advertisement",
    "Command",
    "LsRef",
    "Pkt",
    "ProtocolError",
    "PushRequest",
    "Report",
    "Status",
    "demux",
    "encode_request_head",
    "err_line",
    "fatal",
    "filter_advertisement_caps",
    "final_report",
    "format_advertisement",
    "format_git_protocol",
    "format_ls_ref",
    "format_report",
    "is_tip",
    "one_line",
    "parse_advertisement",
    "parse_command",
    "parse_git_protocol",
    "parse_ls_ref",
    "parse_push_request",
    "parse_report",
    "pkt_line",
    "progress",
    "protocol_version",
    "report",
    "rewrite_advertisement",
    "section_at",
    "sideband",
    "split_pkts",
    "status_line",
    "wrap_report",
]
