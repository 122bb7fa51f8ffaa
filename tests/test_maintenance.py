import os
import time
from pathlib import Path

from gitgate.maintenance import sweep_quarantines


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
