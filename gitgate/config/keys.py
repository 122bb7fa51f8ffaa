"""Every key the config file takes, by its full path (`notify.timeout`, `rule.deny.force_push`).

Derived from the section dataclasses and the check registry, never listed by hand: the docs
test compares these paths with the documented ones both ways, so a key cannot be added
without its row, nor a row outlive its key.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Sequence
from typing import TYPE_CHECKING

from gitgate.config.build import keys_of
from gitgate.config.registry import CheckSpec, registered
from gitgate.config.sections import Config

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


def key_paths(checks: Sequence[CheckSpec] | None = None) -> list[str]:
    """Every key path, tables included (`upstream.app` and `upstream.app.app_id`);
    `[[rule]]` has its own keys, `actions.<check>` and each check's settings."""
    checks = registered() if checks is None else checks
    paths = _walk(Config, "")
    paths += ["rule.actions", *(f"rule.actions.{c.name}" for c in checks)]
    for check in checks:
        if check.inline:
            paths += _walk(check.Options, "rule.")
        elif keys_of(check.Options):
            paths += [f"rule.{check.name}", *_walk(check.Options, f"rule.{check.name}.")]
    return paths


def _walk(cls: type[DataclassInstance], prefix: str) -> list[str]:
    hints = typing.get_type_hints(cls)
    out = []
    for key in keys_of(cls):
        out.append(prefix + key)
        table = _table(hints[key])
        if table is not None:
            out += _walk(table, f"{prefix}{key}.")
    return out


def _table(hint: object) -> type[DataclassInstance] | None:
    """The dataclass a key holds (also as `X | None` or `list[X]`), else None."""
    if typing.get_origin(hint) in (types.UnionType, typing.Union, list):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        hint = args[0] if len(args) == 1 else None
    return hint if isinstance(hint, type) and dataclasses.is_dataclass(hint) else None
