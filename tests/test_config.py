from pathlib import Path

import pytest

from gitgate.config import ConfigError, load, parse_duration

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config" / "gitgate.example.toml"


def test_embedded_default_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITGATE_DATA_DIR", str(tmp_path / "data"))
    cfg = load(None)
    assert cfg.upstream.git_url == "https://github.com"
    assert cfg.database.url == f"sqlite:///{tmp_path / 'data'}/gitgate.db"
    assert [r.name for r in cfg.rule] == ["default"]
    assert cfg.auth.required is True


def test_example_config_is_valid() -> None:
    cfg = load(EXAMPLE)
    assert len(cfg.rule) >= 3
    assert any(r.actions.protected_paths == "queue" for r in cfg.rule)


def _errors(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load(path)
    return info.value.problems


def test_errors_name_their_key(tmp_path: Path) -> None:
    problems = _errors(
        tmp_path,
        """
[server]
workers = "two"
[upstream]
token = "ghp_inline"
[[rule]]
name = "r"
protected_path = ["x/**"]
access = "admin"
[rule.actions]
secrets = "mask-it"
[rule.commits]
message_deny = ["(unclosed"]
""",
    )
    text = "\n".join(problems)
    assert "server.workers: expected an integer" in text
    assert 'upstream.token: write "env:NAME" or "file:/path"' in text
    assert "rule[0].protected_path: unknown key (did you mean 'protected_paths'?)" in text
    assert "rule[0].access: 'admin' is not one of none, read, write" in text
    assert "rule[0].actions.secrets: 'mask-it' is not one of allow, reject, queue" in text
    assert "rule[0].commits.message_deny[0]: invalid regular expression" in text
    assert "ghp_inline" not in text  # never echo a token back


def test_webhook_url_and_secret_are_checked(tmp_path: Path) -> None:
    problems = _errors(
        tmp_path, '[notify]\nwebhook_url = "http://hooks.example.com/x"\nsecret = "hunter2"\n'
    )
    assert any(p.startswith("notify.webhook_url: use https://") for p in problems)
    assert any(p.startswith("notify.secret: write") for p in problems)
    assert not any("hunter2" in p for p in problems)


def test_queue_needs_reviewers(tmp_path: Path) -> None:
    problems = _errors(tmp_path, '[[rule]]\nname="q"\n[rule.actions]\nprotected_paths="queue"\n')
    assert any("rule[0].reviewers: a rule that queues needs reviewer groups" in p for p in problems)


def test_secret_actions_are_checked(tmp_path: Path) -> None:
    problems = _errors(tmp_path, '[[rule]]\nname="s"\n[rule.secret_actions]\nlow="warn"\n')
    assert any(
        """rule[0].secret_actions.low: 'warn' is not one of "", allow""" in p for p in problems
    )
    problems = _errors(tmp_path, '[[rule]]\nname="q"\n[rule.secret_actions]\nmedium="queue"\n')
    assert any("rule[0].reviewers: a rule that queues needs reviewer groups" in p for p in problems)


def test_without_secret_actions_every_level_means_actions_secrets(tmp_path: Path) -> None:
    from gitgate.checks.base import Finding, Verdict
    from gitgate.config import Rule
    from gitgate.policy import check_action

    rule = Rule()
    rule.actions.secrets = "queue"
    findings = [Finding("secrets", "r", "t", confidence=c) for c in ("low", "medium", "high")]
    verdict = Verdict("secrets", "r", passed=False, findings=findings)
    assert check_action(rule, verdict) == "queue"
    rule.secret_actions.high, rule.secret_actions.medium = "reject", "allow"
    assert check_action(rule, verdict) == "reject"  # the strictest level present decides
    verdict.findings = findings[:2]
    assert check_action(rule, verdict) == "queue"  # low falls back to actions.secrets


def test_bad_toml_and_missing_file(tmp_path: Path) -> None:
    assert "not valid TOML" in _errors(tmp_path, "[server\n")[0]
    with pytest.raises(ConfigError, match="no such file"):
        load(tmp_path / "nope.toml")


def test_oidc_refuses_hmac(tmp_path: Path) -> None:
    problems = _errors(
        tmp_path,
        '[[auth.oidc]]\nissuer="https://i"\naudience="a"\njwks_url="https://i/k"\n'
        'algorithms=["HS256"]\n',
    )
    assert any("HS256 is not allowed" in p for p in problems)


@pytest.mark.parametrize(("text", "seconds"), [(30, 30), ("90s", 90), ("15m", 900), ("7d", 604800)])
def test_durations(text: object, seconds: int) -> None:
    assert parse_duration(text) == seconds  # type: ignore[arg-type]
