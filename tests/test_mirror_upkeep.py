"""Issue #11: the mirror's pack count stays bounded after many pushes (consolidated off the
push path, safely with pushes in flight), a warm object store per repo, and the early fetch
started by the receive-pack advertisement when upstream has refs the mirror lacks."""

from __future__ import annotations

import contextlib
import itertools
import threading
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from dulwich.object_store import DiskObjectStore

from gitgate.git.mirror import file_lock, git_env
from gitgate.git.mirrorpacks import consolidate, pack_names, roll_up
from gitgate.git.reftips import watch_ls_refs
from tests.fixtures.gate import GateServer
from tests.fixtures.upstream import commit, git, rev, upstream_ref

MakeGate = Callable[..., GateServer]
MAX_PACKS = 4


def objects_in(git_dir: Path, ids: list[str]) -> list[str]:
    """Those of `ids` that git finds in `git_dir` (whatever pack or loose file holds them)."""
    batch = ("\n".join(ids) + "\n").encode()
    out = git("cat-file", "--batch-check", cwd=git_dir, input=batch).stdout
    return [line.split()[0] for line in out.splitlines() if not line.endswith("missing")]


def test_pack_count_stays_bounded_after_many_pushes(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    bare, repo = seeded
    gate = make_gate(sections={"storage": {"mirror_max_packs": MAX_PACKS}})
    mirrors = gate.runtime.mirrors
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo), str(work))
    pushed: list[str] = []
    counts: list[int] = []
    for i in range(3 * MAX_PACKS + 2):
        pushed.append(commit(work, {f"src/f{i}.py": f"X = {i}\n"}, f"change {i}"))
        result = git("push", "origin", "HEAD:main", cwd=work, check=False)
        assert result.returncode == 0, result.stderr
        assert mirrors.consolidator.wait_idle(60)  # the background round, if one was asked
        counts.append(mirrors.pack_count(repo))
    assert upstream_ref(bare, "refs/heads/main") == pushed[-1]
    assert max(counts) <= MAX_PACKS, counts
    assert any(b < a for a, b in itertools.pairwise(counts)), counts  # consolidated
    mirror = mirrors.path(repo)
    assert objects_in(mirror, pushed) == pushed  # every relayed commit is still there
    assert git("fsck", "--no-dangling", cwd=mirror, check=False).returncode == 0


def test_consolidation_waits_for_pushes_in_flight(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    """The new pack is written while a push reads; the old packs go only once no push holds
    the mirror, and whatever a reader had opened stays readable throughout."""
    _, repo = seeded
    gate = make_gate(sections={"storage": {"mirror_max_packs": 0}})  # no background rounds
    mirrors = gate.runtime.mirrors
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo), str(work))
    pushed = []
    for i in range(5):
        pushed.append(commit(work, {f"f{i}.txt": f"{i}\n"}, f"c{i}"))
        assert git("push", "origin", "HEAD:main", cwd=work, check=False).returncode == 0
    mirror = mirrors.path(repo)
    pack_dir = mirror / "objects" / "pack"
    before = pack_names(pack_dir)
    assert len(before) >= 5
    waiting = threading.Event()

    @contextlib.contextmanager
    def exclusive() -> Iterator[None]:
        waiting.set()
        with file_lock(mirror.parent / f"{mirror.name[:-4]}.gc.lock"):
            yield

    reader = DiskObjectStore(str(mirror / "objects"))
    removed: list[int] = []
    with mirrors.in_use(repo):  # a push in flight
        thread = threading.Thread(
            target=lambda: removed.append(consolidate(mirror, exclusive, git_env(), 1))
        )
        thread.start()
        assert waiting.wait(60)
        during = pack_names(pack_dir)
        assert set(before) < set(during) and len(during) == len(before) + 1
        assert all(reader[p.encode()].id == p.encode() for p in pushed)
        assert thread.is_alive()  # still waiting for the push to finish
    thread.join(60)
    assert removed == [len(before)]
    assert len(pack_names(pack_dir)) == 1
    assert objects_in(mirror, pushed) == pushed
    reader.close()


def test_warm_store_is_shared_and_sees_new_packs(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    _, repo = seeded
    gate = make_gate()
    mirrors = gate.runtime.mirrors
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo), str(work))
    first = commit(work, {"a.txt": "a\n"}, "a")
    assert git("push", "origin", "HEAD:main", cwd=work, check=False).returncode == 0
    objects = mirrors.path(repo) / "objects"
    with mirrors.warm.borrow(objects) as store:
        assert first.encode() in store
    second = commit(work, {"b.txt": "b\n"}, "b")
    assert git("push", "origin", "HEAD:main", cwd=work, check=False).returncode == 0
    with mirrors.warm.borrow(objects) as again:
        assert again is store  # one store per repo, kept open between pushes
        assert second.encode() in again  # the adopted pack is seen


