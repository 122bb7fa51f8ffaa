"""The operator commands that need no running gate."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitgate import __version__
from gitgate.cli import load_config, main
from gitgate.cli.db import open_bound
from gitgate.mask import mapping

ROOT = Path(__file__).resolve().parent.parent


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["version"]) == 0
    assert capsys.readouterr().out.strip() == f"gitgate {__version__}"


def test_check_config_ok_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(ROOT / "config" / "gitgate.example.toml")]) == 0
    assert ": ok (3 rule(s)" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text('[upstream]\ngit_url = "ftp://x"\n[[rule]]\nname = "a"\nrefs = 3\n')
    with pytest.raises(SystemExit) as info:
        main(["check-config", str(bad)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "the config has 2 problem(s)" in err
    assert "upstream.git_url: must be an http(s) URL" in err
    assert "rule[0].refs: expected a list, got int" in err


def test_db_upgrade_and_purge(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[storage]\ndata_dir = "{tmp_path / "data"}"\n')
    assert main(["db", "upgrade", "--config", str(cfg)]) == 0
    assert "database schema at version" in capsys.readouterr().err
    assert (tmp_path / "data" / "gitgate.db").exists()
    with open_bound(load_config(str(cfg))):  # the waiting map of a queue entry that is gone
        mapping.save(mapping.pending_repo("acme/app", 7), "a", {"commit": {b"1" * 40: b"2" * 40}})
    assert main(["purge", "--config", str(cfg), "--days", "30"]) == 0
    out = capsys.readouterr().out
    assert "purged records older than 30 days" in out
    assert "1 pending_mask_map_rows" in out
    assert main(["purge", "--config", str(cfg), "--days", "30"]) == 0
    assert "0 pending_mask_map_rows" in capsys.readouterr().out
