"""Revoked token ids (jti): a Protocol and a JSON-lines file implementation.

Tokens are stateless, so revocation is the only way to cut off a leaked token before it expires.
The file store is shared by several gunicorn workers and CLI processes: writers append one line
with a single O_APPEND write (no read-modify-write race), readers re-read when the file changes.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Protocol, runtime_checkable

from gitgate.auth.identity import AuthError, AuthUnavailable

log = logging.getLogger(__name__)


@runtime_checkable
class RevocationStore(Protocol):
    """Where revoked jti values live; a database-backed store will implement the same."""

    def is_revoked(self, jti: str) -> bool: ...

    def revoke(self, jti: str, *, reason: str = "") -> None: ...


class FileRevocationStore:
    """Revocations as JSON lines: ``{"jti": ..., "reason": ..., "revoked_at": ...}``.

    The file is re-read only when its (inode, size, mtime) signature changes, so the common path
    of every request is one ``stat``. A line that does not parse (e.g. torn by a crash) is skipped
    with a warning that names the line number only. If the file exists but cannot be read,
    ``is_revoked`` raises ``OSError``: the caller must fail closed.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._signature: tuple[int, int, int] | None = None
        self._revoked: frozenset[str] = frozenset()

    def is_revoked(self, jti: str) -> bool:
        with self._lock:
            self._refresh()
            return jti in self._revoked

    def revoke(self, jti: str, *, reason: str = "") -> None:
        if not jti:
            raise ValueError("jti must not be empty")
        line = json.dumps(
            {"jti": jti, "reason": reason, "revoked_at": int(time.time())}, ensure_ascii=True
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            # One write of one line: concurrent appenders cannot interleave inside it.
            os.write(fd, (line + "\n").encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)

    def _refresh(self) -> None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._signature, self._revoked = None, frozenset()
            return
        signature = (st.st_ino, st.st_size, st.st_mtime_ns)
        if signature == self._signature:
            return
        revoked: set[str] = set()
        with self.path.open("rb") as fh:
            for lineno, raw in enumerate(fh, start=1):
                if not raw.strip():
                    continue
                try:
                    entry = json.loads(raw)
                    jti = entry["jti"]
                except (ValueError, KeyError, TypeError):
                    log.warning("%s line %d: not a revocation entry, skipped", self.path, lineno)
                    continue
                if isinstance(jti, str) and jti:
                    revoked.add(jti)
        self._signature, self._revoked = signature, frozenset(revoked)


def ensure_not_revoked(store: RevocationStore, jti: str) -> None:
    """Raise AuthError if ``jti`` is revoked, AuthUnavailable if the store cannot answer (fail
    closed, and the gate's fault: the token may well be good)."""
    try:
        revoked = store.is_revoked(jti)
    except Exception as ex:
        log.error(
            "revocation store %s failed (%s); refusing the token for now",
            type(store).__name__,
            type(ex).__name__,
        )
        raise AuthUnavailable(
            "revocation list unavailable (the gate cannot reach its database)"
        ) from None
    if revoked:
        raise AuthError("token revoked")
