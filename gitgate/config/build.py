"""From TOML tables to the config's dataclasses, collecting every problem instead of stopping.

Every error names its key (`rule[2].actions.secrets: ...`) so `gitgate check-config` can tell an
admin exactly what to fix. Unknown keys are errors, not warnings: a misspelt `protected_path`
that silently protects nothing is the worst outcome a security gate can have.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, TypeVar

from gitgate.config.registry import ACTIONS, CheckSpec, SelfChecking
from gitgate.config.rules import ACCESS_LEVELS, Actions, Rule

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

D = TypeVar("D", bound="DataclassInstance")


class ConfigError(Exception):
    """All problems found in a config, one `key: message` per line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: int | str) -> int:
    """Seconds from `30`, `"90s"`, `"15m"`, `"12h"` or `"7d"`."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    m = _DURATION.match(str(value))
    if not m:
        raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 15m, 12h, 7d)")
    return int(m.group(1)) * _UNITS[m.group(2)]


# Keys whose TOML value is a duration string or seconds.
_DURATION_KEYS = {
    "timeout",
    "graceful_timeout",
    "time_budget",
    "queue_expiry",
    "jwks_timeout",
    "max_token_ttl",
    "session_ttl",
    "wait",
    "max_wait",
}
# Keys that take one string or a list of strings.
_LIST_OR_STR = {
    "repos",
    "refs",
    "groups",
    "audience",
    "reviewers",
    "break_glass_groups",
    "auditor_groups",
    "trusted_proxies",
    "oidc_scopes",
}
_CHOICES: dict[str, tuple[str, ...]] = {
    "Rule.access": ACCESS_LEVELS,
    "ServerConfig.log_format": ("text", "json"),
    "ServerConfig.log_level": ("debug", "info", "warning", "error"),
    "AuthConfig.gate_algorithm": ("EdDSA", "ES256"),
    **{f"ApiActionsConfig.{name}": ACTIONS for name in ("text", "admin", "publish", "merge")},
    **{f"SecretActionsConfig.{level}": ("", *ACTIONS) for level in ("high", "medium", "low")},
}


def keys_of(cls: type[DataclassInstance]) -> list[str]:
    """The TOML keys of a dataclass: its fields, less those loading sets itself."""
    return [f.name for f in dataclasses.fields(cls) if f.metadata.get("toml", f.name != "source")]


def _unknown(key: str, key_path: str, known: Iterable[str], problems: list[str]) -> None:
    close = difflib.get_close_matches(key, list(known), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    problems.append(f"{key_path}: unknown key{hint}")


def build(
    cls: type[D], data: object, path: str, problems: list[str], also: Iterable[str] = ()
) -> D:
    """Turn a TOML table into dataclass `cls`; `also`: keys taken elsewhere, only suggested."""
    if not isinstance(data, dict):
        problems.append(f"{path or 'config'}: expected a table, got {type(data).__name__}")
        return cls()
    hints = typing.get_type_hints(cls)
    fields = keys_of(cls)
    kwargs: dict[str, object] = {}
    for key, value in data.items():
        key_path = f"{path}.{key}" if path else key
        if key not in fields:
            _unknown(key, key_path, [*fields, *also], problems)
            continue
        kwargs[key] = _convert(f"{cls.__name__}.{key}", hints[key], value, key_path, problems)
    return cls(**kwargs)


def _convert(qualname: str, hint: object, value: object, path: str, problems: list[str]) -> object:
    key = qualname.rpartition(".")[2]
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
        origin = typing.get_origin(hint)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return build(hint, value, path, problems)
    if origin is dict:
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            problems.append(f"{path}: expected a table of strings")
            return {}
        return dict(value)
    if origin is list:
        (item,) = typing.get_args(hint)
        if key in _LIST_OR_STR and isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            problems.append(f"{path}: expected a list, got {type(value).__name__}")
            return []
        return [_convert(qualname, item, v, f"{path}[{i}]", problems) for i, v in enumerate(value)]
    if key in _DURATION_KEYS and hint is int:
        try:
            return parse_duration(value)  # type: ignore[arg-type]  # anything else: ValueError
        except ValueError as ex:
            problems.append(f"{path}: {ex}")
            return 0
    if hint is bool and not isinstance(value, bool):
        problems.append(f"{path}: expected true or false, got {value!r}")
        return False
    if hint is int and (isinstance(value, bool) or not isinstance(value, int)):
        problems.append(f"{path}: expected an integer, got {value!r}")
        return 0
    if hint is str and not isinstance(value, str):
        problems.append(f"{path}: expected a string, got {value!r}")
        return ""
    _choose(value, _CHOICES.get(qualname), path, problems)
    return value


def _choose(value: object, choices: tuple[str, ...] | None, path: str, problems: list[str]) -> None:
    if choices and value not in choices:
        shown = ", ".join(c or '""' for c in choices)  # "" = use the default (secret_actions)
        problems.append(f"{path}: {value!r} is not one of {shown}")


def build_rules(data: object, problems: list[str], checks: Sequence[CheckSpec]) -> list[Rule]:
    """`[[rule]]` tables, each with every registered check's options and action."""
    if not isinstance(data, list):
        problems.append(f"rule: expected a list, got {type(data).__name__}")
        return []
    return [_rule(item, f"rule[{i}]", problems, checks) for i, item in enumerate(data)]


def _rule(data: object, where: str, problems: list[str], checks: Sequence[CheckSpec]) -> Rule:
    if not isinstance(data, dict):
        problems.append(f"{where}: expected a table, got {type(data).__name__}")
        return Rule()
    rest = dict(data)
    options: dict[str, object] = {}
    taken = ["actions"]  # keys the checks own, for "did you mean" on the rule's own keys
    for check in checks:
        keys = keys_of(check.Options)
        if check.inline:
            table, path = {k: rest.pop(k) for k in keys if k in rest}, where
            taken += keys
        elif keys:
            table, path = rest.pop(check.name, {}), f"{where}.{check.name}"
            taken.append(check.name)
        else:
            table, path = {}, where  # no settings: `[rule.<name>]` stays an unknown key
        opts = build(check.Options, table, path, problems)
        if isinstance(opts, SelfChecking):
            problems.extend(opts.problems(path))
        options[check.name] = opts
    actions = _actions(rest.pop("actions", {}), f"{where}.actions", problems, checks)
    rule = build(Rule, rest, where, problems, also=taken)
    rule.checks, rule.actions = options, actions
    return rule


def _actions(data: object, path: str, problems: list[str], checks: Sequence[CheckSpec]) -> Actions:
    """`[rule.actions]`: a key per registered check; a check not named keeps its default."""
    chosen = {c.name: c.default_action for c in checks}
    if not isinstance(data, dict):
        problems.append(f"{path}: expected a table, got {type(data).__name__}")
        return Actions(chosen)
    for key, value in data.items():
        if key not in chosen:
            _unknown(key, f"{path}.{key}", chosen, problems)
        elif not isinstance(value, str):
            problems.append(f"{path}.{key}: expected a string, got {value!r}")
        else:
            _choose(value, ACTIONS, f"{path}.{key}", problems)
            chosen[key] = value
    return Actions(chosen)
