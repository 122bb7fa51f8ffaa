"""What `gitgate serve` and `gitgate check-config` say is missing, one plain line each."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from gitgate.cli import main
from tests.fixtures.service import GateProcess, base_env

HEAD = "thing(s) to fix before agents can push through this gate"


def check(tmp_path: Path, capsys: pytest.CaptureFixture[str], toml: str) -> str:
    path = tmp_path / "gitgate.toml"
    path.write_text(f'[storage]\ndata_dir = "{tmp_path / "data"}"\n' + toml)
    assert main(["check-config", str(path)]) == 0  # advice, not errors: the config is valid
    return capsys.readouterr().out


GOOD = """
[upstream]
token = "env:GITGATE_TEST_GH_TOKEN"
[[rule]]
name = "agents"
groups = ["agents"]
access = "write"
"""


def test_complete_config_gets_no_advice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITGATE_TEST_GH_TOKEN", "ghs_x")
    out = check(tmp_path, capsys, GOOD)
    assert ": ok (1 rule(s)" in out and HEAD not in out


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("", "no upstream credential: https://github.com will refuse the gate's pushes"),
        (
            GOOD,  # the env var it names is not set
            "upstream.token names $GITGATE_TEST_GH_TOKEN, which is not set in this environment",
        ),
        (
            '[upstream]\ntoken = "file:/nonexistent/gh.token"\n',
            "upstream.token names the file /nonexistent/gh.token, which this process cannot read",
        ),
        (
            '[[rule]]\nname = "read-only"\naccess = "read"\n',
            "no rule allows writes: every push will be refused. Add a [[rule]] with access",
        ),
        ("[auth]\nrequired = false\n", "auth.required is false: anyone who reaches the gate"),
        (
            '[server]\nbind = "0.0.0.0:8418"\n',
            "TLS is off: the gate serves plain HTTP on 0.0.0.0:8418",
        ),
    ],
    ids=["no-credential", "env-unset", "file-unreadable", "no-write-rule", "no-auth", "no-tls"],
)
def test_each_missing_piece_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], toml: str, expected: str
) -> None:
    out = check(tmp_path, capsys, toml)
    assert HEAD in out and expected in out


def test_tls_advice_not_for_loopback_or_an_https_public_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    behind_proxy = '[server]\nbind = "0.0.0.0:8418"\npublic_url = "https://gate.example"\n'
    assert "TLS is off" not in check(tmp_path, capsys, behind_proxy)
    assert "TLS is off" not in check(tmp_path, capsys, '[server]\nbind = "127.0.0.1:9"\n')


THREE_MISSING = """
[upstream]
token = "env:GITGATE_TEST_UNSET_TOKEN"
[auth]
required = false
[[rule]]
name = "readers"
access = "read"
"""


@pytest.mark.slow
@pytest.mark.parametrize("toml", [None, THREE_MISSING], ids=["embedded-default", "three-missing"])
def test_serve_says_it_once_as_check_config_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], toml: str | None
) -> None:
    """Under real gunicorn (two workers): one advice block, from the serving process only,
    with the very lines `check-config` prints for the same config."""
    env = base_env(GITGATE_DATA_DIR=str(tmp_path / "data"))
    argv = [sys.executable, "-m", "gitgate", "serve", "--bind", "127.0.0.1:0", "--workers", "2"]
    config_args: list[str] = []
    if toml is not None:
        (tmp_path / "gitgate.toml").write_text(toml)
        config_args = [str(tmp_path / "gitgate.toml")]
        argv += ["--config", *config_args]
    gate = GateProcess(argv, env, cwd=tmp_path)
    gate.start()
    try:
        assert gate.wait_for_log(lambda lines: sum("Booting worker" in x for x in lines) == 2)
    finally:
        gate.stop()
    log = gate.log_lines()
    assert "\n".join(log).count(HEAD) == 1
    assert any("run the next steps in another terminal" in x for x in log)
    advice = [x for x in log if x.startswith("  - ")]
    assert len(advice) == (1 if toml is None else 3)
    for line in advice:
        assert log.count(line) == 1
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("GITGATE_TEST_UNSET_TOKEN", raising=False)
        mp.delenv("GITGATE_CONFIG", raising=False)
        mp.setenv("GITGATE_DATA_DIR", str(tmp_path / "data"))
        assert main(["check-config", *config_args]) == 0
    assert [x for x in capsys.readouterr().out.splitlines() if x.startswith("  - ")] == advice
    joined = "\n".join(advice)
    if toml is None:
        assert "no upstream credential" in joined
    else:
        assert "GITGATE_TEST_UNSET_TOKEN, which is not set" in joined
        assert "no rule allows writes" in joined and "auth.required is false" in joined
