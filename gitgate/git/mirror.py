"""Per-repo bare mirrors of upstream, and per-push quarantines that borrow their objects.

A thin pack only makes sense next to the objects it was made against, and an exact diff (what a
push deleted, which lines of a file it added) needs the old trees. So each repo gets a bare
mirror under the data dir, fetched incrementally from upstream, and each push is unpacked into a
fresh quarantine object directory whose `info/alternates` points at the mirror. Nothing the
agent sends ever lands in the mirror until upstream has accepted it.

Mirrors are caches: deleting one costs a full fetch, never correctness. Fetches run the real
`git` (fast, resumable, well understood) with the credential passed through the environment,
never on a command line where `ps` would show it.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

from dulwich.objects import ObjectID
from dulwich.refs import Ref

from gitgate.git.earlyfetch import EarlyFetches
from gitgate.git.mirrorpacks import Consolidator, consolidate, pack_names, try_lock
from gitgate.git.quarantine import Quarantine, Spares
from gitgate.git.settle import Settling
from gitgate.git.warmstore import WarmStores
from gitgate.ops import diskfull
from gitgate.ops.diskfull import DiskFull
from gitgate.repos import BadRepo, parse_repo
from gitgate.upstream.http import Upstream, UpstreamError

log = logging.getLogger("gitgate.mirror")

# how long a mirror reader waits for a push's upkeep (local file work: ms); past it, reading
# on is still safe: a missing object is fetched from upstream
SETTLE_WAIT_S = 30.0
FETCH_REFSPECS = ("+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")


def git_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A clean environment for the gate's own git runs: no user config, no prompts."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/nonexistent"),
        "LANG": "C",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "/bin/false",
    }
    env.update(extra or {})
    return env


@contextlib.contextmanager
def file_lock(path: Path, *, shared: bool = False) -> Iterator[None]:
    """A lock across threads and processes on this host (flock on a lock file): exclusive,
    or shared with other shared holders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


