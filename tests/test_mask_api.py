"""The `mask` action for API content writes: the Contents API PUT and GraphQL
createCommitOnBranch are relayed with the file masked, through the fake GitHub API over the
same bare repos real git reads."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from gitgate.api.masked import CannotMask, reencode
from gitgate.mask.values import Secret
from gitgate.store import sessions
from tests.fixtures import secrets
from tests.fixtures.github_api import FakeGitHubApi
from tests.fixtures.upstream import git, upstream_ref
from tests.test_api_e2e import (  # noqa: F401 (api is a fixture)
    COMMIT_ON_BRANCH,
    MakeGate,
    api,
    api_gate,
    b64,
    call,
)
from tests.test_mask_e2e import MASK_RULES, all_objects, gate_data

KEY = secrets.AWS_ACCESS_KEY_ID
MARK = "**gitgate-masked:AWS Access Key:"


def _check_masked_answer(out: dict, path: str, line: int) -> None:
    info = out["gitgate"]
    (m,) = info["masked"]
    assert m["location"] == f"{path}:{line}" and m["type"] == "AWS Access Key"
    assert m["marker"].startswith(MARK) and m["hash"][:8] in m["marker"]
    assert "rotate" in info["message"] and f"{path}:{line}" in info["message"]
    assert KEY not in json.dumps(out)


@pytest.mark.slow
def test_contents_put_with_a_secret_lands_masked(
    make_gate: MakeGate,
    api: FakeGitHubApi,  # noqa: F811
    seeded: tuple[Path, str],
) -> None:
    bare, _ = seeded
    gate = api_gate(make_gate, api, MASK_RULES)
    text = f"import boto3\n\nKEY = '{KEY}'\nregion = 'eu-west-1'\n"
    status, _, out = call(
        gate,
        "PUT",
        "/repos/acme/app/contents/src/cfg.py",
        {"message": "config", "content": b64(text), "branch": "main"},
    )
    assert status in (200, 201), out
    _check_masked_answer(out, "src/cfg.py", 3)
    shown = git("show", "main:src/cfg.py", cwd=bare).stdout
    lines = shown.split("\n")
    assert len(lines) == len(text.split("\n")) and lines[0] == "import boto3"
    assert lines[2].startswith(f"KEY = '{MARK}") and lines[3] == "region = 'eu-west-1'"
    assert KEY.encode() not in all_objects(bare)
    assert KEY.encode() not in gate_data(gate)
    rec = next(r for r in sessions.list_sessions(limit=50) if r["service"] == "rest")
    assert rec["decision"] == "mask"
    (event,) = rec["events"]
    assert event["event"] == "masked" and event["secrets"][0]["path"] == "src/cfg.py"


@pytest.mark.slow
def test_graphql_commit_on_branch_with_a_secret_lands_masked(
    make_gate: MakeGate,
    api: FakeGitHubApi,  # noqa: F811
    seeded: tuple[Path, str],
) -> None:
    bare, _ = seeded
    gate = api_gate(make_gate, api, MASK_RULES)
    head = upstream_ref(bare, "refs/heads/main")
    text = f"a = 1\nKEY = '{KEY}'\n"
    variables = {
        "input": {
            "branch": {"repositoryNameWithOwner": "acme/app", "branchName": "main"},
            "expectedHeadOid": head,
            "message": {"headline": "via graphql"},
            "fileChanges": {
                "additions": [
                    {"path": "src/g.py", "contents": b64(text)},
                    {"path": "src/clean.py", "contents": b64("b = 2\n")},
                ]
            },
        }
    }
    status, _, out = call(
        gate, "POST", "/api/graphql", {"query": COMMIT_ON_BRANCH, "variables": variables}
    )
    assert status == 200, out
    _check_masked_answer(out, "src/g.py", 2)
    new = upstream_ref(bare, "refs/heads/main")
    assert out["data"]["createCommitOnBranch"]["commit"]["oid"] == new != head
    assert git("show", "main:src/g.py", cwd=bare).stdout.startswith(f"a = 1\nKEY = '{MARK}")
    assert git("show", "main:src/clean.py", cwd=bare).stdout == "b = 2\n"
    assert KEY.encode() not in all_objects(bare)
    assert KEY.encode() not in gate_data(gate)


def test_reencode_masks_base64_literals_messages_and_fails_closed() -> None:
    secret = Secret(KEY.encode(), b"**gitgate-masked:AWS Access Key:12345678**", "AWS", "1234")
    content = base64.b64encode(f"x = 1\nKEY = '{KEY}'\n".encode()).decode()
    literal = (
        'mutation { createCommitOnBranch(input: {fileChanges: {additions: [{path: "a.py", '
        f'contents: "{content}"}}]}}, message: {{headline: "add {KEY}"}}}})'
        " { commit { oid } } }"
    )
    out = json.loads(reencode(json.dumps({"query": literal}).encode(), [secret]))
    assert (
        KEY not in out["query"]
        and "add **gitgate-masked:AWS Access Key:12345678**" in (out["query"])
    )
    (encoded,) = re.findall(r'contents: "([^"]*)"', out["query"])
    assert base64.b64decode(encoded) == (
        b"x = 1\nKEY = '**gitgate-masked:AWS Access Key:12345678**'\n"
    )
    # a value the gate cannot find again in the body is not relayed
    with pytest.raises(CannotMask):
        reencode(json.dumps({"content": content}).encode(), [])


@pytest.mark.slow
def test_queued_contents_put_with_a_secret_is_masked_before_it_is_stored(
    make_gate: MakeGate,
    api: FakeGitHubApi,  # noqa: F811
    seeded: tuple[Path, str],
) -> None:
    bare, _ = seeded
    rules = [
        {
            **MASK_RULES[0],
            "protected_paths": ["deploy/**"],
            "reviewers": ["maintainers"],
            "actions": {"secrets": "mask", "protected_paths": "queue"},
        }
    ]
    gate = api_gate(make_gate, api, rules)
    before = upstream_ref(bare, "refs/heads/main")
    status, _, out = call(
        gate,
        "PUT",
        "/repos/acme/app/contents/deploy/prod.yaml",
        {"message": "deploy", "content": b64(f"replicas: 3\nkey: {KEY}\n"), "branch": "main"},
    )
    assert status == 202, out
    assert "secret(s) masked before queueing" in out["message"] and out["queue_id"] == 1
    assert "rotate it" in out["message"] and "deploy/prod.yaml:2" in out["message"]
    assert upstream_ref(bare, "refs/heads/main") == before
    assert KEY.encode() not in gate_data(gate)
    assert gate.cli("review", "approve", "1", "--as", "alice", "--group", "maintainers") == 0
    assert upstream_ref(bare, "refs/heads/main") == out["sha"] != before
    shown = git("show", "main:deploy/prod.yaml", cwd=bare).stdout
    assert shown.startswith(f"replicas: 3\nkey: {MARK}")
    assert KEY.encode() not in all_objects(bare)
    assert KEY.encode() not in gate_data(gate)


def test_reencode_masks_base64_wrapped_over_lines() -> None:
    """Contents `content` wrapped at 76 columns (as some clients send it; the gate decodes
    it leniently) is masked whole: a secret across two lines of base64 is not missed."""
    secret = Secret(KEY.encode(), b"**gitgate-masked:AWS Access Key:12345678**", "AWS", "1234")
    text = ("# " + "x" * 50 + "\n") * 3 + f"KEY = '{KEY}'\n"
    flat = base64.b64encode(text.encode()).decode()
    wrapped = "\n".join(flat[i : i + 76] for i in range(0, len(flat), 76))
    assert not any(KEY.encode() in base64.b64decode(line) for line in wrapped.split("\n"))
    out = json.loads(reencode(json.dumps({"content": wrapped}).encode(), [secret]))
    decoded = base64.b64decode(out["content"])
    assert KEY.encode() not in decoded and decoded.endswith(
        b"KEY = '" + secret.replacement + b"'\n"
    )
