"""gitgate.checks.deny: refusals that read no content (force-push, deletes, tags, sizes)."""

from __future__ import annotations

from typing import Any

from gitgate.checks.base import Verdict
from gitgate.checks.deny import Deny
from gitgate.inspection.push import Push
from tests.unit.factories import REF, Repo, context, load_config, make_push, rules_for, update


def run(push: Push, **deny: Any) -> Verdict:
    cfg = load_config([{"name": "r", "deny": deny}])
    verdicts = Deny().run(push, rules_for(push, cfg.rule[0]), context(cfg))
    assert len(verdicts) == len(push.updates)
    return verdicts[0]


def history() -> tuple[Repo, bytes, bytes]:
    repo = Repo()
    base = repo.commit({"README.md": b"# app\n", "deploy/prod.yaml": b"replicas: 3\n"})
    repo.publish(base)
    tip = repo.commit({"src/app.py": b"x = 1\n"}, parents=[base])
    return repo, base, tip


def test_a_fast_forward_passes() -> None:
    repo, base, tip = history()
    v = run(make_push(repo, update(REF, base, tip)))
    assert v.passed and not v.findings and v.reason == ""


def test_force_push_is_refused_and_allowed_when_the_rule_says_so() -> None:
    repo, base, tip = history()
    repo.publish(tip)
    other = repo.commit({"src/app.py": b"x = 2\n"}, parents=[base])  # drops tip
    push = make_push(repo, update(REF, tip, other))
    assert push.updates[0].forced
    v = run(push)
    assert not v.passed
    assert v.reason == "force-push (non-fast-forward) is not allowed"
    assert "git pull --rebase" in v.hint
    assert run(make_push(repo, update(REF, tip, other)), force_push=False).passed


def test_deleting_a_ref() -> None:
    repo, base, _ = history()
    v = run(make_push(repo, update(REF, base, None)))
    assert (v.passed, v.reason) == (False, "deleting refs is not allowed")
    assert [f.check for f in v.findings] == ["deny"]
    assert run(make_push(repo, update(REF, base, None)), delete_ref=False).passed


def test_overwriting_a_tag_but_not_creating_one() -> None:
    repo, base, tip = history()
    tag = "refs/tags/v1"
    v = run(make_push(repo, update(tag, base, tip)))
    assert v.reason == "overwriting an existing tag is not allowed"  # not "force-push"
    assert run(make_push(repo, update(tag, None, tip))).passed
    assert run(make_push(repo, update(tag, base, tip)), tag_overwrite=False).passed


def test_deleting_or_renaming_away_a_protected_file_names_the_whole_commit() -> None:
    repo, base, _ = history()
    gone = repo.commit({"deploy/prod.yaml": None}, parents=[base])
    v = run(make_push(repo, update(REF, base, gone)), delete_paths=["deploy/**"])
    assert not v.passed
    (f,) = v.findings
    assert (f.path, f.commit) == ("deploy/prod.yaml", gone.decode())
    assert len(f.commit or "") == 40
    assert f.record()["commit"] == gone.decode()[:12]  # the audit record stays short
    moved = repo.commit(
        {"deploy/prod.yaml": None, "old/prod.yaml": b"replicas: 3\n"}, parents=[base]
    )
    v = run(make_push(repo, update(REF, base, moved)), delete_paths=["deploy/**"])
    assert [f.path for f in v.findings] == ["deploy/prod.yaml"]
    assert v.reason == "deleting deploy/prod.yaml is not allowed (matches 'deploy/**')"


def test_a_file_over_the_size_limit_names_its_blob() -> None:
    repo, base, _ = history()
    big = repo.commit({"data.bin": b"x" * 2_000_001}, parents=[base])
    v = run(make_push(repo, update(REF, base, big)), max_file_bytes=1_000_000)
    (f,) = v.findings
    assert v.reason == "data.bin is 2.0 MB, over the limit of 1.0 MB"
    assert f.blob == repo.files[big][b"data.bin"][0].decode()
    assert f.commit == big.decode()
    assert "blob" not in f.record() and "span" not in f.record()


def test_a_large_file_upstream_already_has_is_not_blamed_on_the_push() -> None:
    repo = Repo()
    base = repo.commit({"data.bin": b"x" * 2_000_001})
    repo.publish(base)
    moved = repo.commit({"data.bin": None, "moved.bin": b"x" * 2_000_001}, parents=[base])
    assert run(make_push(repo, update(REF, base, moved)), max_file_bytes=1_000_000).passed


def test_the_push_size_limit_and_reasons_joined() -> None:
    repo, base, tip = history()
    v = run(make_push(repo, update(REF, base, tip), pack_bytes=3_000_000), max_push_bytes=10**6)
    assert v.reason == "push is 3.0 MB, over the limit of 1.0 MB"
    assert v.findings[0].commit is None  # about the push, not a commit
    both = run(make_push(repo, update(REF, base, None), pack_bytes=3_000_000), max_push_bytes=10**6)
    assert both.reason == ("deleting refs is not allowed; push is 3.0 MB, over the limit of 1.0 MB")


def test_refs_without_a_rule_are_not_looked_at() -> None:
    repo, base, _ = history()
    push = make_push(repo, update(REF, base, None))
    cfg = load_config()
    assert Deny().run(push, {}, context(cfg)) == []
