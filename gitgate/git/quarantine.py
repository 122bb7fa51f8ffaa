"""A push's quarantine: a throw-away object directory that borrows the mirror's objects.

Making one is six directories and a file; on the ext4 of a small VM each `mkdir` waits on the
journal, 0.3 ms at best and several ms at worst (measured: 0.9 - 9 ms for one quarantine). So
each repository keeps one *spare*, made after a push has its answer (gitgate.git.receive
closes the quarantine after answering), and the next push takes it. A spare is an empty
skeleton, never a used quarantine: nothing of one push can be seen by the next. Spares older
than SPARE_MAX_AGE_S are not taken (remade), well inside the day after which
`gitgate.ops.maintenance` sweeps quarantine directories left by a killed worker.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING

from dulwich.object_store import DiskObjectStore
from dulwich.objects import ObjectID

from gitgate.git.warmstore import QuarantineStore

if TYPE_CHECKING:
    from gitgate.git.mirror import Mirrors

SPARE_MAX_AGE_S = 600.0
# Directories under the quarantine root (gitgate.ops.maintenance sweeps both when orphaned):
PUSH_PREFIX = "push-"  # a push's quarantine, or its spooled pack (gitgate.git.packspool)
SPARE_PREFIX = "spare-"  # made ahead for the next push
MEMO_MAX = 200_000  # object ids whose presence in the mirror one push remembers
PRIME_MIN = 64  # ids: fewer are asked one by one (starting git costs ~3 ms)
PRIME_TIMEOUT_S = 60.0


def skeleton(root: Path, mirror_objects: Path, prefix: str = PUSH_PREFIX) -> Path:
    """A new, empty quarantine directory under `root` whose objects borrow `mirror_objects`
    (`spare-*` when made ahead, so a spare is never mistaken for a push's leftover)."""
    root.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=root))
    try:
        objects = path / "objects"
        DiskObjectStore.init(str(objects)).close()
        # Written directly: dulwich's add_alternate_path lists the new alternate twice (it
        # appends to the list it just read back from the file), doubling every miss.
        # git's own runs (hooks, repack) read it; dulwich gets the warm store instead.
        (objects / "info" / "alternates").write_text(f"{mirror_objects}\n")
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)  # a full disk leaves no half quarantine
        raise
    return path


class Spares:
    """At most one unused quarantine skeleton per mirror, made ahead of the next push."""

    def __init__(self, root: Path, max_age_s: float = SPARE_MAX_AGE_S) -> None:
        self.root = root
        self.max_age_s = max_age_s
        self._lock = threading.Lock()
        self._spares: dict[Path, tuple[float, Path]] = {}  # mirror objects: (made, skeleton)

    def take(self, mirror_objects: Path) -> Path | None:
        """The spare for this mirror, now the caller's; None if there is none (or it aged)."""
        with self._lock:
            spare = self._spares.pop(mirror_objects, None)
        if spare is None:
            return None
        made, path = spare
        if time.monotonic() - made > self.max_age_s or not path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
            return None
        return path

    def make(self, mirror_objects: Path) -> None:
        """Make this mirror's spare if it has none. Never raises: a push without a spare
        makes its quarantine itself."""
        with self._lock:
            if mirror_objects in self._spares:
                return
        try:
            path = skeleton(self.root, mirror_objects, SPARE_PREFIX)
        except Exception:
            return
        with self._lock:
            if mirror_objects not in self._spares:
                self._spares[mirror_objects] = (time.monotonic(), path)
                return
        shutil.rmtree(path, ignore_errors=True)  # another thread made one meanwhile

    def close(self) -> None:
        with self._lock:
            spares, self._spares = list(self._spares.values()), {}
        for _, path in spares:
            shutil.rmtree(path, ignore_errors=True)


class Quarantine:
    """A throw-away object directory for one push, borrowing the mirror's objects."""

    def __init__(self, mirrors: Mirrors, repo: str) -> None:
        self.mirror_objects = mirrors.path(repo) / "objects"
        self._spares = mirrors.spares
        self.dir = self._spares.take(self.mirror_objects) or skeleton(
            mirrors.quarantine_root, self.mirror_objects
        )
        self.objects = self.dir / "objects"
        self._borrowed = contextlib.ExitStack()
        try:
            self.mirror_store = self._borrowed.enter_context(
                mirrors.warm.borrow(self.mirror_objects)
            )
            # the alternate *is* the mirror's warm store: its packs stay open between pushes
            self.store = QuarantineStore(str(self.objects), self.mirror_store)
            self._has: dict[bytes, bool] = {}
        except BaseException:
            self._borrowed.close()
            shutil.rmtree(self.dir, ignore_errors=True)  # a full disk leaves no half quarantine
            raise

    def upstream_has(self, oid: bytes) -> bool:
        """Whether the mirror (what upstream has) holds `oid`, answered once per push: the
        checks ask it of every new blob in turn, and for an object upstream lacks each ask
        searched every pack and rescanned the pack directory. The mirror's `in_use` lock
        keeps what it has for the push's length; an object it gains meanwhile stays "new"
        (scanned again: the safe side). Bounded: past MEMO_MAX ids it asks afresh."""
        known = self._has.get(oid)
        if known is None:
            known = ObjectID(oid) in self.mirror_store
            if len(self._has) < MEMO_MAX:
                self._has[oid] = known
        return known

    def prime(self, oids: Collection[bytes]) -> None:
        """Learn at once which of many ids (a big push's objects) the mirror has.

        Each `upstream_has` miss is ~80 us of dulwich (every pack, a pack-directory rescan,
        a loose-object probe): 0.1 - 0.2 s for the 1,669 blobs of a 1,000-commit push, and as
        much again for its commits. `git cat-file --batch-check` answers them all in C. Below
        PRIME_MIN ids starting git costs more than it saves. Best effort: if git fails, each
        id is asked the usual way."""
        from gitgate.git.mirror import git_env  # (mirror imports this module)

        todo = [o for o in oids if o not in self._has]
        if len(todo) < PRIME_MIN or len(self._has) + len(todo) > MEMO_MAX:
            return
        try:
            proc = subprocess.run(
                ["git", "cat-file", "--batch-check=%(objectname)"],
                input=b"\n".join(todo) + b"\n",
                env=git_env({"GIT_DIR": str(self.mirror_objects.parent)}),
                capture_output=True,
                timeout=PRIME_TIMEOUT_S,
            )
        except (OSError, subprocess.SubprocessError):
            return
        lines = proc.stdout.split(b"\n")
        if proc.returncode != 0 or len(lines) != len(todo) + 1:
            return
        for oid, line in zip(todo, lines, strict=False):
            # "<id>" when the mirror has it, "<id> missing" when not (same order as asked)
            if line.split(b" ", 1)[0] != oid:
                return
            self._has[oid] = not line.endswith(b" missing")

    def close(self) -> None:
        """Remove this quarantine, and make the next push's (the agent has its answer by now:
        gitgate.git.receive)."""
        with contextlib.suppress(Exception):
            self.store.close()
        self._borrowed.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        if self.mirror_objects.is_dir():
            self._spares.make(self.mirror_objects)

    def __enter__(self) -> Quarantine:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
