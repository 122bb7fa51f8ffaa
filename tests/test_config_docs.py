"""The configuration reference and the example config against the keys the code takes.

Compared by full key path (`notify.timeout`, not `timeout`), both ways: every key the config
dataclasses and the check registry take is documented, and every documented key exists. A
bare name would be found anywhere (`timeout` is a key of four tables), so deleting one table's
row would go unnoticed; a path cannot.
"""

from __future__ import annotations

import re
from pathlib import Path

from gitgate.config.keys import key_paths
from gitgate.config.registry import registered

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "configuration.md"
EXAMPLE = ROOT / "config" / "gitgate.example.toml"

# a heading naming a table: "## `[server]`", "### `[[auth.oidc]]`", "### `[rule.deny]`"
_HEADING = re.compile(r"^#+ `\[\[?([\w.]+)\]\]?`")
_ROW = re.compile(r"^\| `(\w+)` \|")  # a reference row: | `key` | default | meaning |
# in the example, set or commented out: "[rule.deny]", "# [upstream.app]", "# app_id = 1"
_TABLE = re.compile(r"^#?\s*\[\[?([\w.]+)\]\]?")
_KEY = re.compile(r"^#?\s*(\w+)\s*=")


def documented(reference: str) -> set[str]:
    """Key paths the reference documents: each table heading, and each row under it."""
    paths: set[str] = set()
    table = ""
    for line in reference.splitlines():
        if m := _HEADING.match(line):
            table = m.group(1)
            paths.add(table)
        elif table and (m := _ROW.match(line)):
            paths.add(f"{table}.{m.group(1)}")
    return paths


def exemplified(example: str) -> set[str]:
    """Key paths the example config shows, set or commented out (`# [upstream.app]`)."""
    paths: set[str] = set()
    table = ""
    for line in example.splitlines():
        if m := _TABLE.match(line):
            table = m.group(1)
            paths.add(table)
        elif m := _KEY.match(line):
            paths.add(f"{table}.{m.group(1)}" if table else m.group(1))
    return paths


def compare(shown: set[str], keys: list[str]) -> tuple[list[str], list[str]]:
    """(keys not shown, shown paths that are no key)."""
    return [k for k in keys if k not in shown], sorted(shown - set(keys))


def test_every_key_is_in_the_reference_and_nothing_else() -> None:
    missing, unknown = compare(documented(REFERENCE.read_text()), key_paths())
    assert not missing, f"keys without a row in docs/configuration.md: {missing}"
    assert not unknown, f"rows in docs/configuration.md for keys that do not exist: {unknown}"


def test_every_key_is_in_the_example_and_nothing_else() -> None:
    missing, unknown = compare(exemplified(EXAMPLE.read_text()), key_paths())
    assert not missing, f"keys missing from config/gitgate.example.toml: {missing}"
    assert not unknown, f"keys in config/gitgate.example.toml that do not exist: {unknown}"


def test_every_check_is_named_where_checks_are_described() -> None:
    readme = (ROOT / "README.md").read_text()
    for check in registered():
        assert f"`{check.name}`" in readme, f"README.md does not describe the {check.name} check"


def test_a_deleted_row_is_caught_by_its_full_path() -> None:
    """`timeout` is also a key of [server], [upstream] and [hooks]: only its path tells that
    [notify]'s row is gone."""
    reference = REFERENCE.read_text()
    row = next(line for line in reference.splitlines() if line.startswith("| `timeout` | `10`"))
    gone = reference.replace(row + "\n", "")
    assert "`timeout`" in gone  # the bare name is still there, for the other tables
    missing, unknown = compare(documented(gone), key_paths())
    assert missing == ["notify.timeout"] and not unknown


def test_a_row_for_a_removed_key_is_caught() -> None:
    reference = REFERENCE.read_text().replace("| `max_attempts` |", "| `max_attempt` |")
    missing, unknown = compare(documented(reference), key_paths())
    assert missing == ["notify.max_attempts"] and unknown == ["notify.max_attempt"]


def test_the_reference_states_each_checks_default_action() -> None:
    """`[rule.actions]` rows give the default each check declares (`default_action`)."""
    reference = REFERENCE.read_text()
    table = reference[reference.index("### `[rule.actions]`") :].split("\n### ")[0]
    rows = dict(re.findall(r"^\| `(\w+)` \| `(\w+)` \|", table, re.MULTILINE))
    assert rows == {c.name: c.default_action for c in registered()}
