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
            'no rule allows writes: every push will be refused. Add a [[rule]] with access',
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


@pytest.mark.slow
def test_serve_says_it_once_and_points_to_another_terminal(tmp_path: Path) -> None:
    """The embedded default (README step 1) under real gunicorn: one advice block, in the
    serving process only (not once per worker)."""
    argv = [sys.executable, "-m", "gitgate", "serve", "--bind", "127.0.0.1:0", "--workers", "2"]
    gate = GateProcess(argv, base_env(GITGATE_DATA_DIR=str(tmp_path / "data")), cwd=tmp_path)
    gate.start()
    try:
        assert gate.wait_for_log(lambda lines: sum("Booting worker" in x for x in lines) == 2)
    finally:
        gate.stop()
    log = gate.log_text()
    assert log.count(HEAD) == 1
    assert log.count("no upstream credential") == 1
    assert "run the next steps in another terminal" in log
    assert "no rule allows writes" not in log  # the embedded default's rule allows writes
