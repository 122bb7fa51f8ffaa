"""The canonical repository name, and rules matched on it case-insensitively."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitgate.config import Rule
from gitgate.policy import can_push_somewhere, repo_rule, rule_for
from gitgate.repos import BadRepo, canonical_repo, parse_repo


@pytest.mark.parametrize(
    ("owner", "name"),
    [("acme", "app"), ("ACME", "App"), ("Acme", "app.git"), ("acme", "APP.GIT")],
)
def test_spellings_share_one_name(owner: str, name: str) -> None:
    assert canonical_repo(owner, name) == "acme/app"


@pytest.mark.parametrize(
    ("owner", "name"),
    [
        ("acme", "app.git.git"),  # only one .git is GitHub's; two is not a name
        ("acme", ".git"),
        ("acme", "a..b"),
        ("acme", ".hidden"),
        ("acme", "app."),
        ("acme", "app.lock"),
        ("-acme", "app"),
        ("acme", "%41pp"),  # a percent sign left after the server decoded the path once
        ("acme", "\u0430pp"),  # Cyrillic a (U+0430): no Unicode folding onto an ASCII name
        ("acme", "app\x00"),
    ],
)
def test_non_canonical_names_are_refused(owner: str, name: str) -> None:
    with pytest.raises(BadRepo, match=r"<owner>/<repo>\.git"):
        canonical_repo(owner, name)


def test_parse_repo_for_the_cli() -> None:
    assert parse_repo("ACME/App.git") == "acme/app"
    assert parse_repo("/acme/app/") == "acme/app"
    for bad in ("acme", "acme/app/extra", ""):
        with pytest.raises(BadRepo):
            parse_repo(bad)


def test_rule_globs_match_case_insensitively() -> None:
    rules = [
        Rule(name="strict", repos=["acme/App.git"], refs=["refs/heads/main"]),
        Rule(name="none", repos=["ACME/Priv*"], access="none"),
        Rule(name="rest", repos=["acme/*"]),
    ]

    def name(rule: Rule | None) -> str | None:
        return rule.name if rule else None

    assert name(rule_for(rules, "acme/app", "refs/heads/main", ["g"])) == "strict"
    assert name(repo_rule(rules, "acme/private", ["g"])) == "none"
    assert name(repo_rule(rules, "acme/other", ["g"])) == "rest"
    assert can_push_somewhere(rules[:2], "acme/app", ["g"])
    assert not can_push_somewhere(rules[1:2], "acme/private", ["g"])


def test_explain_uses_the_canonical_name(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from gitgate.cli import main
    from tests.fixtures.toml import dumps

    config = tmp_path / "gate.toml"
    config.write_text(
        dumps(
            {
                "storage": {"data_dir": str(tmp_path / "data")},
                "upstream": {"git_url": "http://127.0.0.1:9"},
                "rule": [
                    {"name": "strict", "repos": ["acme/app"], "access": "read"},
                    {"name": "rest", "repos": ["acme/*"]},
                ],
            }
        )
    )
    args = [
        "explain",
        "--subject",
        "a",
        "--group",
        "g",
        "--repo",
        "ACME/App.git",
        "-c",
        str(config),
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "acme/app (clone/fetch): rule[0] 'strict' applies" in out
    assert main([*args[:-3], "ACME/Other", "--ref", "refs/heads/x", "-c", str(config)]) == 0
    out = capsys.readouterr().out
    assert "acme/other refs/heads/x: rule[1] 'rest' applies" in out
    assert "lfs pointers without their objects -> reject" in out
    assert main([*args[:-3], "acme/a..b", "-c", str(config)]) == 2


def test_mirrors_live_under_the_canonical_name(tmp_path: Path) -> None:
    """A mirror an older gate left under `Acme/App.git` is never read; purge removes it."""
    from gitgate.cli.db import compact_mirrors
    from gitgate.config import Config
    from gitgate.git.mirror import Mirrors
    from gitgate.upstream.http import Upstream
    from tests.fixtures.upstream import git

    mirrors = Mirrors(tmp_path, Upstream("http://127.0.0.1:9", None))
    assert mirrors.path("Acme/App.git") == tmp_path / "mirrors" / "acme" / "app.git"
    for name in ("acme/app.git", "Acme/App.git", "ACME/other.git"):
        git("init", "-q", "--bare", str(tmp_path / "mirrors" / name))
    assert mirrors.repos() == ["acme/app"]
    stale = {tmp_path / "mirrors" / "Acme" / "App.git", tmp_path / "mirrors" / "ACME" / "other.git"}
    assert set(mirrors.orphans()) == stale
    cfg = Config()
    cfg.storage.data_dir = str(tmp_path)
    assert compact_mirrors(cfg) == 0
    assert not any(p.exists() for p in stale)
    assert (tmp_path / "mirrors" / "acme" / "app.git" / "objects").is_dir()
