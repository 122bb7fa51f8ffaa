"""gitgate.checks.commits: author and committer emails, commit message rules."""

from __future__ import annotations

from typing import Any

from gitgate.checks.base import Verdict
from gitgate.checks.commits import CommitMetadata
from gitgate.inspection.push import Push
from tests.unit.factories import REF, Repo, context, load_config, make_push, rules_for, update

BOT = b"Bot <bot@agents.example.com>"
HUMAN = b"Someone <someone@gmail.com>"


def run(push: Push, **commits: Any) -> list[Verdict]:
    cfg = load_config([{"name": "r", "commits": commits}])
    return CommitMetadata().run(push, rules_for(push, cfg.rule[0]), context(cfg))


def pushed(*commits: dict[str, Any]) -> tuple[Push, list[bytes]]:
    repo = Repo()
    base = repo.commit({"README.md": b"# app\n"})
    repo.publish(base)
    ids, tip = [], base
    for i, kw in enumerate(commits):
        tip = repo.commit({"n.txt": b"%d\n" % i}, parents=[tip], **kw)
        ids.append(tip)
    return make_push(repo, update(REF, base, tip)), ids


def test_no_commit_rules_means_no_verdict() -> None:
    push, _ = pushed({"author": HUMAN})
    assert run(push) == []


def test_an_author_outside_the_allowed_patterns_names_each_commit_in_full() -> None:
    push, (ok, bad) = pushed({"author": BOT}, {"author": HUMAN, "committer": BOT})
    (v,) = run(push, author_email=[r".*@agents\.example\.com"])
    assert not v.passed
    (f,) = v.findings
    assert f.message == "author email someone@gmail.com is not allowed"
    assert f.commit == bad.decode() and ok.decode() not in {x.commit for x in v.findings}
    assert v.reason == f.message
    assert "git commit --amend --author" in v.hint


def test_patterns_match_the_whole_email_and_the_committer_is_checked_on_its_own() -> None:
    push, _ = pushed({"author": BOT, "committer": b"X <bot@agents.example.com.evil.org>"})
    (v,) = run(push, author_email=[r".*@agents\.example\.com"])
    assert v.passed
    (v,) = run(push, committer_email=[r".*@agents\.example\.com"])
    assert [f.message for f in v.findings] == [
        "committer email bot@agents.example.com.evil.org is not allowed"
    ]


def test_message_deny_and_require() -> None:
    push, (first, second) = pushed({"message": "WIP: try"}, {"message": "JIRA-12 fix it"})
    (v,) = run(push, message_deny=["^WIP"], message_require=r"^[A-Z]+-\d+ ")
    assert [(f.message, f.commit) for f in v.findings] == [
        ("commit message matches a denied pattern (^WIP)", first.decode()),
        ("commit message does not match '^[A-Z]+-\\\\d+ '", first.decode()),
    ]
    assert second.decode() not in {f.commit for f in v.findings}
