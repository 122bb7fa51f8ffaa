"""The factory's in-memory history must answer as git does (gitgate.inspection.history), or the
check
unit tests would test a different gate: the same commits, diffed both ways."""

from __future__ import annotations

from pathlib import Path

from dulwich.repo import Repo as GitRepo

from gitgate.inspection.history import Job, RawChange, path_changes
from tests.unit.factories import MemoryHistory, Repo


def history() -> tuple[Repo, list[bytes]]:
    repo = Repo()
    root = repo.commit({"README.md": b"# app\n", "deploy/prod.yaml": b"replicas: 3\n"})
    main = repo.commit({"deploy/prod.yaml": b"replicas: 5\n", "x.txt": b"x\n"}, parents=[root])
    side = repo.commit(
        {"src/a.py": b"a = 1\n", "README.md": None, "docs/README.md": b"# app\n"},
        parents=[root],
    )
    merge = repo.commit(
        {"deploy/prod.yaml": b"replicas: 5\n", "x.txt": b"x\n"}, parents=[side, main]
    )
    evil = repo.commit(
        {"deploy/prod.yaml": b"replicas: 99\n", "x.txt": b"x\n"}, parents=[side, main]
    )
    kinds = repo.commit({"src/a.py": b"a.py\n"}, parents=[side], modes={"src/a.py": 0o120000})
    return repo, [root, main, side, merge, evil, kinds]


def test_the_memory_history_matches_git_diff_tree(tmp_path: Path) -> None:
    repo, commits = history()
    bare = GitRepo.init_bare(str(tmp_path / "mirror.git"), mkdir=True)
    for sha in list(repo.store):
        bare.object_store.add_object(repo.store[sha])
    jobs = [Job(c) for c in commits] + [Job(commits[3], (commits[1],))]  # and a net change
    git_dirs = (str(tmp_path / "mirror.git"), str(tmp_path / "mirror.git" / "objects"))

    def answers(found: list[tuple[Job, list[RawChange]]]) -> list[list[RawChange]]:
        return [sorted(changes, key=lambda c: (c.path, c.kind)) for _, changes in found]

    expected = answers(list(path_changes(git_dirs, jobs)))
    assert answers(list(MemoryHistory(repo.store).changes(jobs))) == expected
    assert [c.kind for c in expected[2]].count("rename") == 1  # the cases are really there
    assert expected[3] == [] and [c.path for c in expected[4]] == [b"deploy/prod.yaml"]
    assert sorted(c.kind for c in expected[5]) == ["add", "delete"]  # a type change


def test_ancestry() -> None:
    repo, (root, main, side, merge, *_) = history()
    h = MemoryHistory(repo.store)
    assert h.is_ancestor(root, merge) and h.is_ancestor(main, merge)
    assert not h.is_ancestor(main, side) and not h.is_ancestor(merge, root)
