"""gitgate.git.quarantine: spares made ahead, never a used quarantine; the mirror asked once."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from dulwich.objects import Blob

from gitgate.git.mirror import Mirrors
from gitgate.git.quarantine import SPARE_PREFIX, Quarantine, Spares
from gitgate.upstream.http import Upstream

REPO = "acme/app"


@pytest.fixture
def mirrors(tmp_path: Path) -> Mirrors:
    m = Mirrors(tmp_path / "data", Upstream("http://127.0.0.1:9", None))
    subprocess.run(["git", "init", "-q", "--bare", str(m.path(REPO))], check=True)
    return m


def files(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())


def test_a_closed_quarantine_leaves_an_empty_spare_that_the_next_push_takes(
    mirrors: Mirrors,
) -> None:
    q = Quarantine(mirrors, REPO)
    first = q.dir
    blob = Blob.from_string(b"refused secret\n")
    q.store.add_object(blob)
    assert blob.id in q.store
    q.close()
    assert not first.exists()  # a used quarantine is removed, never reused
    spares = list(mirrors.quarantine_root.glob(SPARE_PREFIX + "*"))
    assert len(spares) == 1 and files(spares[0]) == ["objects/info/alternates"]
    assert (spares[0] / "objects/info/alternates").read_text() == (
        f"{mirrors.path(REPO) / 'objects'}\n"
    )
    q2 = Quarantine(mirrors, REPO)
    try:
        assert q2.dir == spares[0]
        assert blob.id not in q2.store  # nothing of the earlier push is there
    finally:
        q2.close()
    mirrors.close()
    assert list(mirrors.quarantine_root.iterdir()) == []  # a closed gate keeps no spare


def test_an_old_spare_is_not_taken(tmp_path: Path) -> None:
    spares = Spares(tmp_path / "q", max_age_s=0.0)
    objects = tmp_path / "mirror" / "objects"
    objects.mkdir(parents=True)
    spares.make(objects)
    (made,) = (tmp_path / "q").iterdir()
    assert spares.take(objects) is None
    assert not made.exists()


def test_one_spare_per_mirror(tmp_path: Path) -> None:
    spares = Spares(tmp_path / "q")
    objects = tmp_path / "mirror" / "objects"
    objects.mkdir(parents=True)
    spares.make(objects)
    spares.make(objects)
    assert len(list((tmp_path / "q").iterdir())) == 1
    taken = spares.take(objects)
    assert taken is not None and spares.take(objects) is None
    spares.close()
    assert taken.exists()  # the taker's now: closing the spares leaves it alone


def test_upstream_has_asks_the_mirror_once_per_object(
    mirrors: Mirrors, monkeypatch: pytest.MonkeyPatch
) -> None:
    q = Quarantine(mirrors, REPO)
    asked: list[bytes] = []
    store_type = type(q.mirror_store)
    real = store_type.__contains__

    def counting(self: object, oid: bytes) -> bool:
        asked.append(oid)
        return real(self, oid)  # type: ignore[arg-type]

    monkeypatch.setattr(store_type, "__contains__", counting)
    try:
        oid = b"1" * 40
        assert q.upstream_has(oid) is False
        assert q.upstream_has(oid) is False
        assert asked == [oid]
    finally:
        q.close()
        mirrors.close()


def test_prime_asks_git_once_for_many_ids_and_agrees_with_the_mirror(
    mirrors: Mirrors, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    work = tmp_path / "w"
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    (work / "a.txt").write_text("a\n")
    env = {"GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@e", "GIT_COMMITTER_NAME": "a",
           "GIT_COMMITTER_EMAIL": "a@e", "PATH": "/usr/bin:/bin"}  # fmt: skip
    subprocess.run(["git", "add", "."], cwd=work, check=True, env=env)
    subprocess.run(["git", "commit", "-qm", "a"], cwd=work, check=True, env=env)
    subprocess.run(["git", "push", "-q", str(mirrors.path(REPO)), "HEAD:refs/heads/main"],
                   cwd=work, check=True, env=env)  # fmt: skip
    have = subprocess.run(["git", "rev-parse", "HEAD", "HEAD:a.txt"], cwd=work, check=True,
                          capture_output=True).stdout.split()  # fmt: skip
    absent = [b"%040x" % n for n in range(1, 100)]
    q = Quarantine(mirrors, REPO)
    try:
        q.prime([*have, *absent])
        asked: list[bytes] = []
        store_type = type(q.mirror_store)
        real = store_type.__contains__
        monkeypatch.setattr(
            store_type, "__contains__", lambda self, oid: asked.append(oid) or real(self, oid)
        )
        assert all(q.upstream_has(o) for o in have)
        assert not any(q.upstream_has(o) for o in absent)
        assert asked == []  # all answered by the one git run
        # a few ids are not worth starting git for: asked one by one, as before
        few = [b"%040x" % n for n in range(200, 210)]
        q.prime(few)
        assert not any(q.upstream_has(o) for o in few)
        assert len(asked) == len(few)
    finally:
        q.close()
        mirrors.close()
