"""Protocol errors of a push, answered in-band so that git shows them.

git hides the body of an HTTP error on `git-receive-pack` ("RPC failed; HTTP 400", then
"Everything up-to-date" or a hang-up), so a push the gate cannot read gets HTTP 200 and the
error on the channels the client asked for (measured with git 2.39, see docs/design.md):

- refs already read: `remote: error:` lines, then report-status `unpack error <why>` and
  `ng <ref> <why>` per ref -> git prints `! [remote rejected] main -> main (<why>)`;
- no ref read, side-band on: `remote: error:` lines, then band 3 -> "remote: <why>";
- no ref read, no side-band: `ERR <why>` -> "fatal: remote error: <why>".

When the first line could not be read at all the capabilities are unknown; side-band is then
assumed, because the gate always advertises it and git always takes it.
"""

from __future__ import annotations

from dulwich.protocol import CAPABILITY_SIDE_BAND_64K, SIDE_BAND_CHANNEL_DATA

from gitgate.git.wire import FLUSH, ProtocolError, fatal, one_line, progress, report, sideband

NEXT_STEP = (
    "the gate refused the push request before inspecting it: fix what the error says, or "
    "retry with a current git client; if it persists tell the gitgate admin (request {request_id})"
)


def protocol_error_body(ex: ProtocolError, request_id: str) -> bytes:
    """The whole HTTP 200 body that tells git why its push request was refused."""
    why = f"bad push request: {ex}"
    next_step = NEXT_STEP.format(request_id=request_id)
    side_band = ex.capabilities is None or CAPABILITY_SIDE_BAND_64K in ex.capabilities
    if ex.commands:
        body = report("error " + one_line(why), [(c.ref, why) for c in ex.commands])
        if not side_band:
            return body
        said = progress([f"error: gitgate: {why}", f"hint: {next_step}"])
        return said + b"".join(sideband(SIDE_BAND_CHANNEL_DATA, body)) + FLUSH
    text = f"gitgate: {one_line(why, 400)}; {next_step}"
    said = progress([f"error: gitgate: {why}"]) if side_band else b""
    return said + fatal(side_band, text)
