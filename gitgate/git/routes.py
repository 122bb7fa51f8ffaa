"""The three smart-HTTP resources: info/refs, git-upload-pack, git-receive-pack.

Fetches stream straight through (no whole body is ever held); pushes are spooled whole, then
inspected (see gitgate.git.receive). Who may do what is decided before any byte goes upstream
(gitgate.git.access); refusals are answered in one place, gitgate.errors; each request's audit
event is written by gitgate.audit.recording.
"""

from __future__ import annotations

import functools
import io
import logging

import falcon

from gitgate.audit import push_fields, ref_updates
from gitgate.audit.recording import Audit
from gitgate.exchange import Caller, Exchange
from gitgate.git.access import GitService
from gitgate.git.inband import protocol_error_body
from gitgate.git.reftips import watch_ls_refs
from gitgate.git.spool import (
    ByteCounter,
    PushTooLarge,
    SpoolDiskFull,
    iter_chunks,
    request_stream,
    spool_body,
)
from gitgate.git.wire import (
    ProtocolError,
    parse_push_request,
    protocol_version,
    report,
    rewrite_advertisement,
    wrap_report,
)
from gitgate.mask import apply as mask_apply
from gitgate.mask import mapping as mask_mapping
from gitgate.ops import diskfull
from gitgate.outcomes.story import on_fetch
from gitgate.policy import can_push_somewhere
from gitgate.upstream.http import UpstreamResponse

log = logging.getLogger("gitgate.git")
SERVICES = ("git-upload-pack", "git-receive-pack")
PASS_HEADERS = ("content-type", "cache-control", "expires", "pragma", "content-encoding")


class InfoRefs:
    def __init__(self, service: GitService) -> None:
        self.svc = service

    def on_get(self, req: falcon.Request, resp: falcon.Response, owner: str, name: str) -> None:
        service = req.get_param("service") or ""
        self.svc.repo(owner, name)
        if service not in SERVICES:
            raise falcon.HTTPForbidden(
                description="gitgate: only git's smart HTTP protocol is supported "
                "(the dumb protocol is not); use git 1.6.6 or newer"
            )
        caller = self.svc.caller(req, owner, name, "info-refs")
        if service == "git-receive-pack":
            self.svc.require_push(caller)
        else:
            self.svc.require_read(caller)
        headers = {"Accept": "*/*"}
        if proto := req.get_header("Git-Protocol"):
            headers["Git-Protocol"] = proto
        up = self.svc.rt.upstream.request(
            "GET", caller.repo, f"info/refs?service={service}", headers=headers
        )  # UpstreamError: a 502 (gitgate.errors)
        self.svc.check_status(caller, up)
        _pass_headers(up, resp)
        own_tips = None
        if mask_apply.masking(self.svc.rt.config):
            if service == "git-receive-pack":
                own_tips = functools.partial(mask_mapping.own_tips, caller.repo, caller.subject)
            else:
                _fetched(caller)
        if service == "git-upload-pack":
            body = up.iter_body()
        else:
            body = rewrite_advertisement(
                up, lambda tips: self.svc.early_fetch(caller.repo, tips), own_tips
            )
        audit: Audit = req.context.audit
        audit.note(decision="allow", upstream_status=200)
        resp.stream = audit.streamed(body)


def _fetched(caller: Caller) -> None:
    """A fetch ends the showing of the caller's own masked tips (gitgate.mask.mapping)."""
    try:
        mask_mapping.synced(caller.repo, caller.subject)
    except Exception as ex:  # the fetch goes on; the agent may then see its old tip once more
        log.error("updating the mask map failed: %s", type(ex).__name__)


def _pass_headers(up: UpstreamResponse, resp: falcon.Response) -> None:
    """Upstream's content and caching headers, as git expects them from the server."""
    for key in PASS_HEADERS:
        if key in up.headers:
            resp.set_header(key, up.headers[key])


