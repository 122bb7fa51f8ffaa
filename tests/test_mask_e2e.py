"""The `mask` action through real git: the push lands, upstream gets only masked history."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fixtures import secrets
from tests.fixtures.gate import GateServer
from tests.fixtures.upstream import commit, git, rev, upstream_ref

MakeGate = Callable[..., GateServer]
MASK_RULES = [
    {
        "name": "masking",
        "repos": ["**"],
        "refs": ["**"],
        "groups": ["*"],
        "access": "write",
        "actions": {"secrets": "mask"},
    }
]


def all_objects(git_dir: Path) -> bytes:
    """Every object a repository holds, reachable or not, inflated."""
    return subprocess.run(
        ["git", "--git-dir", str(git_dir), "cat-file", "--batch-all-objects", "--batch"],
        capture_output=True,
        check=True,
    ).stdout


def gate_data(gate: GateServer) -> bytes:
    """Every byte the gate keeps on disk (the SQLite database, spools, logs...) and every
    object of every git directory in it (packs are compressed: read them through git)."""
    root = Path(gate.config.storage.data_dir)
    files = b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())
    repos = [p.parent for p in root.rglob("objects") if (p.parent / "HEAD").exists()]
    assert repos, "the gate keeps no mirror?"
    return files + b"".join(all_objects(r) for r in repos)


def test_mask_one_push_lands_masked(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    bare, repo = seeded
    gate = make_gate(MASK_RULES)
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo), str(work))
    key = secrets.AWS_ACCESS_KEY_ID
    text = f"import boto3\n\nKEY = '{key}'\nregion = 'eu-west-1'\n"
    mine = commit(work, {"config.py": text}, "add config")
    result = git("push", "origin", "HEAD:main", cwd=work, check=False)
    assert result.returncode == 0, result.stderr
    assert "HEAD -> main" in result.stderr and "rejected" not in result.stderr
    assert "new-oid" not in result.stderr
    up = upstream_ref(bare, "refs/heads/main")
    assert up is not None and up != mine
    shown = git("show", f"{up}:config.py", cwd=bare).stdout
    lines = shown.split("\n")
    assert len(lines) == len(text.split("\n"))  # line structure kept
    assert lines[2].startswith("KEY = '**gitgate-masked:AWS Access Key:")
    assert lines[3] == "region = 'eu-west-1'"
    # author, committer, dates and message are the agent's
    fmt = "--format=%an%n%ae%n%at%n%cn%n%ce%n%ct%n%B"
    assert (
        git("log", "-1", fmt, up, cwd=bare).stdout == git("log", "-1", fmt, mine, cwd=work).stdout
    )
    assert (
        git("rev-parse", f"{up}^", cwd=bare).stdout == git("rev-parse", f"{mine}^", cwd=work).stdout
    )
    assert git("fsck", "--strict", cwd=bare, check=False).returncode == 0
    # the secret is nowhere upstream nor in the gate's data
    assert key.encode() not in all_objects(bare)
    assert key.encode() not in gate_data(gate)
    # the agent is told what was masked, where, upstream's id, to rotate and how to sync
    err = result.stderr
    assert "AWS Access Key at config.py:3" in err
    assert "**gitgate-masked:AWS Access Key:" in err
    assert up in err
    assert "rotate it" in err
    assert "git pull --rebase" in err
    assert key not in err
    # the session record says what was masked and maps the ids
    from gitgate.store import sessions

    rows = [r for r in sessions.list_sessions() if r.get("decision") == "mask"]
    assert rows, "no session recorded the mask"
    event = next(e for e in rows[0]["events"] if e.get("event") == "masked")
    assert event["commits"] == {mine: up}
    assert event["secrets"][0]["type"] == "AWS Access Key"
    assert event["secrets"][0]["path"] == "config.py" and event["secrets"][0]["line"] == 3
    assert key not in str(rows)
    # a plain `git pull --rebase` takes upstream's masked history
    pulled = git("pull", "--rebase", "-q", "origin", "main", cwd=work, check=False)
    assert pulled.returncode == 0, pulled.stderr
    assert rev(work) == up


def test_mask_in_check_config_and_explain(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gitgate.cli import main
    from tests.fixtures.toml import dumps

    config = tmp_path / "g.toml"
    config.write_text(
        dumps(
            {
                "storage": {"data_dir": str(tmp_path / "data")},
                "upstream": {"git_url": "http://127.0.0.1:9"},
                "rule": MASK_RULES,
            }
        )
    )
    assert main(["check-config", str(config)]) == 0
    args = ["explain", "--subject", "a", "--repo", "acme/app", "--ref", "refs/heads/main"]
    assert main([*args, "-c", str(config)]) == 0
    out = capsys.readouterr().out
    assert "secrets: scanned -> mask" in out
    assert "**gitgate-masked:<type>:<hash>**" in out
    bad = tmp_path / "bad.toml"
    bad.write_text(config.read_text().replace('secrets = "mask"', 'deny = "mask"'))
    with pytest.raises(SystemExit) as exited:
        main(["check-config", str(bad)])
    assert exited.value.code == 2
    assert "rule[0].actions.deny: mask is only for secrets" in capsys.readouterr().err


def test_mask_only_for_secrets(tmp_path: Path) -> None:
    from gitgate import config

    path = tmp_path / "g.toml"
    path.write_text(
        '[[rule]]\nname = "r"\nrepos = ["**"]\nrefs = ["**"]\ngroups = ["*"]\n'
        'access = "write"\n[rule.actions]\nprotected_paths = "mask"\nsecrets = "mask"\n'
    )
    with pytest.raises(config.ConfigError) as err:
        config.load(path)
    text = str(err.value)
    assert "rule[0].actions.protected_paths: mask is only for secrets" in text
    assert "actions.secrets" not in text


def push_secret(gate: GateServer, repo: str, work: Path, bare: Path) -> tuple[str, str]:
    """Clone through the gate, commit an AWS key, push: (the agent's commit, upstream's)."""
    git("clone", "-q", gate.remote(repo), str(work))
    text = f"import boto3\n\nKEY = '{secrets.AWS_ACCESS_KEY_ID}'\n"
    mine = commit(work, {"config.py": text}, "add config")
    result = git("push", "origin", "HEAD:main", cwd=work, check=False)
    assert result.returncode == 0, result.stderr
    return mine, upstream_ref(bare, "refs/heads/main") or ""


def test_mask_next_pushes_fast_forward_onto_masked_history(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    bare, repo = seeded
    gate = make_gate(MASK_RULES)
    work = tmp_path / "w"
    mine, first = push_secret(gate, repo, work, bare)
    assert first == upstream_ref(bare, "refs/heads/main") and first != mine
    key = secrets.AWS_ACCESS_KEY_ID
    tips = [first]
    # two more commits, one push each: the second edits the masked file itself (the key's
    # line is still in the agent's copy and must be masked again)
    steps = [
        {"src/util.py": "def util():\n    return 2\n"},
        {"config.py": (work / "config.py").read_text() + "region = 'eu-west-1'\n"},
    ]
    for n, files in enumerate(steps):
        local = commit(work, files, f"step {n}")
        result = git("push", "origin", "HEAD:main", cwd=work, check=False)
        assert result.returncode == 0, result.stderr
        assert "HEAD -> main" in result.stderr and "rejected" not in result.stderr
        assert "fetch first" not in result.stderr
        up = upstream_ref(bare, "refs/heads/main")
        assert up is not None and up != local
        # a fast-forward of the masked history, with the agent's message
        assert git("rev-parse", f"{up}^", cwd=bare).stdout.strip() == tips[-1]
        assert git("log", "-1", "--format=%B", up, cwd=bare).stdout.strip() == f"step {n}"
        tips.append(up)
    assert git("show", f"{tips[-1]}:src/util.py", cwd=bare).stdout == "def util():\n    return 2\n"
    config = git("show", f"{tips[-1]}:config.py", cwd=bare).stdout
    assert "**gitgate-masked:AWS Access Key:" in config and "region = 'eu-west-1'" in config
    assert git("fsck", "--strict", cwd=bare, check=False).returncode == 0
    assert key.encode() not in all_objects(bare)
    # the agent syncs when it wants: git pull --rebase takes the masked history
    pulled = git("pull", "--rebase", "-q", "origin", "main", cwd=work, check=False)
    assert pulled.returncode == 0, pulled.stderr
    assert rev(work) == tips[-1]
    assert key not in (work / "config.py").read_text()
    # synced, the agent is shown upstream as it is: its next push is an ordinary one
    after = commit(work, {"src/after.py": "after = 1\n"}, "after the sync")
    pushed = git("push", "origin", "HEAD:main", cwd=work, check=False)
    assert pushed.returncode == 0, pushed.stderr
    assert upstream_ref(bare, "refs/heads/main") == after
    # a second agent sees only the masked history
    other = tmp_path / "other"
    git("clone", "-q", gate.remote(repo), str(other))
    assert rev(other) == after
    assert key.encode() not in all_objects(other / ".git")
    assert key.encode() not in gate_data(gate)


@pytest.mark.slow
def test_mask_merge_tag_and_commit_message(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    bare, repo = seeded
    gate = make_gate(MASK_RULES)
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo), str(work))
    key, token = secrets.AWS_ACCESS_KEY_ID, secrets.GITHUB_TOKEN
    git("checkout", "-q", "-b", "feature", cwd=work)
    commit(work, {"config.py": f"KEY = '{key}'\n"}, "feature: config")
    git("checkout", "-q", "main", cwd=work)
    commit(work, {"README.md": "# app\n\nmore\n"}, f"docs\n\nused TOKEN = '{token}' to test\n")
    git("merge", "-q", "--no-ff", "-m", "merge feature", "feature", cwd=work)
    git("tag", "-a", "v1", "-m", "release v1", cwd=work)
    merge = rev(work)
    result = git("push", "origin", "main", "v1", cwd=work, check=False)
    assert result.returncode == 0, result.stderr
    assert "main -> main" in result.stderr and "v1 -> v1" in result.stderr
    up = upstream_ref(bare, "refs/heads/main")
    assert up is not None and up != merge
    # still a merge of two rewritten parents, with the agent's message
    parents = git("rev-list", "--parents", "-n1", up, cwd=bare).stdout.split()[1:]
    assert len(parents) == 2
    assert git("log", "-1", "--format=%s", up, cwd=bare).stdout.strip() == "merge feature"
    assert "**gitgate-masked:AWS Access Key:" in git("show", f"{up}:config.py", cwd=bare).stdout
    message = git("log", "-1", "--format=%B", parents[0], cwd=bare).stdout
    assert message.startswith("docs\n\nused TOKEN = '**gitgate-masked:GitHub Token:")
    assert "commit message" in result.stderr
    # the annotated tag was rewritten to point at the rewritten merge
    assert git("rev-parse", "v1^{commit}", cwd=bare).stdout.strip() == up
    assert git("cat-file", "-t", "v1", cwd=bare).stdout.strip() == "tag"
    assert "release v1" in git("cat-file", "tag", "v1", cwd=bare).stdout
    assert git("fsck", "--strict", cwd=bare, check=False).returncode == 0
    everything = all_objects(bare)
    assert key.encode() not in everything and token.encode() not in everything


@pytest.mark.slow
@pytest.mark.parametrize("atomic", [False, True])
def test_mask_with_another_ref_refused(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path, atomic: bool
) -> None:
    bare, repo = seeded
    rules = [{**MASK_RULES[0], "protected_paths": [".github/workflows/**"]}]
    gate = make_gate(rules)
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo), str(work))
    before = upstream_ref(bare, "refs/heads/main")
    key = secrets.AWS_ACCESS_KEY_ID
    commit(work, {"config.py": f"KEY = '{key}'\n"}, "config")
    git("checkout", "-q", "-b", "ci", cwd=work)
    commit(work, {".github/workflows/ci.yml": "on: [push]\n"}, "ci")
    args = ["push", *(["--atomic"] if atomic else []), "origin", "main", "ci"]
    result = git(*args, cwd=work, check=False)
    assert result.returncode != 0
    assert "[remote rejected] ci -> ci" in result.stderr
    assert upstream_ref(bare, "refs/heads/ci") is None
    main = upstream_ref(bare, "refs/heads/main")
    if atomic:
        assert main == before
        assert "[remote rejected] main -> main" in result.stderr
    else:
        assert main != before and main is not None
        assert "main -> main" in result.stderr
        assert (
            "**gitgate-masked:AWS Access Key:" in git("show", f"{main}:config.py", cwd=bare).stdout
        )
    everything = all_objects(bare)
    assert key.encode() not in everything
    assert b"on: [push]" not in everything  # the refused ref's objects never went upstream


@pytest.mark.slow
def test_mask_thousand_commits_after_the_secret(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    from tests.test_big_pushes import fast_import_commits

    bare, repo = seeded
    gate = make_gate(MASK_RULES)
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo), str(work))
    key = secrets.AWS_ACCESS_KEY_ID
    commit(work, {"config.py": f"KEY = '{key}'\n"}, "config")  # stays in every later tree
    fast_import_commits(work, 999)
    result = git("push", "origin", "HEAD:main", cwd=work, check=False)
    assert result.returncode == 0, result.stderr
    up = upstream_ref(bare, "refs/heads/main")
    assert up is not None
    fmt = "--format=%an|%ae|%at|%cn|%ce|%ct|%B"
    theirs = git("log", fmt, up, cwd=bare).stdout
    ours = git("log", fmt, "HEAD", cwd=work).stdout
    assert theirs == ours  # authors, dates and messages identical, in the same order
    ids_up = set(git("rev-list", up, cwd=bare).stdout.split())
    ids_local = git("rev-list", "-n", "1000", "HEAD", cwd=work).stdout.split()
    assert len(ids_local) == 1000 and not ids_up & set(ids_local)  # every new one rewritten
    assert git("fsck", "--strict", cwd=bare, check=False).returncode == 0
    assert key.encode() not in all_objects(bare)
    # the next push builds on the agent's own tip, as with a single commit
    commit(work, {"README.md": "# app\n\nnext\n"}, "next")
    again = git("push", "origin", "HEAD:main", cwd=work, check=False)
    assert again.returncode == 0, again.stderr
    assert git("rev-parse", "main^", cwd=bare).stdout.strip() == up


@pytest.mark.slow
def test_mask_a_queued_push_before_it_is_stored(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    """A ref both masked and queued is masked before it is stored: neither the queue nor,
    after approval, upstream ever holds the secret."""
    bare, repo = seeded
    rules = [
        {
            **MASK_RULES[0],
            "protected_paths": ["deploy/**"],
            "reviewers": ["maintainers"],
            "actions": {"secrets": "mask", "protected_paths": "queue"},
        }
    ]
    gate = make_gate(rules)
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo), str(work))
    before = upstream_ref(bare, "refs/heads/main")
    key = secrets.AWS_ACCESS_KEY_ID
    mine = commit(work, {"deploy/prod.yaml": f"replicas: 3\nkey: {key}\n"}, "deploy")
    result = git("push", "origin", "HEAD:main", cwd=work, check=False)
    assert result.returncode != 0
    assert "queued for approval as #1" in result.stderr
    assert "secret(s) masked before queueing" in result.stderr
    assert upstream_ref(bare, "refs/heads/main") == before
    assert key.encode() not in gate_data(gate)  # the stored push and its summary are masked
    from gitgate.store import queue

    (stored,) = queue.list_pushes()
    assert str(stored.summary).count(mine) == 0  # the reviewer sees the rewritten commit
    (stored_ref,) = stored.summary["ref_updates"]
    assert gate.cli("review", "approve", "1", "--as", "alice", "--group", "maintainers") == 0
    up = upstream_ref(bare, "refs/heads/main")
    assert up not in (before, mine) and up is not None
    assert stored_ref["new"] == up  # what was stored is what landed
    shown = git("show", f"{up}:deploy/prod.yaml", cwd=bare).stdout
    assert shown.startswith("replicas: 3\nkey: **gitgate-masked:AWS Access Key:")
    assert key.encode() not in all_objects(bare)
    assert key.encode() not in gate_data(gate)


@pytest.mark.slow
def test_mask_a_queued_push_keeps_the_map_on_approval(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path, db_url: str
) -> None:
    """After approval relays a masked, queued push, the agent's next push is translated onto
    the masked history (a fast-forward, rc 0), as after a direct masked push."""
    bare, repo = seeded
    rules = [
        {
            **MASK_RULES[0],
            "protected_paths": ["deploy/**"],
            "reviewers": ["maintainers"],
            "actions": {"secrets": "mask", "protected_paths": "queue"},
        }
    ]
    gate = make_gate(rules, db_url=db_url)
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo), str(work))
    key = secrets.AWS_ACCESS_KEY_ID
    mine = commit(work, {"deploy/prod.yaml": f"replicas: 3\nkey: {key}\n"}, "deploy")
    queued = git("push", "origin", "HEAD:main", cwd=work, check=False)
    assert queued.returncode != 0 and "queued for approval as #1" in queued.stderr
    from gitgate.mask import mapping

    assert mapping.load(repo) == {}  # nothing translates onto commits upstream lacks yet
    assert gate.cli("review", "approve", "1", "--as", "alice", "--group", "maintainers") == 0
    masked = upstream_ref(bare, "refs/heads/main")
    assert masked not in (None, mine)
    assert mapping.load(repo)[mine.encode()] == masked.encode()
    assert mapping.load(mapping.pending_repo(repo, 1)) == {}
    # the agent keeps working on its own (unmasked) commit: its next push is a fast-forward
    nxt = commit(work, {"README.md": "# app\n\nafter approval\n"}, "after approval")
    again = git("push", "origin", "HEAD:main", cwd=work, check=False)
    assert again.returncode == 0, again.stderr
    assert f"{mine[:7]}..{nxt[:7]}" in again.stderr and "fetch first" not in again.stderr
    tip = upstream_ref(bare, "refs/heads/main")
    assert git("rev-parse", "main^", cwd=bare).stdout.strip() == masked
    assert git("show", f"{tip}:README.md", cwd=bare).stdout == "# app\n\nafter approval\n"
    assert git("show", f"{tip}:deploy/prod.yaml", cwd=bare).stdout.startswith(
        "replicas: 3\nkey: **gitgate-masked:AWS Access Key:"
    )
    assert key.encode() not in all_objects(bare)
    assert key.encode() not in gate_data(gate)  # the map kept with the queued push included
    # and syncing takes the masked history without a conflict
    pulled = git("pull", "--rebase", "origin", "main", cwd=work, check=False)
    assert pulled.returncode == 0, pulled.stderr
    assert rev(work, "HEAD") == tip


def receive_advert(gate: GateServer, repo: str, token: str) -> str:
    """The receive-pack advertisement as `token`'s identity sees it."""
    import base64
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", gate.server.server_port, timeout=30)
    auth = base64.b64encode(f"agent:{token}".encode()).decode()
    path = f"/{repo}.git/info/refs?service=git-receive-pack"
    conn.request("GET", path, headers={"Authorization": f"Basic {auth}"})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    assert resp.status == 200, body
    return body.decode("utf-8", "replace")


