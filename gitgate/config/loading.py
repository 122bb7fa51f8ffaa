"""Loading one TOML file (or the embedded default) into a validated `Config`."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Sequence
from pathlib import Path

from gitgate.config.build import ConfigError, build, build_rules
from gitgate.config.registry import CheckSpec, registered
from gitgate.config.sections import Config
from gitgate.config.validate import validate


def default_data_dir() -> str:
    """systemd's StateDirectory, then GITGATE_DATA_DIR, then ./gitgate-data."""
    return os.environ.get("GITGATE_DATA_DIR") or os.environ.get("STATE_DIRECTORY") or "gitgate-data"


DEFAULT_RULES: list[dict[str, object]] = [
    {
        "name": "default",
        "repos": ["**"],
        "refs": ["**"],
        "groups": ["*"],
        "access": "write",
        "protected_paths": [".github/workflows/**"],
    }
]


def load(
    path: str | Path | None = None,
    *,
    overrides: dict[str, object] | None = None,
    checks: Sequence[CheckSpec] | None = None,
) -> Config:
    """Load and validate a config file (None: the embedded default). Raises ConfigError.
    `checks`: whose settings `[[rule]]` takes (default: the registry, gitgate.checks)."""
    data: dict[str, object] = {}
    source = "<embedded default>"
    if path is not None:
        source = str(path)
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError([f"{path}: no such file"]) from None
        except tomllib.TOMLDecodeError as ex:
            raise ConfigError([f"{path}: not valid TOML: {ex}"]) from None
    for key, value in (overrides or {}).items():
        table = data.setdefault(key, {})
        if isinstance(value, dict) and isinstance(table, dict):
            table.update(value)
        else:
            data[key] = value
    checks = registered() if checks is None else checks
    problems: list[str] = []
    rules = build_rules(data.pop("rule", DEFAULT_RULES), problems, checks)
    cfg = build(Config, data, "", problems)
    cfg.rule, cfg.source = rules, source
    if not cfg.storage.data_dir:
        cfg.storage.data_dir = default_data_dir()
    cfg.storage.data_dir = str(Path(cfg.storage.data_dir).expanduser().absolute())
    if not cfg.database.url:
        cfg.database.url = f"sqlite:///{cfg.storage.data_dir}/gitgate.db"
    if not cfg.server.public_url:
        cfg.server.public_url = f"http://{cfg.server.bind}"
    validate(cfg, problems, checks)
    if problems:
        raise ConfigError(problems)
    return cfg
