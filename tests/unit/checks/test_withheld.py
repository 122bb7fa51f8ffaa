"""gitgate.checks.withheld: a ref name that carries a secret never reaches a record."""

from __future__ import annotations

from gitgate.checks.base import Finding, Verdict
from gitgate.checks.secrets import Secrets
from gitgate.checks.withheld import markers, scrub
from gitgate.config import Rule
from gitgate.git.wire import Command
from gitgate.policy import Action, Decision
from gitgate.scanning import SecretScanner
from tests.fixtures.secrets import GITHUB_TOKEN
from tests.unit.factories import REF, Repo, context, load_config, make_push, rules_for, update

LEAKY = "refs/heads/fix-" + GITHUB_TOKEN


def decision(ref: str, *verdicts: Verdict) -> Decision:
    cmd = Command(b"0" * 40, b"1" * 40, ref.encode())
    return Decision(cmd, Rule(name="r"), Action.REJECT, Action.REJECT, verdicts=verdicts)


def named(ref: str, passed: bool = False, path: str = "ref name") -> Verdict:
    f = Finding("secrets", ref, "GitHub Token", path=path, type="GitHub Token", hash="1a2b3c4d5e6f")
    return Verdict("secrets", ref, passed=passed, findings=[f])


def test_a_refused_secret_in_a_ref_name_gets_a_marker() -> None:
    found = markers([decision(LEAKY, named(LEAKY)), decision(REF, named(REF, path="a.py"))])
    assert found == {LEAKY: "<ref name withheld: GitHub Token 1a2b3c4d5e6f>"}
    assert markers([decision(LEAKY, named(LEAKY, passed=True))]) == {}


def test_scrub_replaces_the_name_everywhere_in_a_record_keys_included() -> None:
    withheld = {LEAKY: "<withheld>"}
    record = {
        "ref_updates": [{"ref": LEAKY, "old": "0" * 40}],
        "statuses": {LEAKY: "ng " + LEAKY + " refused"},
        "pair": (LEAKY, 3),
        "count": 2,
    }
    assert scrub(record, withheld) == {
        "ref_updates": [{"ref": "<withheld>", "old": "0" * 40}],
        "statuses": {"<withheld>": "ng <withheld> refused"},
        "pair": ["<withheld>", 3],
        "count": 2,
    }
    assert scrub(record, {}) is record  # nothing withheld: the record as it was
    assert GITHUB_TOKEN not in str(scrub(record, withheld))


def test_the_secrets_check_finding_is_what_markers_read(scanner: SecretScanner) -> None:
    repo = Repo()
    tip = repo.commit({"a.txt": b"a\n"})
    push = make_push(repo, update(LEAKY, None, tip))
    cfg = load_config()
    verdicts = Secrets().run(push, rules_for(push, cfg.rule[0]), context(cfg, scanner))
    (marker,) = markers([decision(LEAKY, *verdicts)]).values()
    assert marker.startswith("<ref name withheld: GitHub Token ") and GITHUB_TOKEN not in marker
