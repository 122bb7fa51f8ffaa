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