class Mirrors:
    """The bare mirrors under `{data_dir}/mirrors/{owner}/{repo}.git`."""

    def __init__(self, data_dir: Path, upstream: Upstream, max_packs: int = 16) -> None:
        self.root = data_dir / "mirrors"
        self.quarantine_root = data_dir / "quarantine"
        self.upstream = upstream
        self.max_packs = max_packs  # 0: only `gitgate purge` repacks
        self.warm = WarmStores()
        self.consolidator = Consolidator(self.consolidate)
        self.early = EarlyFetches(self.fetch)
        self.settling = Settling()  # relayed pushes still adopting (gitgate.git.settle)
        # quarantines made ahead (gitgate.git.quarantine)
        self.spares = Spares(self.quarantine_root)
        self._known_lock = threading.Lock()
        self._known: dict[tuple[str, int], set[bytes]] = {}  # tips seen in each mirror

    def path(self, repo: str) -> Path:
        # Always the canonical name (gitgate.repos): one mirror and one lock per repository
        # however the agent spelled it. A mixed-case mirror left by an older gate is not read.
        return self.root / f"{parse_repo(repo)}.git"

    def _lock(self, repo: str) -> contextlib.AbstractContextManager[None]:
        return file_lock(self.root / f"{repo}.lock")

    def in_use(self, repo: str) -> contextlib.AbstractContextManager[None]:
        """Held (shared) by every push while it reads the mirror's objects, so that
        `compact` never removes a pack under a push's feet."""
        return file_lock(self.root / f"{repo}.gc.lock", shared=True)

    def compact(self, repo: str) -> None:
        """Repack the mirror into one pack (fetches and adopted pushes add a pack each).

        git's automatic gc is off in mirrors (it could delete packs a running push reads);
        this runs instead, from `gitgate purge`, waiting for pushes in flight to finish.
        Unreachable objects are kept: they are pushes upstream accepted, whose refs the
        mirror has not fetched yet.
        """
        path = self.path(repo)
        with file_lock(self.root / f"{repo}.gc.lock"), self._lock(repo):
            subprocess.run(
                ["git", "repack", "-a", "-d", "-q", "--keep-unreachable"],
                cwd=path,
                env=git_env({"GIT_DIR": str(path)}),
                check=True,
                capture_output=True,
            )

    def consolidate(self, repo: str) -> int:
        """Fold the mirror's packs into one if there are more than `max_packs` (see
        gitgate.git.mirrorpacks); skipped while another process consolidates this repo."""
        with try_lock(self.root / f"{repo}.packs.lock") as mine:
            if not mine:
                return 0
            return consolidate(
                self.path(repo),
                lambda: file_lock(self.root / f"{repo}.gc.lock"),
                git_env(),
                self.max_packs,
                self.consolidator.running,
            )

    def close(self) -> None:
        """Stop background upkeep and close the warm stores (worker exit, tests)."""
        self.consolidator.stop()
        self.warm.close()
        self.spares.close()

    def pack_count(self, repo: str) -> int:
        return len(pack_names(self.path(repo) / "objects" / "pack"))

    def repos(self) -> list[str]:
        """`owner/name` of every mirror on disk under its canonical (lower-case) path."""
        return sorted(
            f"{p.parent.name}/{p.name[:-4]}".lower() for p in self._on_disk() if self._canonical(p)
        )

    def orphans(self) -> list[Path]:
        """Mirrors under a non-canonical path (older gates kept `acme/App` apart from
        `acme/app`): never read any more, so `gitgate purge` deletes them."""
        return sorted(p for p in self._on_disk() if not self._canonical(p))

    def _on_disk(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return [p for p in self.root.glob("*/*.git") if (p / "objects").is_dir()]

    def _canonical(self, path: Path) -> bool:
        try:
            canonical = self.path(f"{path.parent.name}/{path.name}")
        except BadRepo:
            return False
        # samefile, not ==: on a case-insensitive file system `App.git` *is* the mirror
        return canonical.exists() and canonical.samefile(path)

    def ensure(self, repo: str) -> Path:
        path = self.path(repo)
        if (path / "objects").is_dir():
            return path
        with self._lock(repo):
            if not (path / "objects").is_dir():
                tmp = path.with_name(path.name + f".init-{uuid.uuid4().hex}")
                try:
                    for cmd in (
                        ["git", "init", "--bare", "--quiet", str(tmp)],
                        # no automatic gc or maintenance: see compact()
                        ["git", "--git-dir", str(tmp), "config", "gc.auto", "0"],
                        ["git", "--git-dir", str(tmp), "config", "maintenance.auto", "false"],
                    ):
                        subprocess.run(cmd, check=True, env=git_env(), capture_output=True)
                    os.rename(tmp, path)
                except (OSError, subprocess.CalledProcessError) as ex:
                    shutil.rmtree(tmp, ignore_errors=True)  # never a half-made mirror
                    stderr = getattr(ex, "stderr", b"") or b""
                    if diskfull.in_output(stderr.decode("utf-8", "replace")):
                        raise DiskFull(f"could not create the mirror of {repo}") from None
                    raise
        return path

    def fetch(self, repo: str) -> None:
        """Bring the mirror up to date with upstream (heads and tags, pruned)."""
        path = self.ensure(repo)
        extra: dict[str, str] = {}
        auth = self.upstream.auth_header()
        if auth:
            extra = {
                "GIT_CONFIG_COUNT": "1",
                "GIT_CONFIG_KEY_0": "http.extraHeader",
                "GIT_CONFIG_VALUE_0": f"Authorization: {auth}",
            }
        # Always a pack, never loose objects (git explodes fetches under 100 objects): one
        # file and its index instead of a file and maybe a directory per object (mkdir
        # alone is 0.3 - 9 ms here), and dulwich then finds them with the other packs.
        cmd = ["git", "-c", "fetch.unpackLimit=1", "fetch", "--quiet", "--prune"]
        cmd += ["--no-write-fetch-head", "--no-show-forced-updates"]
        cmd += [self.upstream.repo_url(repo), *FETCH_REFSPECS]
        with self._lock(repo):
            proc = subprocess.run(
                cmd,
                cwd=path,
                env=git_env({"GIT_DIR": str(path), **extra}),
                capture_output=True,
                timeout=self.upstream.timeout,
            )
        if proc.returncode != 0:
            stderr = proc.stderr.decode("utf-8", "replace")
            if diskfull.in_output(stderr):  # the gate's disk, not upstream
                raise DiskFull(f"could not fetch {repo} into its mirror")
            # git's stderr names the URL, never the extra header; keep only the last line.
            lines = stderr.strip().splitlines()
            detail = lines[-1] if lines else f"exit {proc.returncode}"
            log.warning("mirror fetch for %s failed: %s", repo, detail)
            if self.upstream.credential and ("401" in detail or "403" in detail):
                self.upstream.credential.invalidate()
            raise UpstreamError(f"could not fetch {repo} from upstream: {detail}")

    def adopt_pack(self, repo: str, quarantine: Quarantine) -> None:
        """Move a relayed push's pack into the mirror: upstream has those objects now, and
        the next push from the same agent then needs no fetch."""
        dest = self.path(repo) / "objects" / "pack"
        for src in sorted((quarantine.objects / "pack").glob("pack-*")):
            if src.suffix in (".pack", ".idx"):
                with contextlib.suppress(FileExistsError):
                    # .pack before .idx: git ignores a pack until its index exists.
                    os.link(src, dest / src.name)
        if self.max_packs and self.pack_count(repo) > self.max_packs:
            self.consolidator.request(repo)  # off the push path: a background thread

    def lacks_any(self, repo: str, ids: Iterable[bytes]) -> bool:
        """Whether any of these object ids (upstream's ref tips) is missing from the mirror.
        Tips found once are remembered (a mirror loses no object), so an advertisement of
        thousands of refs costs set lookups, not thousands of pack searches."""
        objects = self.path(repo) / "objects"
        if not objects.is_dir():
            return True
        self.settling.wait(repo, SETTLE_WAIT_S)  # a push's pack not adopted yet is no miss
        key = (repo, os.stat(objects).st_ino)
        with self._known_lock:
            known = self._known.setdefault(key, set())
            if len(known) > 100_000:
                known.clear()  # a bound, not a cache policy: it refills from the packs
            todo = [i for i in ids if i not in known]
        if not todo:
            return False
        with self.in_use(repo), self.warm.borrow(objects) as store:
            for i in todo:
                if ObjectID(i) not in store:
                    return True
                with self._known_lock:
                    known.add(i)
        return False

    def prefetch(self, repo: str) -> bool:
        """Fetch `repo` in the background now (see gitgate.git.earlyfetch)."""
        return self.early.start(repo)

    def wait_fetch(self, repo: str) -> None:
        """Wait for this process's early fetch of `repo`, and for its pushes still settling
        (gitgate.git.settle), if any are running."""
        self.settling.wait(repo, SETTLE_WAIT_S)
        self.early.wait(repo, self.upstream.timeout)

    def update_refs(self, repo: str, updates: list[tuple[bytes, bytes]]) -> None:
        """Record refs upstream accepted, so hooks' `--not --all` sees them as upstream."""
        from dulwich.repo import Repo

        with self._lock(repo), Repo(str(self.path(repo))) as r:
            for ref, new in updates:
                if new == b"0" * 40:
                    r.refs.remove_if_equals(Ref(ref), None)
                else:
                    r.refs.set_if_equals(Ref(ref), None, ObjectID(new))