def pushed_once(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path
) -> tuple[Path, str, GateServer, Path]:
    """A gate, a clone through it and one push of `a.txt` (which makes the mirror)."""
    bare, repo = seeded
    gate = make_gate()
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo), str(work))
    commit(work, {"a.txt": "a\n"}, "a")
    assert git("push", "origin", "HEAD:main", cwd=work, check=False).returncode == 0
    return bare, repo, gate, work


def test_advertisement_starts_the_fetch_of_refs_the_mirror_lacks(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    bare, repo, gate, work = pushed_once(make_gate, seeded, tmp_path)
    mirrors = gate.runtime.mirrors
    # a human pushes straight to upstream: the mirror lacks that commit
    human = tmp_path / "human"
    git("clone", "-q", str(bare), str(human))
    theirs = commit(human, {"theirs.txt": "merged on GitHub\n"}, "theirs")
    git("push", "-q", "origin", "HEAD:main", cwd=human)
    assert objects_in(mirrors.path(repo), [theirs]) == []
    url = f"{gate.url}/{repo}.git/info/refs?service=git-receive-pack"
    with urllib.request.urlopen(url, timeout=30) as resp:
        assert theirs.encode() in resp.read()
    mirrors.wait_fetch(repo)
    assert objects_in(mirrors.path(repo), [theirs]) == [theirs]  # fetched before any push
    assert not mirrors.lacks_any(repo, [theirs.encode()])
    # the agent builds on it and pushes: no miss, the push goes through
    git("pull", "-q", "--rebase", "origin", "main", cwd=work)
    mine = commit(work, {"mine.txt": "mine\n"}, "mine")
    result = git("push", "origin", "HEAD:main", cwd=work, check=False)
    assert result.returncode == 0, result.stderr
    assert upstream_ref(bare, "refs/heads/main") == mine == rev(work)


def test_roll_up_keeps_big_packs_out_of_the_rewrite(tmp_path: Path) -> None:
    """Like `git repack --geometric=2`: the base pack of a big mirror is not rewritten every
    few pushes; only when the geometric pick would leave too many packs is everything folded."""
    sizes = {"pack-big": 10_000_000, "pack-mid": 40_000, **{f"pack-s{i}": 1_000 for i in range(6)}}
    for name, size in sizes.items():
        with (tmp_path / f"{name}.pack").open("wb") as f:
            f.truncate(size)
    small = sorted(f"pack-s{i}" for i in range(6))
    assert sorted(roll_up(list(sizes), tmp_path, 16)) == small
    assert sorted(roll_up(list(sizes), tmp_path, 2)) == sorted(sizes)  # 3 left would be > 1


def test_closing_the_gate_stops_a_consolidation_in_progress(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    """Worker exit: the round's git process is stopped (nothing of the gate outlives it) and
    the mirror keeps all its packs and objects."""
    _, repo = seeded
    gate = make_gate(sections={"storage": {"mirror_max_packs": 0}})
    mirrors = gate.runtime.mirrors
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo), str(work))
    pushed = []
    for i in range(3):
        pushed.append(commit(work, {f"g{i}.txt": f"{i}\n"}, f"g{i}"))
        assert git("push", "origin", "HEAD:main", cwd=work, check=False).returncode == 0
    mirror = mirrors.path(repo)
    before = pack_names(mirror / "objects" / "pack")
    seen: list[object] = []

    def started(proc: object) -> None:
        seen.append(proc)
        if proc is not None:
            mirrors.consolidator.running(proc)  # type: ignore[arg-type]
            mirrors.close()  # the worker exits while git writes the new pack

    with pytest.raises(OSError, match="pack-objects failed"):
        consolidate(mirror, contextlib.nullcontext, git_env(), 1, started)
    assert seen[0].poll() is not None and seen[-1] is None  # type: ignore[attr-defined]
    assert pack_names(mirror / "objects" / "pack") == before
    assert not list((mirror / "objects" / "pack").glob("tmp_*"))
    assert objects_in(mirror, pushed) == pushed
    mirrors.consolidator.request(repo)  # a stopped consolidator starts nothing new
    assert mirrors.consolidator.wait_idle(5)


