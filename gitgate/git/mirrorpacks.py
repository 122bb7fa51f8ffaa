"""Keep a mirror's pack count bounded while pushes keep adding packs.

Every relayed push is adopted into its mirror as one more pack, and every fetch adds one.
Object lookups go pack by pack, so a busy repo got slower with every push until the daily
`gitgate purge` repacked it. So, once a mirror holds more than `storage.mirror_max_packs`
packs, a background thread (never the push that crossed the line) consolidates them:

1. `git pack-objects --stdin-packs` writes one new pack holding every object of the packs
   it was given (the small ones, picked as `git repack --geometric=2` does), reachable or
   not (an adopted push's objects may have no ref in the mirror yet). Nothing is removed,
   so pushes in flight read on undisturbed.
2. Under the mirror's exclusive `gc` lock, which waits for pushes in flight (they hold it
   shared, see `Mirrors.in_use`), the consolidated packs are removed, index first so no
   reader ever sees a pack without one. That step is a few unlinks: new pushes wait for
   it at most milliseconds. Packs that arrived meanwhile are left for the next round.

One consolidation per repo runs at a time across all workers and instances on the host (a
non-blocking lock); a push that finds one running just leaves it to finish.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

log = logging.getLogger("gitgate.mirrorpacks")

PACK_SUFFIXES = (".idx", ".pack", ".rev", ".bitmap", ".mtimes", ".promisor")


def pack_names(pack_dir: Path) -> list[str]:
    """Basenames of the complete packs (a `.pack` with its `.idx`), `.keep` ones left out."""
    try:
        names = set(os.listdir(pack_dir))
    except FileNotFoundError:
        return []
    return sorted(
        n[:-5]
        for n in names
        if n.endswith(".pack") and n[:-5] + ".idx" in names and n[:-5] + ".keep" not in names
    )


@contextlib.contextmanager
def try_lock(path: Path) -> Iterator[bool]:
    """An exclusive flock if free now: yields False (and waits for nothing) when it is held."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def roll_up(names: list[str], pack_dir: Path, max_packs: int) -> list[str]:
    """The packs to fold into one, as git's `repack --geometric=2` picks them: the small ones,
    until every pack left is at least twice the size of all smaller ones together. So the
    big packs of a big mirror are not rewritten every few pushes. All of them when that would
    still leave more than half of `max_packs` (the bound must hold with room to spare)."""
    sizes = []
    for name in names:
        try:
            sizes.append(((pack_dir / f"{name}.pack").stat().st_size, name))
        except FileNotFoundError:
            continue
    sizes.sort()
    split = 0
    for i in range(len(sizes) - 1, 0, -1):
        if sizes[i - 1][0] * 2 > sizes[i][0]:
            split = i
            break
    total = sum(size for size, _ in sizes[:split])
    while split < len(sizes) and total * 2 > sizes[split][0]:
        total += sizes[split][0]
        split += 1
    if split < 2 or len(sizes) - split + 1 > max(max_packs // 2, 1):
        return [name for _, name in sizes]
    return [name for _, name in sizes[:split]]


def consolidate(
    git_dir: Path,
    exclusive: Callable[[], contextlib.AbstractContextManager[None]],
    env: dict[str, str],
    max_packs: int,
    started: Callable[[subprocess.Popen[bytes] | None], None] = lambda _p: None,
) -> int:
    """Fold packs of `git_dir` into one when there are more than `max_packs`; return how many
    packs were removed. `exclusive()` is the lock no push holds while it reads; `started` is
    told of the git process (and of its end, with None), so that shutdown can stop it."""
    pack_dir = git_dir / "objects" / "pack"
    present = pack_names(pack_dir)
    if len(present) <= max(max_packs, 1):
        return 0
    old = roll_up(present, pack_dir, max_packs)
    cmd = ["git", "pack-objects", "--stdin-packs", "--delta-base-offset", "-q"]
    proc = subprocess.Popen(
        [*cmd, str(pack_dir / "pack")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**env, "GIT_DIR": str(git_dir)},
    )
    started(proc)
    try:
        out, err = proc.communicate("".join(f"{name}.pack\n" for name in old).encode())
    finally:
        started(None)
    if proc.returncode != 0:  # stopped, or failed: git removes its temporary pack itself
        detail = err.decode("utf-8", "replace").strip().splitlines()
        raise OSError(f"git pack-objects failed: {detail[-1] if detail else proc.returncode}")
    new = "pack-" + out.decode().strip()
    if not (pack_dir / f"{new}.idx").is_file():
        raise OSError(f"git pack-objects wrote no index for {new}")
    removed = 0
    with exclusive():
        for name in old:
            if name == new:
                continue
            for suffix in PACK_SUFFIXES:  # the index first: a pack without one is ignored
                with contextlib.suppress(FileNotFoundError):
                    (pack_dir / f"{name}{suffix}").unlink()
            removed += 1
        # loose objects fetched earlier and now in the new pack
        subprocess.run(
            ["git", "prune-packed", "-q"],
            env={**env, "GIT_DIR": str(git_dir)},
            capture_output=True,
            check=False,
        )
    return removed


class Consolidator:
    """Runs `consolidate` for repos in one background thread per worker process."""

    def __init__(self, run: Callable[[str], int]) -> None:
        self._run = run
        self._pending: list[str] = []
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._busy = False
        self._stopped = False
        self._proc: subprocess.Popen[bytes] | None = None

    def running(self, proc: subprocess.Popen[bytes] | None) -> None:
        """`consolidate`'s `started`: the git process of the round under way."""
        with self._cond:
            self._proc = proc
            if proc is not None and self._stopped:
                proc.terminate()

    def stop(self) -> None:
        """No new rounds; a round's git process is terminated (its temporary pack goes with
        it, the mirror is as before), so no process of the gate outlives it."""
        with self._cond:
            self._stopped = True
            self._pending.clear()
            if self._proc is not None:
                self._proc.terminate()

    def request(self, repo: str) -> None:
        """Ask for `repo` to be consolidated soon; returns at once."""
        with self._cond:
            if self._stopped:
                return
            if repo not in self._pending:
                self._pending.append(repo)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name="gitgate-mirror-packs", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until nothing is pending or running (for `gitgate purge` and tests)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._pending and not self._busy, timeout)

    def _loop(self) -> None:
        while True:
            with self._cond:
                if not self._pending:
                    self._thread = None
                    self._cond.notify_all()
                    return
                repo = self._pending.pop(0)
                self._busy = True
            try:
                removed = self._run(repo)
                if removed:
                    log.info("mirror of %s: %d packs consolidated into one", repo, removed)
            except Exception as ex:  # a cache's upkeep: the next push asks again
                log.warning("could not consolidate the mirror of %s: %s", repo, ex)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
