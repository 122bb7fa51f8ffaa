"""gitgate.checks.protected_paths: any change touching a protected glob, both sides of a rename."""

from __future__ import annotations

from gitgate.checks.base import Verdict
from gitgate.checks.protected_paths import ProtectedPaths
from gitgate.inspection.push import Push
from tests.unit.factories import REF, Repo, context, load_config, make_push, rules_for, update

PROTECTED = ["deploy/**", ".github/workflows/**"]


def run(push: Push, protected: list[str] = PROTECTED) -> list[Verdict]:
    cfg = load_config([{"name": "r", "protected_paths": protected}])
    return ProtectedPaths().run(push, rules_for(push, cfg.rule[0]), context(cfg))


def seeded() -> tuple[Repo, bytes]:
    repo = Repo()
    base = repo.commit({"README.md": b"# app\n", "deploy/prod.yaml": b"replicas: 3\n"})
    repo.publish(base)
    return repo, base


def test_an_edit_under_a_protected_glob_is_found_with_its_whole_commit_id() -> None:
    repo, base = seeded()
    tip = repo.commit({"deploy/prod.yaml": b"replicas: 9\n"}, parents=[base])
    (v,) = run(make_push(repo, update(REF, base, tip)))
    assert not v.passed
    assert v.reason == "touches protected paths: deploy/prod.yaml"
    (f,) = v.findings
    assert f.message == "modify of a protected path (matches 'deploy/**')"
    assert (f.path, f.commit, f.line) == ("deploy/prod.yaml", tip.decode(), None)
    assert f.record() == {
        "check": "protected_paths",
        "ref": REF,
        "commit": tip.decode()[:12],
        "path": "deploy/prod.yaml",
        "type": "modify of a protected path (matches 'deploy/**')",
    }


def test_other_paths_pass_and_a_rule_without_globs_is_skipped() -> None:
    repo, base = seeded()
    tip = repo.commit({"src/app.py": b"x = 1\n"}, parents=[base])
    (v,) = run(make_push(repo, update(REF, base, tip)))
    assert v.passed and v.findings == []
    assert run(make_push(repo, update(REF, base, tip)), protected=[]) == []


def test_moving_a_file_out_of_a_protected_dir_counts_both_paths() -> None:
    repo, base = seeded()
    moved = repo.commit(
        {"deploy/prod.yaml": None, "attic/prod.yaml": b"replicas: 3\n"}, parents=[base]
    )
    (v,) = run(make_push(repo, update(REF, base, moved)))
    (f,) = v.findings
    assert f.message == (
        "rename deploy/prod.yaml -> attic/prod.yaml touches a protected path (matches 'deploy/**')"
    )
    assert f.path == "deploy/prod.yaml"


def test_each_path_once_however_many_commits_touch_it_and_the_reason_caps_at_three() -> None:
    repo, base = seeded()
    tip = base
    for i in range(3):
        tip = repo.commit(
            {f"deploy/f{i}.yaml": b"a\n", "deploy/prod.yaml": b"%d\n" % i}, parents=[tip]
        )
    (v,) = run(make_push(repo, update(REF, base, tip)))
    assert sorted(f.path or "" for f in v.findings) == [
        "deploy/f0.yaml",
        "deploy/f1.yaml",
        "deploy/f2.yaml",
        "deploy/prod.yaml",
    ]
    assert v.reason == (
        "touches protected paths: deploy/f0.yaml, deploy/f1.yaml, deploy/f2.yaml and 1 more"
    )


def test_merging_main_into_a_branch_does_not_blame_the_branch_for_mains_files() -> None:
    repo, base = seeded()
    main = repo.commit({"deploy/prod.yaml": b"replicas: 5\n"}, parents=[base])
    branch = repo.commit({"src/feature.py": b"y = 2\n"}, parents=[base])
    repo.publish(main, branch)
    merge = repo.commit({"deploy/prod.yaml": b"replicas: 5\n"}, parents=[branch, main])
    (v,) = run(make_push(repo, update("refs/heads/feature", branch, merge)))
    assert v.passed, v.findings
    evil = repo.commit({"deploy/prod.yaml": b"replicas: 99\n"}, parents=[branch, main])
    (v,) = run(make_push(repo, update("refs/heads/feature", branch, evil)))
    assert [f.path for f in v.findings] == ["deploy/prod.yaml"]  # an evil merge is caught


def test_a_force_push_counts_the_net_change_it_makes() -> None:
    repo, base = seeded()
    edited = repo.commit({"deploy/prod.yaml": b"replicas: 5\n"}, parents=[base])
    repo.publish(edited)
    rewound = repo.commit({"src/app.py": b"x = 1\n"}, parents=[base])  # drops the edit
    push = make_push(repo, update(REF, edited, rewound))
    assert push.updates[0].forced
    (v,) = run(push)
    (f,) = v.findings
    assert (f.path, f.commit) == ("deploy/prod.yaml", rewound.decode())
