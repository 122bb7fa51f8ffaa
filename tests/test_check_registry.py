"""Adding a check is one module and one line in the registry: prove it with a throwaway one.

`BranchNames` below is all a new check needs. Registered (the one line: appended to
`gitgate.checks.DEFAULT_CHECKS`), its `[rule.branch_names]` table parses from TOML and is
validated with the same errors as every other key, `check-config` and `gitgate explain` show
it, the docs test asks for its rows, and a rule that does not name it in `[rule.actions]`
gets its declared default action, not a blanket reject.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from dulwich.object_store import MemoryObjectStore

import gitgate.checks
from gitgate.checks.base import CheckContext, Verdict, updates_for
from gitgate.config import ConfigError, Rule, load
from gitgate.config.keys import key_paths
from gitgate.git.wire import Command
from gitgate.inspection.push import Push, RefUpdate


@dataclass(frozen=True)
class BranchNamesOptions:
    pattern: str = "refs/heads/.*"
    max_length: int = 0

    def problems(self, where: str) -> list[str]:
        try:
            re.compile(self.pattern)
        except re.error as ex:
            return [f"{where}.pattern: invalid regular expression: {ex}"]
        return []


class BranchNames:
    name = "branch_names"
    Options = BranchNamesOptions
    inline = False
    default_action = "allow"  # a warning unless a rule says otherwise
    maskable = False

    def run(self, push: Push, rules: Mapping[str, Rule], ctx: CheckContext) -> list[Verdict]:
        verdicts = []
        for update, rule in updates_for(push, rules):
            opts = rule.options(self.name, BranchNamesOptions)
            ok = re.fullmatch(opts.pattern, update.ref) is not None
            verdicts.append(Verdict(self.name, update.ref, ok, "" if ok else "bad branch name"))
        return verdicts


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> BranchNames:
    check = BranchNames()
    monkeypatch.setattr(gitgate.checks, "DEFAULT_CHECKS", [*gitgate.checks.DEFAULT_CHECKS, check])
    return check


def _config(tmp_path: Path, rule: str) -> Path:
    path = tmp_path / "gate.toml"
    path.write_text(
        f'[storage]\ndata_dir = "{tmp_path / "data"}"\n[[rule]]\nname = "r"\n'
        f'repos = ["acme/*"]\n{rule}'
    )
    return path


def _problems(tmp_path: Path, rule: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(_config(tmp_path, rule))
    return info.value.problems


def test_its_options_parse_from_toml(tmp_path: Path, registered: BranchNames) -> None:
    toml = '[rule.branch_names]\npattern = "refs/heads/agent/.*"\nmax_length = 40\n'
    rule = load(_config(tmp_path, toml)).rule[0]
    assert rule.options("branch_names", BranchNamesOptions) == BranchNamesOptions(
        "refs/heads/agent/.*", 40
    )
    assert rule.branch_names == BranchNamesOptions("refs/heads/agent/.*", 40)
    plain = load(_config(tmp_path, "")).rule[0]
    assert plain.options("branch_names", BranchNamesOptions) == BranchNamesOptions()


def test_its_options_are_validated(tmp_path: Path, registered: BranchNames) -> None:
    problems = _problems(
        tmp_path,
        '[rule.branch_names]\npatern = "x"\nmax_length = "long"\n'
        '[rule.actions]\nbranch_names = "mask"\n',
    )
    assert "rule[0].branch_names.patern: unknown key (did you mean 'pattern'?)" in problems
    assert "rule[0].branch_names.max_length: expected an integer, got 'long'" in problems
    assert any(
        p.startswith("rule[0].actions.branch_names: mask is only for secrets") for p in problems
    )
    problems = _problems(tmp_path, '[rule.branch_names]\npattern = "(unclosed"\n')
    assert problems[0].startswith("rule[0].branch_names.pattern: invalid regular expression")
    problems = _problems(tmp_path, '[rule.actions]\nbranch_names = "maybe"\n')
    assert problems == [
        "rule[0].actions.branch_names: 'maybe' is not one of allow, reject, queue, mask"
    ]


def test_unregistered_it_is_an_unknown_key(tmp_path: Path) -> None:
    problems = _problems(tmp_path, '[rule.branch_names]\npattern = "x"\n')
    assert problems == ["rule[0].branch_names: unknown key"]
    assert _problems(tmp_path, '[rule.actions]\nbranch_names = "allow"\n') == [
        "rule[0].actions.branch_names: unknown key"
    ]


def test_its_default_action_applies(tmp_path: Path, registered: BranchNames) -> None:
    from gitgate.inspection.unpack import run_checks
    from gitgate.policy import check_action

    cfg = load(_config(tmp_path, '[rule.branch_names]\npattern = "refs/heads/agent/.*"\n'))
    rule = cfg.rule[0]
    push = Push(
        "acme/app",
        [RefUpdate(Command(b"0" * 40, b"1" * 40, b"refs/heads/main"))],
        MemoryObjectStore(),
        lambda _: False,
        [],
        0,
    )
    (verdict,) = run_checks([registered], push, {"refs/heads/main": rule}, CheckContext(cfg))
    assert not verdict.passed
    assert rule.actions.branch_names == "allow"
    assert check_action(rule, verdict) == "allow"  # its declared default, not "reject"
    assert check_action(Rule(), verdict) == "allow"  # a rule built in code: the same
    strict = load(_config(tmp_path, '[rule.actions]\nbranch_names = "reject"\n')).rule[0]
    assert check_action(strict, verdict) == "reject"


def test_it_appears_in_check_config_and_explain(
    tmp_path: Path, registered: BranchNames, capsys: pytest.CaptureFixture[str]
) -> None:
    from gitgate.cli import main

    path = _config(tmp_path, "[rule.branch_names]\nmax_length = 40\n")
    assert main(["check-config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "deny, protected_paths, commits, lfs, secrets, hooks, branch_names" in out
    args = ["explain", "--subject", "a", "--repo", "acme/app", "--ref", "refs/heads/x"]
    assert main([*args, "-c", str(path)]) == 0
    out = capsys.readouterr().out
    assert "  branch_names: pattern='refs/heads/.*' max_length=40 -> allow" in out


def test_the_docs_test_asks_for_its_rows(registered: BranchNames) -> None:
    from tests.test_config_docs import REFERENCE, compare, documented

    missing, unknown = compare(documented(REFERENCE.read_text()), key_paths())
    assert missing == [
        "rule.actions.branch_names",
        "rule.branch_names",
        "rule.branch_names.pattern",
        "rule.branch_names.max_length",
    ]
    assert not unknown


def test_explain_shows_every_built_in_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gitgate.cli import main

    path = _config(tmp_path, 'protected_paths = ["deploy/**"]\nhooks = false\n')
    args = ["explain", "--subject", "a", "--repo", "acme/app", "--ref", "refs/heads/x"]
    assert main([*args, "-c", str(path)]) == 0
    lines = [x.strip() for x in capsys.readouterr().out.splitlines()]
    assert lines[4:10] == [
        "deny: force_push=True delete_ref=True tag_overwrite=True delete_paths=[] "
        "max_file_bytes=0 max_push_bytes=0 -> reject",
        "protected_paths: ['deploy/**'] -> reject",
        "commits: author_email=[] committer_email=[] message_deny=[] message_require='' -> reject",
        "lfs pointers without their objects -> reject",
        "secrets: scanned -> reject",
        "hooks: not run -> reject",
    ]
