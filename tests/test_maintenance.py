import os
import time
from pathlib import Path

from gitgate.ops.maintenance import sweep_quarantines


def test_sweep_removes_only_old_quarantines(tmp_path: Path) -> None:
    old = tmp_path / "push-old"
    new = tmp_path / "push-new"
    other = tmp_path / "keep-me"
    for d in (old, new, other):
        (d / "objects").mkdir(parents=True)
    past = time.time() - 2 * 86400
    os.utime(old, (past, past))
    os.utime(other, (past, past))
    assert sweep_quarantines(tmp_path) == 1
    assert not old.exists() and new.exists() and other.exists()
    assert sweep_quarantines(tmp_path / "missing") == 0


def test_compact_waits_for_pushes_and_keeps_objects(tmp_path: Path) -> None:
    import subprocess
    import threading

    from gitgate.git.mirror import Mirrors
    from gitgate.upstream.http import Upstream

    mirrors = Mirrors(tmp_path, Upstream("http://127.0.0.1:9", None))
    path = mirrors.ensure("acme/app")
    assert (
        subprocess.run(
            ["git", "--git-dir", str(path), "config", "gc.auto"], capture_output=True, text=True
        ).stdout.strip()
        == "0"
    )
    env = {"GIT_DIR": str(path), "PATH": os.environ["PATH"]}
    for i in range(3):  # three packs of unreachable blobs, like adopted pushes
        oid = subprocess.run(
            ["git", "hash-object", "-w", "--stdin"],
            input=f"blob {i}\n".encode(),
            env=env,
            check=True,
            capture_output=True,
        ).stdout
        subprocess.run(
            ["git", "pack-objects", "-q", str(path / "objects" / "pack" / "pack")],
            input=oid,
            env=env,
            check=True,
            capture_output=True,
        )
    subprocess.run(["git", "prune-packed"], env=env, check=True)
    assert mirrors.repos() == ["acme/app"]
    done = threading.Event()
    with mirrors.in_use("acme/app"):  # a push is reading the mirror
        t = threading.Thread(target=lambda: (mirrors.compact("acme/app"), done.set()))
        t.start()
        assert not done.wait(0.3)  # compaction waits for the push
    t.join(30)
    assert done.is_set()
    count = subprocess.run(
        ["git", "count-objects", "-v"], env=env, capture_output=True, text=True
    ).stdout
    assert "in-pack: 3" in count and "packs: 1" in count