@pytest.mark.slow
def test_mask_only_the_pusher_sees_its_own_tip(
    make_gate: MakeGate,
    seeded: tuple[Path, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tests.test_auth_e2e import issue

    bare, repo = seeded
    gate = make_gate(MASK_RULES, sections={"auth": {"required": True}})
    alice, _ = issue(gate, capsys, "alice", "agents")
    bob, _ = issue(gate, capsys, "bob", "agents")
    work = tmp_path / "alice"
    git("clone", "-q", gate.remote(repo, alice), str(work))
    mine = commit(work, {"config.py": f"KEY = '{secrets.AWS_ACCESS_KEY_ID}'\n"}, "config")
    assert git("push", "origin", "HEAD:main", cwd=work, check=False).returncode == 0
    up = upstream_ref(bare, "refs/heads/main")
    assert up is not None and up != mine
    seen_by_alice = receive_advert(gate, repo, alice)
    assert f"{mine} refs/heads/main" in seen_by_alice and up not in seen_by_alice
    seen_by_bob = receive_advert(gate, repo, bob)
    assert f"{up} refs/heads/main" in seen_by_bob and mine not in seen_by_bob
    # bob works on upstream's masked history: a plain fast-forward
    other = tmp_path / "bob"
    git("clone", "-q", gate.remote(repo, bob), str(other))
    assert rev(other) == up
    commit(other, {"src/b.py": "b = 1\n"}, "b")
    pushed = git("push", "origin", "HEAD:main", cwd=other, check=False)
    assert pushed.returncode == 0, pushed.stderr
    assert upstream_ref(bare, "refs/heads/main") == rev(other)


@pytest.mark.slow
def test_mask_a_signed_commit_loses_its_signature_and_says_so(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    bare, repo = seeded
    gate = make_gate(MASK_RULES)
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo), str(work))
    key_file = tmp_path / "signing"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key_file)], check=True)
    for k, v in {
        "gpg.format": "ssh",
        "user.signingkey": str(key_file),
        "commit.gpgsign": "true",
    }.items():
        git("config", k, v, cwd=work)
    mine = commit(work, {"config.py": f"KEY = '{secrets.AWS_ACCESS_KEY_ID}'\n"}, "signed")
    assert "gpgsig" in git("cat-file", "commit", mine, cwd=work).stdout
    result = git("push", "origin", "HEAD:main", cwd=work, check=False)
    assert result.returncode == 0, result.stderr
    assert f"warning: {mine[:12]} was signed; its masked copy upstream is not" in result.stderr
    up = upstream_ref(bare, "refs/heads/main")
    assert up is not None and up != mine
    assert "gpgsig" not in git("cat-file", "commit", up, cwd=bare).stdout


