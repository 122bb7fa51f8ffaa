"""What the config reads from each registered check: its name, options, and default action.

The checks own their settings (issue #9): a check module declares an `Options` frozen
dataclass and a `default_action`, and the ordered list `gitgate.checks.DEFAULT_CHECKS` is the
one registry. Config loading, `check-config`, `gitgate explain` and the docs test all read it
through here, so adding a check is one module and one line in that list.

The check modules import `gitgate.config` (for `Rule`), so this module reaches the registry
lazily, at call time: importing the config never imports a check.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

ACTIONS = ("allow", "reject", "queue", "mask")


class CheckSpec(Protocol):
    """The declarative half of a check (the other half, `run`, is `gitgate.checks.Check`);
    a check class states these as plain class attributes."""

    name: str

    @property
    def Options(self) -> type[DataclassInstance]:
        """A frozen dataclass of the check's settings, read from `[rule.<name>]`, or when
        `inline` from the `[[rule]]` table itself (`protected_paths = [...]`)."""

    @property
    def inline(self) -> bool: ...

    @property
    def default_action(self) -> str:
        """What a failure does when `[rule.actions]` does not say."""

    @property
    def maskable(self) -> bool:
        """Whether the gate can rewrite the check's findings away (`mask`)."""


@runtime_checkable
class SelfChecking(Protocol):
    """Options that check themselves beyond their types (regexes that must compile...)."""

    def problems(self, where: str) -> list[str]: ...


@runtime_checkable
class Summarised(Protocol):
    """Options that say what they do in a few words for `gitgate explain`."""

    def summary(self) -> str: ...


def registered() -> Sequence[CheckSpec]:
    """The registered checks, in the order they run."""
    import gitgate.checks  # lazily: the check modules import this package

    return gitgate.checks.DEFAULT_CHECKS


def find(name: str, checks: Sequence[CheckSpec] | None = None) -> CheckSpec | None:
    """The check registered as `name` (in `checks`, default the registry), or None."""
    return next((c for c in (registered() if checks is None else checks) if c.name == name), None)


def summary(options: object) -> str:
    """What `options` do, for `gitgate explain`: their own words, else `key=value` pairs."""
    import dataclasses

    if isinstance(options, Summarised):
        return options.summary()
    if dataclasses.is_dataclass(options):
        return " ".join(
            f"{f.name}={getattr(options, f.name)!r}" for f in dataclasses.fields(options)
        )
    return str(options)
