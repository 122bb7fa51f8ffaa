"""Secrets pushed through real git: refused in-band, located, never written down."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from tests.fixtures import secrets
from tests.fixtures.gate import GateServer
from tests.fixtures.upstream import UpstreamServer, commit, git, rev, upstream_ref

MakeGate = Callable[..., GateServer]
VALUES = [
    secrets.AWS_ACCESS_KEY_ID,
    secrets.AWS_SECRET_ACCESS_KEY,
    secrets.GITHUB_TOKEN,
    secrets.PRIVATE_KEY_PEM.split("\n")[1],
    secrets.KEYWORD_VALUE,
]


def everything_written(gate: GateServer) -> str:
    """Session records, the JSON-lines export and queued pushes: all the gate wrote down."""
    from gitgate.db.fields import utcnow
    from gitgate.store import queue, sessions

    out = io.StringIO()
    sessions.export_jsonl(utcnow() - timedelta(days=1), out)
    pushes = [str(p.to_dict()) for p in queue.list_pushes()]
    return out.getvalue() + "\n".join(pushes)


def test_secrets_refused_with_locations(
    make_gate: MakeGate,
    seeded: tuple[Path, str],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    bare, repo = seeded
    gate = make_gate()
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo), str(work))
    before = upstream_ref(bare, "refs/heads/main")
    data, planted = secrets.python_source(["aws_access_key_id", "github_token", "private_key"])
    # a secret in an added line of an existing file, too
    app = (work / "src/app.py").read_text() + f'TOKEN = "{secrets.GITHUB_TOKEN}"\n'
    tip = commit(work, {"config/settings.py": data.decode(), "src/app.py": app}, "settings")
    result = git("push", "origin", "HEAD:main", cwd=work, check=False)
    assert result.returncode != 0
    assert "! [remote rejected] HEAD -> main (rule default:" in result.stderr
    for p in planted:
        assert f"{p.type} at config/settings.py:{p.line} (commit {tip[:12]}" in result.stderr
    assert f"GitHub Token at src/app.py:3 (commit {tip[:12]}" in result.stderr
    assert "rotate the secret" in result.stderr
    assert upstream_ref(bare, "refs/heads/main") == before
    written = everything_written(gate)
    assert "config/settings.py" in written  # the finding's location was recorded...
    for value in VALUES:  # ...and no value anywhere: git's output, logs, records
        assert value not in result.stderr
        assert value not in caplog.text
        assert value not in written
    assert gate.cli("sessions", "list") == 0
    assert "reject" in capsys.readouterr().out


def test_existing_secret_not_blocked_again_but_tags_and_merges_scanned(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path, upstream: UpstreamServer
) -> None:
    bare, repo = seeded
    # a secret that is already upstream (a human put it there)
    direct = tmp_path / "direct"
    git("clone", "-q", str(bare), str(direct))
    commit(direct, {"legacy.py": f'KEY = "{secrets.AWS_ACCESS_KEY_ID}"\n'}, "legacy")
    git("push", "-q", "origin", "HEAD:main", cwd=direct)
    gate = make_gate()
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo), str(work))
    # editing another line of that file is fine: the secret line is not new
    commit(work, {"legacy.py": f'KEY = "{secrets.AWS_ACCESS_KEY_ID}"\nX = 1\n'}, "edit")
    result = git("push", "origin", "HEAD:main", cwd=work, check=False)
    assert result.returncode == 0, result.stderr
    # a secret reachable only through a tag is scanned
    git("checkout", "-q", "-b", "side", cwd=work)
    side = commit(work, {"side.py": f'T = "{secrets.GITHUB_TOKEN}"\n'}, "side")
    git("tag", "-a", "-m", "release", "v9", side, cwd=work)
    result = git("push", "origin", "v9", cwd=work, check=False)
    assert result.returncode != 0 and "GitHub Token at side.py:1" in result.stderr
    # and one brought in by a merge
    git("checkout", "-q", "main", cwd=work)
    git("merge", "-q", "--no-edit", "side", cwd=work)
    result = git("push", "origin", "HEAD:main", cwd=work, check=False)
    assert result.returncode != 0 and "GitHub Token at side.py:1" in result.stderr
    assert upstream_ref(bare, "refs/tags/v9") is None


def test_allowlisted_hash_and_path(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    bare, repo = seeded
    gate = make_gate()
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo), str(work))
    commit(work, {"x.py": f'K = "{secrets.GITHUB_TOKEN}"\n'}, "x")
    result = git("push", "origin", "HEAD:main", cwd=work, check=False)
    short = result.stderr.split("secret hash ")[1][:12]
    allow = make_gate(
        sections={"scan": {"allowlist_hashes": [short], "allowlist_paths": ["fixtures/**"]}}
    )
    git("remote", "set-url", "origin", allow.remote(repo), cwd=work)
    commit(work, {"fixtures/aws.py": f'A = "{secrets.AWS_ACCESS_KEY_ID}"\n'}, "fixture")
    result = git("push", "origin", "HEAD:main", cwd=work, check=False)
    assert result.returncode == 0, result.stderr
    assert upstream_ref(bare, "refs/heads/main") == rev(work)


def test_break_glass_and_webhook(
    make_gate: MakeGate,
    seeded: tuple[Path, str],
    tmp_path: Path,
    upstream: UpstreamServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gitgate.auth.factory import gate_issuer, revocation_store
    from tests.fixtures.webhook import WebhookReceiver

    bare, repo = seeded
    monkeypatch.setenv("HOOK_SECRET", "webhook-signing-key")
    with WebhookReceiver() as hook:
        rules = [{"name": "glass", "allow_break_glass": True, "break_glass_groups": ["oncall"]}]
        gate = make_gate(
            rules, sections={"notify": {"webhook_url": hook.url, "secret": "env:HOOK_SECRET"}}
        )
        work = tmp_path / "w"
        git("clone", "-q", gate.remote(repo), str(work))
        commit(work, {"k.py": f'K = "{secrets.GITHUB_TOKEN}"\n'}, "emergency")
        result = git(
            "push",
            "-o",
            "gitgate.reason=prod is down, INC-42",
            "origin",
            "HEAD:main",
            cwd=work,
            check=False,
        )
        # break-glass needs the identity in break_glass_groups: anonymous is refused
        assert result.returncode != 0 and "break-glass" not in result.stderr
        gate2 = make_gate(
            rules,
            sections={
                "notify": {"webhook_url": hook.url, "secret": "env:HOOK_SECRET"},
                "auth": {"required": True},
            },
        )
        issuer = gate_issuer(gate2.config, revocation_store())
        token = issuer.issue(subject="oncall-1", groups=["oncall"], ttl_s=600)[0]
        git("remote", "set-url", "origin", gate2.remote(repo, token), cwd=work)
        result = git(
            "push",
            "-o",
            "gitgate.reason=prod is down, INC-42",
            "origin",
            "HEAD:main",
            cwd=work,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert "break-glass used" in result.stderr
        assert upstream_ref(bare, "refs/heads/main") == rev(work)
        event = hook.wait_for("break_glass")
        assert event["pusher"] == "oncall-1" and "INC-42" in event["reason"]
        assert secrets.GITHUB_TOKEN not in str(event)
        from gitgate.store import sessions

        (record,) = [r for r in sessions.list_sessions() if r["decision"] == "break-glass"]
        assert record["subject"] == "oncall-1"
        assert {"check": "secrets", "action": "allow", "policy_action": "reject"}.items() <= (
            next(v for v in record["verdicts"] if v["check"] == "secrets").items()
        )


class CountingScanner:
    """The real scanner, counting calls and the largest batch it was handed."""

    def __init__(self, real: object) -> None:
        self.real, self.calls, self.largest = real, 0, 0

    def scan(self, blobs: list[tuple[bytes, str, bytes]], *, budget_s: float) -> object:
        self.calls += 1
        self.largest = max(self.largest, sum(len(b[2]) for b in blobs))
        return self.real.scan(blobs, budget_s=budget_s)  # type: ignore[attr-defined]


def test_large_pushes_are_scanned_in_bounded_batches(
    make_gate: MakeGate,
    seeded: tuple[Path, str],
    tmp_path: Path,
    scanner: object,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import gitgate.checks.secrets as secrets_check

    monkeypatch.setattr(secrets_check, "BATCH_BYTES", 10_000)
    _, repo = seeded
    counting = CountingScanner(scanner)
    gate = make_gate(scanner=counting)
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo), str(work))
    files: dict[str, str | bytes | None] = {
        f"src/m{i}.py": "".join(f"value_{i}_{j} = {j}\n" for j in range(300)) for i in range(10)
    }
    files["src/z_last.py"] = f'T = "{secrets.GITHUB_TOKEN}"\n'
    commit(work, files, "many modules")
    result = git("push", "origin", "HEAD:main", cwd=work, check=False)
    assert result.returncode != 0 and "GitHub Token at src/z_last.py:1" in result.stderr
    assert counting.calls >= 3
    assert counting.largest < 10_000 + 6_000  # a batch closes once past the bound


def test_secret_in_a_commit_message(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    bare, repo = seeded
    gate = make_gate()
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo), str(work))
    before = upstream_ref(bare, "refs/heads/main")
    tip = commit(
        work,
        {"ok.py": "ok = 1\n"},
        f"Fix CI\n\nused GITHUB_TOKEN={secrets.GITHUB_TOKEN} to test it",
    )
    result = git("push", "origin", "HEAD:main", cwd=work, check=False)
    assert result.returncode != 0
    assert f"GitHub Token at commit message:3 (commit {tip[:12]}" in result.stderr
    assert "or the commit message" in result.stderr
    assert secrets.GITHUB_TOKEN not in result.stderr
    assert upstream_ref(bare, "refs/heads/main") == before
    # and in an annotated tag's message, on a commit upstream already has
    git("tag", "-a", "-m", f"release\n\ntoken {secrets.GITHUB_TOKEN}", "v2", before, cwd=work)
    result = git("push", "origin", "v2", cwd=work, check=False)
    assert result.returncode != 0 and "GitHub Token at tag message:3" in result.stderr
    assert upstream_ref(bare, "refs/tags/v2") is None