@pytest.mark.slow
def test_mask_edit_of_the_masked_file_as_a_delta_says_pull_rebase(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    """git deltifies an edit of a large masked file against the unmasked blob, which the gate
    never keeps: the push is refused with the one step that mends it, and that step works."""
    bare, repo = seeded
    gate = make_gate(MASK_RULES)
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo), str(work))
    key = secrets.AWS_ACCESS_KEY_ID
    filler = "".join(f"setting_{i} = {i * 7}  # one line of configuration\n" for i in range(300))
    text = f"import os\n\nKEY = '{key}'\n" + filler
    commit(work, {"config.py": text}, "config")
    assert git("push", "origin", "HEAD:main", cwd=work, check=False).returncode == 0
    commit(work, {"config.py": text.replace("setting_200 = 1400", "setting_200 = 1")}, "tweak")
    refused = git("push", "origin", "HEAD:main", cwd=work, check=False)
    assert refused.returncode != 0
    assert "run git pull --rebase (it takes the masked history) and push again" in refused.stderr
    pulled = git("pull", "--rebase", "-q", "origin", "main", cwd=work, check=False)
    assert pulled.returncode == 0, pulled.stderr
    assert key not in (work / "config.py").read_text()  # the agent's copy is masked now
    again = git("push", "origin", "HEAD:main", cwd=work, check=False)
    assert again.returncode == 0, again.stderr
    shown = git("show", "main:config.py", cwd=bare).stdout
    assert "setting_200 = 1  #" in shown and "**gitgate-masked:AWS Access Key:" in shown
    assert key.encode() not in all_objects(bare)


def test_mask_rule_leaves_a_clean_push_as_it_is(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    bare, repo = seeded
    gate = make_gate(MASK_RULES)
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo), str(work))
    mine = commit(work, {"src/clean.py": "x = 1\n"}, "clean")
    result = git("push", "origin", "HEAD:main", cwd=work, check=False)
    assert result.returncode == 0, result.stderr
    assert upstream_ref(bare, "refs/heads/main") == mine  # relayed as pushed, not rewritten
    assert "masked" not in result.stderr
