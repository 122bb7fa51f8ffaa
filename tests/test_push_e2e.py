"""Real git -> gate -> real git http-backend: clone, fetch, push and the push checks."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.gate import GateServer
from tests.fixtures.upstream import UpstreamServer, commit, git, rev, upstream_ref

MakeGate = Callable[..., GateServer]

PROTECT = [{"name": "default", "protected_paths": [".github/workflows/**", "deploy/**", "*.tf"]}]


def clone(gate: GateServer, repo: str, dest: Path, *args: str) -> Path:
    git("clone", "-q", *args, gate.remote(repo), str(dest))
    return dest


def push(work: Path, *args: str) -> Any:
    return git("push", *args, cwd=work, check=False)


def test_clone_fetch_push_pass_through(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path, upstream: UpstreamServer
) -> None:
    bare, repo = seeded
    gate = make_gate()
    work = clone(gate, repo, tmp_path / "w")
    assert rev(work) == upstream_ref(bare, "refs/heads/main")
    new = commit(work, {"src/util.py": "def util():\n    return 2\n"}, "add util")
    result = push(work, "origin", "HEAD:main")
    assert result.returncode == 0, result.stderr
    # byte-identical: the same commit id upstream, and the same objects
    assert upstream_ref(bare, "refs/heads/main") == new
    assert git("cat-file", "-p", f"{new}:src/util.py", cwd=bare).stdout == (
        "def util():\n    return 2\n"
    )
    # fetch with protocol v0 and v2 from a second clone sees the new commit
    other = clone(gate, repo, tmp_path / "other")
    commit(work, {"b.txt": "b\n"}, "b")
    assert push(work, "origin", "HEAD:main").returncode == 0
    for version in ("0", "2"):
        git("-c", f"protocol.version={version}", "fetch", "-q", "origin", cwd=other)
        assert rev(other, "origin/main") == rev(work)
    # the agent's credential is never forwarded; upstream only ever sees the gate's
    assert set(upstream.seen_auth) == {upstream.expected_auth()}


def test_protocol_v2_header_reaches_upstream(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    _, repo = seeded
    gate = make_gate()
    proc = git(
        "-c", "protocol.version=2", "ls-remote", gate.remote(repo), env={"GIT_TRACE_PACKET": "1"}
    )
    assert "refs/heads/main" in proc.stdout
    assert "git< version 2" in proc.stderr  # the upstream answered in v2 through the gate


def test_protected_paths(make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path) -> None:
    bare, repo = seeded
    gate = make_gate(PROTECT)
    work = clone(gate, repo, tmp_path / "w")
    before = upstream_ref(bare, "refs/heads/main")

    cases: list[tuple[dict[str, str | None], str]] = [
        ({".github/workflows/ci.yml": "on: pull_request\n"}, ".github/workflows/ci.yml"),
        ({"deploy/prod.yaml": None}, "deploy/prod.yaml"),  # a deletion
        ({"infra/main.tf": "resource {}\n"}, "infra/main.tf"),  # *.tf at any depth
    ]
    for files, path in cases:
        commit(work, files, f"touch {path}")
        result = push(work, "origin", "HEAD:main")
        assert result.returncode != 0
        assert "! [remote rejected] HEAD -> main (rule default: touches protected paths" in (
            result.stderr
        )
        assert "remote:   - " in result.stderr and path in result.stderr
        assert upstream_ref(bare, "refs/heads/main") == before
        git("reset", "-q", "--hard", "HEAD~1", cwd=work)

    # a rename out of the protected tree is protected too (both sides count)
    git("mv", "deploy/prod.yaml", "prod.yaml", cwd=work)
    git("commit", "-q", "-m", "move it out", cwd=work)
    result = push(work, "origin", "HEAD:main")
    assert result.returncode != 0
    assert "rename deploy/prod.yaml -> prod.yaml" in result.stderr
    git("reset", "-q", "--hard", "HEAD~1", cwd=work)

    # other paths go through
    ok = commit(work, {"src/other.py": "x = 1\n"}, "unprotected")
    assert push(work, "origin", "HEAD:main").returncode == 0
    assert upstream_ref(bare, "refs/heads/main") == ok


def test_force_push_and_delete(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    bare, repo = seeded
    gate = make_gate([{"name": "strict"}])
    work = clone(gate, repo, tmp_path / "w")
    commit(work, {"a.txt": "a\n"}, "a")
    assert push(work, "origin", "HEAD:main", "HEAD:refs/heads/topic").returncode == 0
    git("reset", "-q", "--hard", "HEAD~1", cwd=work)
    commit(work, {"b.txt": "b\n"}, "b instead")
    before = upstream_ref(bare, "refs/heads/main")
    result = push(work, "--force", "origin", "HEAD:main")
    assert result.returncode != 0
    assert "force-push (non-fast-forward) is not allowed" in result.stderr
    assert "hint: fetch, rebase or merge" in result.stderr
    assert upstream_ref(bare, "refs/heads/main") == before
    result = push(work, "origin", ":refs/heads/topic")
    assert result.returncode != 0 and "deleting refs is not allowed" in result.stderr
    assert upstream_ref(bare, "refs/heads/topic") is not None

    lax = make_gate([{"name": "lax", "deny": {"force_push": False, "delete_ref": False}}])
    git("remote", "set-url", "origin", lax.remote(repo), cwd=work)
    assert push(work, "--force", "origin", "HEAD:main").returncode == 0
    assert upstream_ref(bare, "refs/heads/main") == rev(work)
    assert push(work, "origin", ":refs/heads/topic").returncode == 0
    assert upstream_ref(bare, "refs/heads/topic") is None


def test_multi_ref_atomic_and_not(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    bare, repo = seeded
    gate = make_gate(PROTECT)
    work = clone(gate, repo, tmp_path / "w")
    good = commit(work, {"ok.txt": "fine\n"}, "good")
    git("branch", "good", cwd=work)
    git("checkout", "-q", "-b", "bad", cwd=work)
    bad = commit(work, {"deploy/prod.yaml": "replicas: 0\n"}, "bad")

    result = push(work, "--atomic", "origin", "good:refs/heads/good", "bad:refs/heads/bad")
    assert result.returncode != 0
    assert "atomic push: another ref in it was refused" in result.stderr
    assert upstream_ref(bare, "refs/heads/good") is None
    assert upstream_ref(bare, "refs/heads/bad") is None

    result = push(work, "origin", "good:refs/heads/good", "bad:refs/heads/bad")
    assert result.returncode != 0
    assert upstream_ref(bare, "refs/heads/good") == good
    assert upstream_ref(bare, "refs/heads/bad") is None
    # the refused ref's objects were not sent upstream, not even unreferenced
    assert git("cat-file", "-e", bad, cwd=bare, check=False).returncode != 0
    # and the gate did not take them for upstream's either: pushed alone, still refused
    result = push(work, "origin", "bad:refs/heads/bad")
    assert result.returncode != 0 and "deploy/prod.yaml" in result.stderr


def test_upstream_moved_new_branch_and_tag(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    bare, repo = seeded
    gate = make_gate(PROTECT)
    work = clone(gate, repo, tmp_path / "w")
    commit(work, {"src/one.py": "one = 1\n"}, "one")
    assert push(work, "origin", "HEAD:main").returncode == 0  # warms the gate's mirror
    # someone pushes upstream directly: the gate's mirror is now behind
    direct = tmp_path / "direct"
    git("clone", "-q", str(bare), str(direct))
    big = "".join(f"line {i} of a file that deltas well\n" for i in range(400))
    commit(direct, {"src/big.py": big}, "direct")
    git("push", "-q", "origin", "HEAD:main", cwd=direct)
    git("pull", "-q", "--rebase", cwd=work)
    # a thin pack: the modified file is sent as a delta against a blob the mirror lacks
    tip = commit(work, {"src/big.py": big + "one more line\n"}, "edit big")
    result = push(work, "origin", "HEAD:main")
    assert result.returncode == 0, result.stderr
    assert upstream_ref(bare, "refs/heads/main") == tip
    # a new branch, then a protected change on it is still seen
    git("checkout", "-q", "-b", "feature", cwd=work)
    feat = commit(work, {"src/f.py": "f = 1\n"}, "feature")
    assert push(work, "origin", "feature").returncode == 0
    assert upstream_ref(bare, "refs/heads/feature") == feat
    commit(work, {".github/workflows/x.yml": "on: push\n"}, "ci on branch")
    assert push(work, "origin", "feature").returncode != 0
    # tags: lightweight and annotated go through; moving one is refused
    git("tag", "v1", feat, cwd=work)
    git("tag", "-a", "-m", "release", "v1a", feat, cwd=work)
    assert push(work, "origin", "v1", "v1a").returncode == 0
    assert upstream_ref(bare, "refs/tags/v1") == feat
    git("tag", "-f", "v1", tip, cwd=work)
    result = push(work, "--force", "origin", "v1")
    assert result.returncode != 0 and "overwriting an existing tag" in result.stderr


def test_merge_of_main_is_not_blamed_for_mains_changes(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    """Merging main into a branch brings main's (already upstream) workflow change along:
    the combined-diff rule must not call that a change to a protected path."""
    bare, repo = seeded
    gate = make_gate(PROTECT)
    work = clone(gate, repo, tmp_path / "w")
    git("checkout", "-q", "-b", "topic", cwd=work)
    commit(work, {"src/t.py": "t = 1\n"}, "topic work")
    assert push(work, "origin", "topic").returncode == 0
    direct = tmp_path / "direct"
    git("clone", "-q", str(bare), str(direct))
    commit(direct, {".github/workflows/ci.yml": "on: [push, pull_request]\n"}, "ci by a human")
    git("push", "-q", "origin", "HEAD:main", cwd=direct)
    git("fetch", "-q", "origin", cwd=work)
    git("merge", "-q", "--no-edit", "origin/main", cwd=work)
    result = push(work, "origin", "topic")
    assert result.returncode == 0, result.stderr
    # an evil merge (a protected change made in the merge itself) is caught
    git("merge", "-q", "--no-commit", "--no-ff", "origin/main", cwd=work, check=False)
    (work / "deploy/prod.yaml").write_text("replicas: 100\n")
    git("commit", "-q", "-a", "-m", "evil merge", "--allow-empty", cwd=work)
    result = push(work, "origin", "topic")
    assert result.returncode != 0 and "deploy/prod.yaml" in result.stderr


def test_commit_metadata_and_dry_run(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    bare, repo = seeded
    rules = [
        {
            "name": "meta",
            "commits": {"author_email": [r".*@acme\.com"], "message_deny": ["(?i)wip"]},
        }
    ]
    gate = make_gate(rules)
    work = clone(gate, repo, tmp_path / "w")
    commit(work, {"x.txt": "x\n"}, "WIP: half done")
    result = push(work, "origin", "HEAD:main")
    assert result.returncode != 0
    assert "author email agent7@example.com is not allowed" in result.stderr
    assert "commit message matches a denied pattern" in result.stderr

    dry = make_gate([{**rules[0], "name": "meta-dry", "dry_run": True}])
    git("remote", "set-url", "origin", dry.remote(repo), cwd=work)
    result = push(work, "origin", "HEAD:main")
    assert result.returncode == 0, result.stderr
    assert "warning: refs/heads/main: would reject (rule meta-dry is a dry run)" in result.stderr
    assert upstream_ref(bare, "refs/heads/main") == rev(work)


def test_unknown_repo_and_bad_names(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    gate = make_gate()
    result = git("clone", gate.remote("acme/nope"), str(tmp_path / "n"), check=False)
    assert result.returncode != 0
    assert "repository acme/nope was not found upstream" in result.stderr
    import urllib.error
    import urllib.request

    for path in (
        "/acme/..%2Fetc/info/refs?service=git-upload-pack",
        "/../x/info/refs",
        "/acme/.hidden.git/info/refs?service=git-upload-pack",
        "/just-one-segment",
    ):
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(gate.url + path)
        assert info.value.code == 404
        assert b"gitgate:" in info.value.read()


def test_upstream_down(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path, upstream: UpstreamServer
) -> None:
    _, repo = seeded
    gate = make_gate()
    work = clone(gate, repo, tmp_path / "w")
    commit(work, {"x.txt": "x\n"}, "x")
    upstream.stop()
    result = push(work, "origin", "HEAD:main")
    assert result.returncode != 0
    assert "is unreachable" in result.stderr and "try again later" in result.stderr


CONTENT = ("AKIA" + "-not-to-be-logged").encode()


class Crashing:
    """A check that raises: the gate must refuse, not relay (fail closed)."""

    name = "boom"

    def run(self, push: Any, rules: Any, ctx: Any) -> list[Any]:
        raise UnicodeDecodeError("utf-8", CONTENT, 0, 1, "bad")


def test_crashing_check_fails_closed(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bare, repo = seeded
    gate = make_gate(checks=[Crashing()])
    before = upstream_ref(bare, "refs/heads/main")
    work = clone(gate, repo, tmp_path / "w")
    commit(work, {"x.txt": "x\n"}, "x")
    result = push(work, "origin", "HEAD:main")
    assert result.returncode != 0
    assert "(rule default: internal error in check boom)" in result.stderr
    assert "this is the gate's fault" in result.stderr
    assert upstream_ref(bare, "refs/heads/main") == before
    assert "check boom crashed: UnicodeDecodeError" in caplog.text
    assert CONTENT.decode() not in caplog.text  # an exception's text may quote content


def test_gzip_fetch_bodies_and_urls_without_dot_git(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    from tests.test_big_pushes import fast_import_commits

    bare, repo = seeded
    gate = make_gate()
    work = tmp_path / "w"
    git("clone", "-q", f"{gate.url}/{repo}", str(work))  # no .git suffix
    # many local commits upstream lacks: the fetch negotiation sends many "have" lines,
    # which git gzips; then make upstream move so that there is something to fetch
    git("checkout", "-q", "-b", "local", cwd=work)
    # newer than anything upstream, so git offers them first
    fast_import_commits(work, 300, branch="local", base_time=int(time.time()) + 3600)
    direct = tmp_path / "direct"
    git("clone", "-q", str(bare), str(direct))
    new = commit(direct, {"n.txt": "n\n"}, "upstream moved")
    git("push", "-q", "origin", "HEAD:main", cwd=direct)
    trace = tmp_path / "trace"
    git(
        "fetch",
        "-q",
        "origin",
        cwd=work,
        env={"GIT_TRACE_CURL": str(trace), "GIT_TRACE_CURL_NO_DATA": "1"},
    )
    assert "Content-Encoding: gzip" in trace.read_text(errors="replace")
    assert rev(work, "origin/main") == new


def test_first_push_to_an_empty_repository(
    make_gate: MakeGate, upstream: UpstreamServer, tmp_path: Path
) -> None:
    bare = upstream.create_repo("acme/fresh")
    gate = make_gate(PROTECT)
    work = tmp_path / "w"
    result = git("clone", gate.remote("acme/fresh"), str(work))
    assert "empty repository" in result.stderr
    tip = commit(work, {"README.md": "# fresh\n", "src/a.py": "a = 1\n"}, "first")
    result = push(work, "origin", "HEAD:main")
    assert result.returncode == 0, result.stderr
    assert upstream_ref(bare, "refs/heads/main") == tip
    # the root commit's files are checked like any other: a protected one is refused
    git("checkout", "-q", "--orphan", "other", cwd=work)
    commit(work, {".github/workflows/x.yml": "on: push\n"}, "orphan root")
    result = push(work, "origin", "other")
    assert result.returncode != 0 and ".github/workflows/x.yml" in result.stderr
