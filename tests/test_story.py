"""gitgate.outcomes.story.on_fetch: queue outcomes inserted into a v2 fetch response, byte-exact."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from dulwich.protocol import pkt_line

from gitgate.git.wire import progress
from gitgate.outcomes import story

ACKS = pkt_line(b"acknowledgments\n") + pkt_line(b"ready\n") + b"0001"
PACK = pkt_line(b"packfile\n") + pkt_line(b"\x01PACK...") + pkt_line(b"\x02counting\n")
RESPONSE = ACKS + PACK + b"0000"


@pytest.fixture
def told(monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    marked: list[list[int]] = []
    monkeypatch.setattr(story, "story_lines", lambda repo, who: (["gitgate: #7 relayed"], [7]))
    monkeypatch.setattr(story, "mark_told", marked.append)
    return marked


@pytest.mark.parametrize("size", [1, 3, 7, 4096])
def test_lines_go_right_after_the_packfile_header_whatever_the_chunks(
    told: list[list[int]], size: int
) -> None:
    chunks = [RESPONSE[i : i + size] for i in range(0, len(RESPONSE), size)]
    caller = SimpleNamespace(repo="acme/app", subject="agent-7")
    out = b"".join(story.on_fetch(iter(chunks), caller, protocol_v2=True))
    header = pkt_line(b"packfile\n")
    assert out == ACKS + header + progress(["gitgate: #7 relayed"]) + PACK[len(header) :] + b"0000"
    assert told == [[7]]


def test_a_response_without_a_pack_or_v0_passes_untouched(told: list[list[int]]) -> None:
    caller = SimpleNamespace(repo="acme/app", subject="agent-7")
    no_pack = pkt_line(b"ls-refs answer\n") + b"0000"
    assert b"".join(story.on_fetch(iter([no_pack]), caller, protocol_v2=True)) == no_pack
    assert b"".join(story.on_fetch(iter([RESPONSE]), caller, protocol_v2=False)) == RESPONSE
    assert told == []  # not told: the next push tells it
