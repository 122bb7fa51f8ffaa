"""Git Data API: the ref update is the push; the objects before it are scanned at creation.

Force is decided by ancestry (`build_push` marks a non-descendant update as forced), never by
the request's `force` flag: one MCP server sends `force: true` on every fast-forward. A commit
the gate cannot see (not on upstream's branches) cannot be inspected and is refused.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import falcon
from dulwich.repo import Repo

from gitgate.api.objects import BadInput, decode_content, mirror_ref
from gitgate.git.quarantine import Quarantine
from gitgate.git.wire import Command
from gitgate.policy import repo_rule

if TYPE_CHECKING:
    from gitgate.api.service import ApiCall
    from gitgate.api.writes import Writes

ZERO = b"0" * 40


def ref_write(
    w: Writes, call: ApiCall, resp: falcon.Response, path: str, body: bytes, data: dict[str, Any]
) -> None:
    from gitgate.api.writes import _error

    if call.method == "POST":
        ref = data.get("ref")
        if not isinstance(ref, str) or not ref.startswith("refs/") or ref.count("/") < 2:
            raise _error(422, "gitgate: `ref` must be a full name like refs/heads/feature")
    else:
        ref = "refs/" + call.route.param("ref")
    sha = data.get("sha") if call.method != "DELETE" else ZERO.decode()
    mode = {"POST": "create", "DELETE": "delete"}.get(call.method, "update")
    update_ref(w, call, resp, path, body, ref, sha, mode)


def update_ref(
    w: Writes,
    call: ApiCall,
    resp: falcon.Response,
    path: str,
    body: bytes,
    ref: str,
    sha: Any,
    mode: str,
) -> None:
    """Decide moving `ref` of the call's repo to `sha` (mode create, update or delete) as a
    push of it, against the ref's value upstream; relay the call (`path`, `body`) if allowed."""
    from gitgate.api.writes import _error

    repo = call.caller.repo
    if not isinstance(sha, str) or len(sha) != 40 or any(c not in "0123456789abcdef" for c in sha):
        raise _error(422, "gitgate: `sha` must be a full 40-hex commit id")
    mirrors = w.rt.mirrors
    mirrors.fetch(repo)
    with mirrors.in_use(repo), Quarantine(mirrors, repo) as q:
        with Repo(str(mirrors.path(repo))) as mirror:
            old = mirror_ref(mirror, ref) or ZERO
        if mode == "create" and old != ZERO:
            raise _error(422, f"gitgate: {ref} already exists (Reference already exists)")
        if mode != "create" and old == ZERO:
            raise _error(422, f"gitgate: {ref} does not exist (Reference does not exist)")
        if mode != "delete":
            w.recorded.copy_into(repo, q, sha.encode())
        w.decide_and_act(call, resp, path, body, q, Command(old, sha.encode(), ref.encode()))


def object_write(
    w: Writes, call: ApiCall, resp: falcon.Response, path: str, body: bytes, data: dict[str, Any]
) -> None:
    """Blobs (and inline tree contents) are scanned now: a secret is refused with 409 at
    creation, as GitHub's push protection does; the objects are only decided at the ref."""
    from gitgate.api.writes import _error

    texts: list[tuple[str, bytes]] = []
    try:
        if path.endswith("/git/blobs"):
            encoding = data.get("encoding") or "utf-8"
            texts.append(("(blob)", decode_content(data.get("content"), encoding)))
        elif path.endswith("/git/trees"):
            for entry in data.get("tree") or []:
                if isinstance(entry, dict) and isinstance(entry.get("content"), str):
                    texts.append((str(entry.get("path")), entry["content"].encode()))
    except BadInput as ex:
        raise _error(422, f"gitgate: {ex}") from None
    rule = repo_rule(w.rt.config.rule, call.caller.repo, call.caller.groups)
    if texts and rule is not None and rule.secrets:
        found = scan(w, texts)
        if found:
            call.fields["findings"] = [
                {"check": "secrets", "ref": "", "path": p, "line": ln, "type": t, "hash": h}
                for p, ln, t, h in found
            ]
            shown = "\n".join(f"  - {t} at {p}:{ln} (secret hash {h})" for p, ln, t, h in found)
            raise _error(
                409,
                f"gitgate: refused by rule {rule.name}: the content holds a secret.\n{shown}\n"
                "Remove the secret (use a secret store or an environment variable) and create "
                "the object again. Nothing was written upstream.",
                "reject",
            )
    kind = path.rstrip("/").rsplit("/", 1)[1]

    def record(status: int, answer: Any) -> None:
        if status == 201 and not w.recorded.build(call.caller.repo, kind, data, answer):
            call.fields["error"] = (
                f"created {kind[:-1]} not recorded: the gate could not rebuild it"
            )

    w.svc.relay(call, resp, path, body, observe=record)


def scan(w: Writes, texts: list[tuple[str, bytes]]) -> list[tuple[str, int, str, str]]:
    scanner = w.rt.receive.scanner
    if scanner is None:
        return []
    blobs = [(hashlib.sha1(data).digest(), p, data) for p, data in texts]  # noqa: S324 - a key
    hits = scanner.scan(blobs, budget_s=w.rt.config.scan.time_budget)
    allow = set(w.rt.config.scan.allowlist_hashes)
    out = []
    for blob_id, p, _ in blobs:
        for h in hits.get(blob_id, []):
            short = h.secret_hash[:12]
            if not any(h.secret_hash.startswith(a.lower()) for a in allow):
                out.append((p, h.line, h.type, short))
    return out