class UploadPack:
    """Fetch and clone: stream both ways, protocol v2 and gzip bodies passed through."""

    def __init__(self, service: GitService) -> None:
        self.svc = service

    def on_post(self, req: falcon.Request, resp: falcon.Response, owner: str, name: str) -> None:
        caller = self.svc.caller(req, owner, name, "upload-pack")
        self.svc.require_read(caller)
        headers = {
            "Content-Type": "application/x-git-upload-pack-request",
            "Accept": "application/x-git-upload-pack-result",
        }
        for name_ in ("Git-Protocol", "Content-Encoding"):
            if value := req.get_header(name_):
                headers[name_] = value
        counter = ByteCounter(request_stream(req))
        up = self.svc.rt.upstream.request(
            "POST",
            caller.repo,
            "git-upload-pack",
            headers=headers,
            body=iter_chunks(counter),
            content_length=req.content_length,
        )  # UpstreamError: a 502 (gitgate.errors)
        self.svc.check_status(caller, up)
        _pass_headers(up, resp)
        body = up.iter_body()
        if self._watch(req, up, caller):
            body = watch_ls_refs(body, lambda tips: self.svc.early_fetch(caller.repo, tips))
        if "content-encoding" not in up.headers:  # queue outcomes ride on a v2 packfile
            v2 = protocol_version(req.get_header("Git-Protocol")) == 2
            body = on_fetch(body, caller, v2)
        audit: Audit = req.context.audit
        audit.note(decision="allow", upstream_status=200)
        resp.stream = audit.streamed(body, bytes_in=counter)

    def _watch(self, req: falcon.Request, up: UpstreamResponse, caller: Caller) -> bool:
        """Read the refs of a protocol v2 `ls-refs` answer (an agent's fetch before it pushes)
        only for a repo the caller may push to whose mirror exists: a read-only clone must
        not make the gate mirror a repo."""
        return (
            protocol_version(req.get_header("Git-Protocol")) == 2
            and "content-encoding" not in up.headers
            and can_push_somewhere(self.svc.rt.config.rule, caller.repo, caller.groups)
            and (self.svc.rt.mirrors.path(caller.repo) / "objects").is_dir()
        )


class ReceivePackResource:
    """Push: spool the whole request, parse, inspect, decide, answer in-band."""

    def __init__(self, service: GitService) -> None:
        self.svc = service

    def on_post(self, req: falcon.Request, resp: falcon.Response, owner: str, name: str) -> None:
        caller = self.svc.caller(req, owner, name, "receive-pack")
        self.svc.require_push(caller)
        audit: Audit = req.context.audit
        cfg = self.svc.rt.config
        resp.content_type = "application/x-git-receive-pack-result"
        resp.set_header("Cache-Control", "no-cache")
        try:
            spool = spool_body(
                request_stream(req),
                cfg.storage.max_push_bytes,
                cfg.storage.spool_memory_bytes,
                str(cfg.data_path),
            )
        except PushTooLarge as ex:
            resp.data = self._too_large(audit, caller, ex, cfg.storage.max_push_bytes)
            return
        except SpoolDiskFull as ex:
            resp.data = self._disk_full(audit, caller, ex)
            return
        size = spool.tell()
        spool.seek(0)
        try:
            parsed = parse_push_request(spool)
        except ProtocolError as ex:
            spool.close()
            audit.note(decision="error", error=str(ex), bytes_in=size)
            resp.data = protocol_error_body(ex, caller.request_id)  # in-band: git shows it
            return
        if not parsed.commands:  # git's probe before a chunked upload: nothing to do
            spool.close()
            audit.note(decision="probe", bytes_in=size, duration_ms=audit.elapsed_ms())
            resp.data = b""
            return
        # Written now and completed when the push ends: a gate that dies mid-push (or a
        # push that never ends) still leaves who pushed what behind.
        audit.note(bytes_in=size, ref_updates=ref_updates(parsed.commands))
        audit.start()

        def done(outcome: Exchange) -> None:
            audit.note(**push_fields(outcome, parsed.commands))
            audit.note(duration_ms=audit.elapsed_ms())
            audit.write()

        resp.stream = self.svc.rt.receive.respond(caller, spool, parsed, on_done=done)

    def _disk_full(self, audit: Audit, caller: Caller, ex: SpoolDiskFull) -> bytes:
        """The data dir is full: the gate's fault, said in-band on every ref (the head, kept
        in memory, names them), with the request id; 503 if even the head is incomplete."""
        reason = diskfull.message(caller.request_id)
        diskfull.report("spooling a push", caller.request_id)
        audit.note(decision="error", error=reason, bytes_in=ex.size)
        try:
            parsed = parse_push_request(io.BytesIO(ex.head), check_pack=False)
        except ProtocolError:
            raise falcon.HTTPServiceUnavailable(description=f"gitgate: {reason}") from None
        body = report("error gate out of disk space", [(c.ref, reason) for c in parsed.commands])
        return wrap_report(parsed, body)

    def _too_large(self, audit: Audit, caller: Caller, ex: PushTooLarge, limit: int) -> bytes:
        reason = (
            f"push of {ex.size / 1e6:.0f} MB or more exceeds the gate's limit of "
            f"{limit / 1e6:.0f} MB: split it into smaller pushes"
        )
        audit.note(decision="reject", error=reason, bytes_in=ex.size)
        ex.spool.seek(0)
        try:
            parsed = parse_push_request(ex.spool, check_pack=False)
        except ProtocolError as bad:
            refused = ProtocolError(reason)
            refused.capabilities, refused.commands = bad.capabilities, bad.commands
            return protocol_error_body(refused, caller.request_id)
        finally:
            ex.spool.close()
        body = report("error push too large", [(c.ref, reason) for c in parsed.commands])
        return wrap_report(parsed, body)
