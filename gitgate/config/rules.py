"""`[[rule]]`: who may do what where, and what each check's failure does there.

A rule's own keys (repos, refs, groups, access, queueing, break-glass) are fields here. The
checks' settings are not: each check declares them (`gitgate.config.registry`), and loading
puts one options object per registered check in `Rule.checks` and one action per check in
`Rule.actions`. So a new check needs no edit here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from gitgate.config.registry import find, registered

ACCESS_LEVELS = ("none", "read", "write")
OptionsT = TypeVar("OptionsT")
NOT_A_KEY = {"toml": False}  # field metadata: set by loading, never read from the file


class Actions:
    """`[rule.actions]`: what a failure of each check does, by check name.

    Loading fills it for every registered check (the table's value, else the check's declared
    `default_action`). A rule built in code falls back on the same defaults, so a check is never
    "reject" (or "allow") because someone forgot a line here. `rule.actions.secrets` reads and
    assigns like an attribute; a name no check is registered under is an AttributeError.
    """

    def __init__(self, chosen: Mapping[str, str] | None = None) -> None:
        self.__dict__["_chosen"] = dict(chosen or {})

    def __getattr__(self, check: str) -> str:
        if check.startswith("_"):
            raise AttributeError(check)
        chosen: dict[str, str] = self.__dict__["_chosen"]
        if check in chosen:
            return chosen[check]
        spec = find(check)
        if spec is None:
            raise AttributeError(f"no check is registered as {check!r}")
        return spec.default_action

    def __setattr__(self, check: str, action: str) -> None:
        self.__dict__["_chosen"][check] = action

    def items(self) -> Iterator[tuple[str, str]]:
        """(check, action) for every registered check, then any other name set in code."""
        names = [c.name for c in registered()]
        names += [n for n in self.__dict__["_chosen"] if n not in names]
        return ((n, getattr(self, n)) for n in names)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Actions) and dict(self.items()) == dict(other.items())

    def __repr__(self) -> str:
        return f"Actions({dict(self.items())!r})"


@dataclass
class ApiActionsConfig:
    """What a rule does with GitHub API calls that write no repository content (gitgate.api)."""

    text: str = "allow"
    admin: str = "reject"
    publish: str = "queue"
    merge: str = "allow"


@dataclass
class SecretActionsConfig:
    """Per-confidence actions for secret findings; "" means `actions.secrets`, so a config
    without this table keeps its meaning (every secret gets `actions.secrets`)."""

    high: str = ""
    medium: str = ""
    low: str = ""


@dataclass
class Rule:
    name: str = ""
    repos: list[str] = field(default_factory=lambda: ["**"])
    refs: list[str] = field(default_factory=lambda: ["**"])
    groups: list[str] = field(default_factory=lambda: ["*"])
    access: str = "write"
    dry_run: bool = False
    actions: Actions = field(default_factory=Actions, metadata=NOT_A_KEY)
    api: ApiActionsConfig = field(default_factory=ApiActionsConfig)
    secret_actions: SecretActionsConfig = field(default_factory=SecretActionsConfig)
    reviewers: list[str] = field(default_factory=list)
    approvals: int = 1
    queue_expiry: int = 7 * 86400
    wait: int = 0
    allow_break_glass: bool = False
    break_glass_groups: list[str] = field(default_factory=list)
    # check name -> that check's Options (gitgate.config.registry), filled by loading
    checks: dict[str, object] = field(default_factory=dict, metadata=NOT_A_KEY)

    def options(self, check: str, cls: type[OptionsT]) -> OptionsT:
        """This rule's settings for `check`, typed; the check's defaults when the rule was
        built in code without them."""
        value = self.checks.get(check)
        return value if isinstance(value, cls) else cls()

    def __getattr__(self, key: str) -> object:
        """The config file's spelling of a check's settings, for code that reads one setting
        (`rule.secrets`, `rule.protected_paths`, `rule.deny`): an inline option's value, or a
        table check's options. Checks themselves use the typed `options()`."""
        if key.startswith("_"):
            raise AttributeError(key)
        for check in registered():
            opts = self.__dict__.get("checks", {}).get(check.name) or check.Options()
            if not check.inline and key == check.name:
                return opts
            if check.inline and key in {f.name for f in dataclasses.fields(check.Options)}:
                return getattr(opts, key)
        raise AttributeError(f"'Rule' object has no attribute {key!r}")
