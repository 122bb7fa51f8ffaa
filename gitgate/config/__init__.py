"""Configuration: one TOML file, strictly validated, with an embedded default.

`sections` holds the gate-wide tables, `rules` the `[[rule]]` table, `registry` what the
checks declare about their own settings (`gitgate.checks` is the registry itself), `build`
turns TOML into these, `validate` checks what types cannot, `loading` puts it together.
Every name is re-exported here, so `from gitgate.config import Config, Rule, load` is the
import to write.
"""

from __future__ import annotations

from gitgate.config.build import ConfigError, parse_duration
from gitgate.config.loading import DEFAULT_RULES, default_data_dir, load
from gitgate.config.registry import ACTIONS, CheckSpec, registered
from gitgate.config.rules import (
    ACCESS_LEVELS,
    Actions,
    ApiActionsConfig,
    Rule,
    SecretActionsConfig,
)
from gitgate.config.sections import (
    AuditConfig,
    AuthConfig,
    Config,
    DatabaseConfig,
    GitHubAppConfig,
    HooksConfig,
    MetricsConfig,
    NotifyConfig,
    OidcConfig,
    QueueConfig,
    ReviewConfig,
    ScanConfig,
    ServerConfig,
    StorageConfig,
    UpstreamConfig,
)


def __getattr__(name: str) -> tuple[str, ...]:
    """`CHECK_NAMES`: the registered checks' names, read when asked (the registry imports
    this package, so it cannot be read at import time)."""
    if name == "CHECK_NAMES":
        return tuple(c.name for c in registered())
    raise AttributeError(f"module 'gitgate.config' has no attribute {name!r}")


__all__ = [
    "ACCESS_LEVELS",
    "ACTIONS",
    "DEFAULT_RULES",
    "Actions",
    "ApiActionsConfig",
    "AuditConfig",
    "AuthConfig",
    "CheckSpec",
    "Config",
    "ConfigError",
    "DatabaseConfig",
    "GitHubAppConfig",
    "HooksConfig",
    "MetricsConfig",
    "NotifyConfig",
    "OidcConfig",
    "QueueConfig",
    "ReviewConfig",
    "Rule",
    "ScanConfig",
    "SecretActionsConfig",
    "ServerConfig",
    "StorageConfig",
    "UpstreamConfig",
    "default_data_dir",
    "load",
    "parse_duration",
]