def test_agents_v2_fetch_starts_the_mirror_fetch(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    """An agent fetches (protocol v2: the refs come in an `ls-refs` answer, not in the
    advertisement) before it rebases and pushes: the mirror fetch starts then."""
    bare, repo = seeded
    gate = make_gate()
    mirrors = gate.runtime.mirrors
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo), str(work))
    commit(work, {"a.txt": "a\n"}, "a")
    assert git("push", "origin", "HEAD:main", cwd=work, check=False).returncode == 0
    human = tmp_path / "human"
    git("clone", "-q", str(bare), str(human))
    theirs = commit(human, {"theirs.txt": "merged on GitHub\n"}, "theirs")
    git("push", "-q", "origin", "HEAD:main", cwd=human)
    assert objects_in(mirrors.path(repo), [theirs]) == []
    git("-c", "protocol.version=2", "fetch", "-q", "origin", cwd=work)
    assert rev(work, "origin/main") == theirs
    mirrors.wait_fetch(repo)
    assert objects_in(mirrors.path(repo), [theirs]) == [theirs]


def test_read_only_clone_makes_no_mirror(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    _, repo = seeded
    gate = make_gate()
    git("-c", "protocol.version=2", "clone", "-q", gate.remote(repo), str(tmp_path / "w"))
    assert not gate.runtime.mirrors.path(repo).exists()  # no mirror before a push needs one


def test_ls_refs_watcher_passes_every_byte_and_stops_on_a_fetch_answer() -> None:
    tip = b"1" * 40
    lines = [f"{len(x) + 4:04x}".encode() + x for x in (tip + b" refs/heads/main\n",)]
    body = b"".join(lines) + b"0000"
    got: list[list[bytes]] = []
    out = b"".join(watch_ls_refs(iter([body[:7], body[7:]]), got.append))
    assert out == body and got == [[tip]]
    fetch = b"0015acknowledgments\n0000"
    assert b"".join(watch_ls_refs(iter([fetch]), got.append)) == fetch and len(got) == 1


def test_the_agent_has_its_answer_before_the_mirror_adopts_and_the_next_push_waits(
    make_gate: MakeGate,
    seeded: tuple[Path, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """gitgate.git.settle: adopting the relayed pack and recording the refs happen after the
    push's answer; a next push to the repo waits for them instead of fetching."""
    bare, repo, gate, work = pushed_once(make_gate, seeded, tmp_path)  # the mirror warm
    mirrors = gate.runtime.mirrors

    in_upkeep, release = threading.Event(), threading.Event()
    real_update = type(mirrors).update_refs

    def slow_update(self: object, repo_name: str, updates: list[tuple[bytes, bytes]]) -> None:
        in_upkeep.set()
        assert release.wait(30), "the test never released the upkeep"
        real_update(self, repo_name, updates)  # type: ignore[arg-type]

    fetched: list[str] = []
    real_fetch = type(mirrors).fetch

    def counting_fetch(self: object, repo_name: str) -> None:
        fetched.append(repo_name)
        real_fetch(self, repo_name)  # type: ignore[arg-type]

    monkeypatch.setattr(type(mirrors), "update_refs", slow_update)
    monkeypatch.setattr(type(mirrors), "fetch", counting_fetch)
    first = commit(work, {"a.txt": "a again\n"}, "a again")
    result = git("push", "origin", "HEAD:main", cwd=work, check=False)
    # answered (and relayed) while the mirror's upkeep is still blocked
    assert result.returncode == 0, result.stderr
    assert in_upkeep.is_set() and not release.is_set()
    assert upstream_ref(bare, "refs/heads/main") == first
    assert git("rev-parse", "refs/heads/main", cwd=mirrors.path(repo)).stdout.strip() != first

    second = commit(work, {"b.txt": "b\n"}, "b")
    pushed: list[int] = []
    pusher = threading.Thread(
        target=lambda: pushed.append(
            git("push", "origin", "HEAD:main", cwd=work, check=False).returncode
        )
    )
    pusher.start()
    pusher.join(0.5)
    assert pusher.is_alive()  # waits for the first push's upkeep (not a timing: it is blocked)
    release.set()
    pusher.join(60)
    assert pushed == [0]
    assert upstream_ref(bare, "refs/heads/main") == second
    assert fetched == []  # the adopted pack was there: no fetch from upstream
    assert mirrors.settling.wait(repo, 30)  # the second push's own upkeep, after its answer
    assert git("rev-parse", "refs/heads/main", cwd=mirrors.path(repo)).stdout.strip() == second
