"""`gitgate agent-setup` and `gitgate try`: what they refuse, and what they print."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from gitgate import config as config_mod
from gitgate.auth.factory import authenticate_token
from gitgate.cli import main
from gitgate.cli.db import open_bound


def write_config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "gitgate.toml"
    path.write_text(
        f'[storage]\ndata_dir = "{tmp_path / "data"}"\n'
        '[server]\npublic_url = "https://gate.example"\n' + extra
    )
    return path


def test_agent_setup_issues_a_working_token_and_prints_plain_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_config(tmp_path)
    args = ["agent-setup", "--subject", "agent-7", "--group", "agents", "--repo", "acme/app"]
    assert main([*args, "--config", str(cfg)]) == 0
    out, err = capsys.readouterr()
    token = next(x for x in out.splitlines() if x.startswith("export GITGATE_TOKEN="))
    token = token.partition("=")[2]
    loaded = config_mod.load(cfg)
    with open_bound(loaded):
        ident = authenticate_token(loaded, token)  # verified like the gate verifies agents
    assert (ident.subject, list(ident.groups)) == ("agent-7", ["agents"])
    assert "export GITGATE_URL=https://gate.example" in out
    assert "git config --global --replace-all credential.https://gate.example.helper ''" in out
    assert "git config --global --add credential.https://gate.example.helper gitgate" in out
    assert "git clone https://gate.example/acme/app.git" in out
    assert f"{token}@" not in out  # never in a URL
    assert "revoke with: gitgate token revoke" in err


@pytest.mark.parametrize(
    ("args", "extra", "message"),
    [
        (["--repo", "acme"], "", "--repo: write owner/name"),
        (["--repo", "acme/app", "--ttl", "soon"], "", "--ttl: not a duration"),
        (["--repo", "acme/app"], "[auth]\ngate_issuer = false\n", "pass --token-file"),
        (["--repo", "acme/app", "--ttl", "400d"], "", "over auth.max_token_ttl"),
    ],
)
def test_agent_setup_refusals_say_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], extra: str, message: str
) -> None:
    cfg = write_config(tmp_path, extra)
    assert main(["agent-setup", "--subject", "a", *args, "--config", str(cfg)]) == 2
    assert message in capsys.readouterr().err


def test_agent_setup_takes_an_existing_token_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_config(tmp_path, "[auth]\ngate_issuer = false\n")  # tokens come from an IdP
    token_file = tmp_path / "idp.token"
    token_file.write_text("eyJ.from-the-idp.sig\n")
    args = ["agent-setup", "--subject", "a", "--repo", "acme/app", "--token-file", str(token_file)]
    assert main([*args, "--config", str(cfg)]) == 0
    out, err = capsys.readouterr()
    assert f"export GITGATE_TOKEN_FILE={token_file}" in out
    assert "from-the-idp" not in out + err and "token id" not in err  # nothing issued


def test_try_refuses_a_directory_it_did_not_make(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = tmp_path / "gitgate-try"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    assert main(["try", "--dir", str(mine)]) == 2
    assert "was not made by `gitgate try`" in capsys.readouterr().err
    assert (mine / "notes.txt").read_text() == "keep me"
    assert main(["try", "--dir", str(tmp_path / "t"), "--bind", "nowhere"]) == 2
    assert "use HOST:PORT" in capsys.readouterr().err
    assert not (tmp_path / "t").exists()  # what it made before failing is gone
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers restored
    assert main(["try", "--dir", str(tmp_path / "t"), "--bind", "0.0.0.0:8418"]) == 2
    assert "loopback only" in capsys.readouterr().err
