"""Unpack a push into a quarantine and run the checks over it.

The one place that knows the order: mirror -> quarantine -> Push -> checks -> verdicts. A check
that raises becomes a reject ("internal error in check X"): a security gate fails closed.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import traceback
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from dulwich.pack import UnresolvedDeltas

from gitgate.checks.base import Check, CheckContext, Verdict
from gitgate.config import Rule
from gitgate.git.mirror import Mirrors
from gitgate.git.packspool import PackSpool
from gitgate.git.quarantine import Quarantine
from gitgate.git.wire import Command, PushRequest
from gitgate.inspection.packcache import PackCache
from gitgate.inspection.packindex import index_in_place
from gitgate.inspection.packlimits import PackFormatError, PackLimitExceeded
from gitgate.inspection.push import MissingObjects, Push, build_push
from gitgate.mask.translate import translated

if TYPE_CHECKING:
    from gitgate.mask.apply import Known

log = logging.getLogger("gitgate.inspect")
COPY_CHUNK = 1024 * 1024


class UnpackError(Exception):
    """The pack could not be unpacked; the message is safe to show the client."""


class OverLimit(UnpackError):
    """The pack is over a size limit of the gate's config (the agent's to fix)."""


@dataclass(frozen=True)
class Limits:
    """Bounds on what one push may make the gate read and inflate (0: no bound)."""

    max_bytes: int = 0
    max_object_bytes: int = 0
    max_inflated_bytes: int = 0


def _add_pack(
    q: Quarantine,
    spool: BinaryIO,
    req: PushRequest,
    limits: Limits,
    blob_sizes: dict[bytes, int],
    cache: PackCache | None = None,
) -> int:
    size = spool.seek(0, 2) - req.pack_offset
    if not req.needs_pack:
        return 0
    if limits.max_bytes and size > limits.max_bytes:  # the spool stops first; kept as a bound
        raise OverLimit("the pack is over the gate's size limit (storage.max_push_bytes)")
    with _pack_file(q, spool, req) as (pack, path):
        try:
            # one read: the limits from the headers before anything is inflated, then ids,
            # checksum and validation from the same pass; dulwich resolves the deltas
            index_in_place(
                q.store,
                pack,
                path,
                max_object_bytes=limits.max_object_bytes,
                max_inflated_bytes=limits.max_inflated_bytes,
                blob_sizes=blob_sizes,
                cache=cache,
            )
        except PackLimitExceeded as ex:
            raise OverLimit(str(ex)) from None
        except PackFormatError as ex:
            raise UnpackError(str(ex)) from None
        except (KeyError, MissingObjects):
            raise
        except UnresolvedDeltas as ex:
            # A thin pack's delta base is missing: the mirror is behind upstream (or the
            # client made the pack against objects upstream does not have). Fetch and retry.
            raise MissingObjects(f"{len(ex.shas)} unresolved delta base(s)") from None
        except OSError:
            raise  # the gate's own disk (full, failing): never "the pack is corrupt"
        except Exception as ex:
            # APPSEC: the message of a zlib/delta error can quote pack bytes; show its type.
            log.info("unpack failed: %s", type(ex).__name__)
            raise UnpackError(f"the pack is corrupt ({type(ex).__name__})") from None
    return size


@contextlib.contextmanager
def _pack_file(q: Quarantine, spool: BinaryIO, req: PushRequest) -> Iterator[tuple[BinaryIO, Path]]:
    """The pushed pack as a file of its own: the spool's (gitgate.git.packspool: indexed where it
    lies, never copied), or, for a spool that is one stream (a queued or API push), a copy
    in the quarantine."""
    if isinstance(spool, PackSpool) and spool.pack_offset == req.pack_offset:
        yield spool.pack_file, spool.pack_path
        return
    path = q.dir / "incoming.pack"
    spool.seek(req.pack_offset)
    with open(path, "w+b") as pack:
        shutil.copyfileobj(spool, pack, COPY_CHUNK)
        pack.flush()
        yield pack, path


@contextlib.contextmanager
def unpacked(
    mirrors: Mirrors,
    repo: str,
    spool: BinaryIO,
    req: PushRequest,
    commands: Sequence[Command],
    *,
    limits: Limits | None = None,
    known: Known | None = None,
) -> Iterator[tuple[Quarantine, Push]]:
    """Yield the quarantine and the Push built for `commands` (the updates worth inspecting:
    a ref the pusher may not write is refused without walking its history), fetching the
    mirror once if it is behind. `known` (gitgate.mask.apply.Known): ids the gate masked
    earlier, read as their masked counterparts, and the agent's own trees its thin pack may
    deltify against."""
    mirror = mirrors.ensure(repo)
    with mirrors.in_use(repo):
        yield from _unpacked(mirrors, repo, mirror, spool, req, commands, limits or Limits(), known)


def _unpacked(
    mirrors: Mirrors,
    repo: str,
    mirror: Path,
    spool: BinaryIO,
    req: PushRequest,
    commands: Sequence[Command],
    limits: Limits,
    known: Known | None,
) -> Iterator[tuple[Quarantine, Push]]:
    fetched = False
    mirrors.wait_fetch(repo)  # an early fetch, started by the advertisement, may be running
    if not (mirror / "packed-refs").exists() and not any(
        p.is_file() for p in (mirror / "refs").rglob("*")
    ):
        mirrors.fetch(repo)
        fetched = True
    while True:
        q = Quarantine(mirrors, repo)
        try:
            if known is not None and known.originals:
                q.store.add_objects([(o, None) for o in known.originals])
            blob_sizes: dict[bytes, int] = {}
            cache = PackCache()  # what the unpack read, for building the push and the checks
            size = _add_pack(q, spool, req, limits, blob_sizes, cache)
            push = Push(
                repo=repo,
                updates=[],
                store=q.store,
                upstream_has=q.upstream_has,
                push_options=[o.decode("utf-8", "replace") for o in req.push_options],
                pack_bytes=size,
                git_dirs=(str(mirrors.path(repo)), str(q.objects)),
                blob_sizes=blob_sizes,
                pack_cache=cache,
            )
            if known is not None and known.ids:
                translated(push, known.ids)
            # a big push's objects, asked of the mirror at once (checks and walk ask each)
            q.prime([*blob_sizes, *cache.commit_ids()])
            build_push(push, list(commands))
        except (KeyError, MissingObjects) as ex:
            q.close()
            if fetched:
                log.info("objects missing after a fresh fetch of %s: %s", repo, ex)
                if known is not None and known.ids:  # most likely a file the gate masked
                    raise UnpackError(
                        "the push is built on commits the gate masked, as a delta against "
                        "content the gate does not keep (it held the secret); run git pull "
                        "--rebase (it takes the masked history) and push again"
                    ) from None
                raise UnpackError(
                    "the push refers to objects upstream does not have; "
                    "run git fetch, rebase if needed, and push again"
                ) from None
            mirrors.fetch(repo)
            fetched = True
            continue
        except BaseException:
            q.close()
            raise
        try:
            yield q, push
        finally:
            cache.clear()  # the push may outlive its quarantine (a held push): not this
            q.close()
        return


def run_checks(
    checks: Sequence[Check], push: Push, rules: Mapping[str, Rule], ctx: CheckContext
) -> list[Verdict]:
    verdicts: list[Verdict] = []
    for check in checks:
        try:
            verdicts.extend(check.run(push, rules, ctx))
        except Exception as ex:
            # APPSEC: exception messages may quote content (a decode error shows bytes): log
            # the type and the frames only, never str(ex).
            frames = "".join(traceback.format_tb(ex.__traceback__))
            log.error("check %s crashed: %s\n%s", check.name, type(ex).__name__, frames)
            verdicts.extend(
                Verdict(
                    check.name,
                    ref,
                    passed=False,
                    error=True,
                    reason=f"internal error in check {check.name}",
                    hint="this is the gate's fault, not your push's: tell the gitgate admin "
                    f"(request {ctx.request_id})",
                )
                for ref in rules
            )
    return verdicts
