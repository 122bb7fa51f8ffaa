"""The GitHub API through the gate, end to end: a fake GitHub API over the same bare repos the
git upstream serves, the gate in-process, real git for the pushes and fetches it is compared
with, and the real queue and review CLI."""

from __future__ import annotations

import base64
import http.client
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gitgate.store import sessions
from tests.fixtures import secrets
from tests.fixtures.gate import GateServer
from tests.fixtures.github_api import FakeGitHubApi
from tests.fixtures.upstream import UpstreamServer, commit, git, upstream_ref

MakeGate = Callable[..., GateServer]
Answer = tuple[int, dict[str, str], Any]


@pytest.fixture
def api(upstream: UpstreamServer) -> Iterator[FakeGitHubApi]:
    srv = FakeGitHubApi(upstream.root, upstream.token or "").start()
    yield srv
    srv.stop()


def api_gate(make_gate: MakeGate, api: FakeGitHubApi, rules: Any = None, **kw: Any) -> GateServer:
    sections = kw.pop("sections", {})
    sections.setdefault("upstream", {})["api_url"] = api.url
    return make_gate(rules, sections=sections, **kw)


def call(
    gate: GateServer, method: str, path: str, body: Any = None, token: str | None = None
) -> Answer:
    conn = http.client.HTTPConnection("127.0.0.1", gate.server.server_port, timeout=60)
    headers = {"Accept": "application/vnd.github+json"}
    if token:
        headers["Authorization"] = f"token {token}"
    data = json.dumps(body).encode() if body is not None else None
    if data is not None:
        headers["Content-Type"] = "application/json"
    target = path if path.startswith("/api/") else "/api/v3" + path
    conn.request(method, target, body=data, headers=headers)
    resp = conn.getresponse()
    raw = resp.read()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, json.loads(raw or b"null")


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def test_reads_pass_with_urls_and_link_pagination_pointing_at_the_gate(
    make_gate: MakeGate, api: FakeGitHubApi, seeded: tuple[Path, str]
) -> None:
    gate = api_gate(make_gate, api)
    status, headers, repo = call(gate, "GET", "/repos/acme/app")
    assert status == 200
    assert repo["url"] == f"{gate.url}/api/v3/repos/acme/app"
    assert repo["issues_url"] == f"{gate.url}/api/v3/repos/acme/app/issues{{/number}}"
    assert repo["owner"]["url"] == f"{gate.url}/api/v3/users/acme"
    assert repo["html_url"] == "https://github.example/acme/app"  # not the API: untouched
    assert headers["x-github-request-id"] == "FAKE:1" and headers["etag"] == '"abc"'
    assert headers["x-ratelimit-remaining"] == "4999"
    assert api.url not in json.dumps(repo)

    # pagination: follow the rewritten Link header through the gate to the last page
    numbers, path = [], "/repos/acme/app/issues?per_page=2"
    while path:
        status, headers, page = call(gate, "GET", path)
        assert status == 200
        numbers += [i["number"] for i in page]
        nxt = [p for p in headers.get("link", "").split(", ") if 'rel="next"' in p]
        if nxt:
            url = nxt[0].split(">")[0][1:]
            assert url.startswith(f"{gate.url}/api/v3/")
            path = url[len(gate.url) :]
        else:
            path = ""
    assert numbers == [1, 2, 3, 4, 5]
    # every call is a session record: service rest, the route template, no body, no token
    records = [r for r in sessions.list_sessions(limit=20) if r["service"] == "rest"]
    assert len(records) == 4
    assert {"route": "GET /repos/{owner}/{repo}{rest*}", "status": "200"} in records[0]["statuses"]
    assert all(r["repo"] == "acme/app" and r["decision"] == "allow" for r in records)


def test_unclassified_and_admin_calls_never_reach_upstream(
    make_gate: MakeGate, api: FakeGitHubApi, seeded: tuple[Path, str]
) -> None:
    gate = api_gate(make_gate, api)
    status, _, body = call(gate, "POST", "/repos/acme/app/frobnicate", {})
    assert status == 403 and "fail closed" in body["message"]
    status, _, body = call(gate, "DELETE", "/repos/acme/app")
    assert status == 403 and "repository administration" in body["message"]
    assert "api.admin = reject" in body["message"]
    status, _, body = call(
        gate, "PUT", "/repos/acme/app/branches/main/protection", {"enforce_admins": False}
    )
    assert status == 403
    assert not api.seen("DELETE", "/repos/acme/app")
    assert not api.seen("PUT", "/protection") and not api.seen("POST", "frobnicate")
    status, _, body = call(gate, "GET", "/search/code?q=secret")
    assert status == 403 and "fail closed" in body["message"]
    status, _, body = call(gate, "POST", "/user/repos", {"name": "x"})
    assert status == 403 and "names no repository" in body["message"]
    status, _, body = call(gate, "POST", "/orgs/acme/repos", {"name": "new"})
    assert status == 403 and "names no reviewers" in body["message"]  # publish = queue
    status, _, body = call(gate, "POST", "/api/uploads/repos/acme/app/releases/1/assets", {})
    assert status == 403 and "release asset uploads" in body["message"]


def test_clean_contents_write_lands_and_git_fetch_sees_it(
    make_gate: MakeGate, api: FakeGitHubApi, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    bare, repo = seeded
    gate = api_gate(make_gate, api)
    before = upstream_ref(bare, "refs/heads/main")
    status, _, out = call(
        gate,
        "PUT",
        "/repos/acme/app/contents/src/util.py",
        {"message": "add util", "content": b64("def util():\n    return 2\n")},
    )
    assert status == 201, out
    assert out["content"]["url"].startswith(f"{gate.url}/api/v3/repos/acme/app/contents/")
    after = upstream_ref(bare, "refs/heads/main")
    assert after != before and after == out["commit"]["sha"]
    git("clone", "-q", gate.remote(repo), str(tmp_path / "w"))
    assert (tmp_path / "w" / "src" / "util.py").read_text() == "def util():\n    return 2\n"
    records = [r for r in sessions.list_sessions(limit=5) if r["service"] == "rest"]
    put = next(r for r in records if r["ref_updates"])
    assert put["ref_updates"][0]["ref"] == "refs/heads/main" and put["decision"] == "allow"


def test_secret_in_a_contents_write_is_refused_like_a_push(
    make_gate: MakeGate, api: FakeGitHubApi, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    bare, repo = seeded
    gate = api_gate(make_gate, api)
    data, planted = secrets.python_source(["aws_access_key_id"])
    before = upstream_ref(bare, "refs/heads/main")
    status, _, out = call(
        gate,
        "PUT",
        "/repos/acme/app/contents/src/cfg.py",
        {"message": "config", "content": b64(data), "branch": "main"},
    )
    assert status == 409, out
    msg = out["message"]
    assert f"src/cfg.py:{planted[0].line}" in msg and "rule default" in msg
    assert "Nothing was written upstream" in msg
    assert secrets.AWS_ACCESS_KEY_ID not in json.dumps(out)
    assert upstream_ref(bare, "refs/heads/main") == before
    assert not api.seen("PUT", "/contents/")
    # the same change pushed with git meets the same refusal
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo), str(work))
    commit(work, {"src/cfg.py": data}, "config")
    pushed = git("push", "origin", "HEAD:main", cwd=work, check=False)
    assert pushed.returncode != 0 and f"src/cfg.py:{planted[0].line}" in pushed.stderr
    rec = next(r for r in sessions.list_sessions(limit=50) if r["service"] == "rest")
    assert rec["decision"] == "reject" and rec["findings"][0]["path"] == "src/cfg.py"


def test_contents_delete_of_a_protected_path_is_refused(
    make_gate: MakeGate, api: FakeGitHubApi, seeded: tuple[Path, str]
) -> None:
    bare, _ = seeded
    gate = api_gate(make_gate, api)  # default rule: .github/workflows/** protected, reject
    before = upstream_ref(bare, "refs/heads/main")
    status, _, out = call(
        gate, "DELETE", "/repos/acme/app/contents/.github/workflows/ci.yml", {"message": "rm"}
    )
    assert status == 422, out
    assert ".github/workflows/ci.yml" in out["message"] and "protected_paths" in out["message"]
    assert upstream_ref(bare, "refs/heads/main") == before
    assert not api.seen("DELETE", "/contents/")


def test_queued_contents_write_is_performed_by_the_gate_on_approval(
    make_gate: MakeGate,
    api: FakeGitHubApi,
    seeded: tuple[Path, str],
    tmp_path: Path,
    db_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bare, repo = seeded
    rules = [
        {
            "name": "prod-review",
            "protected_paths": ["deploy/**"],
            "reviewers": ["maintainers"],
            "actions": {"protected_paths": "queue"},
        }
    ]
    gate = api_gate(make_gate, api, rules, db_url=db_url)
    before = upstream_ref(bare, "refs/heads/main")
    status, _, out = call(
        gate,
        "PUT",
        "/repos/acme/app/contents/deploy/prod.yaml",
        {"message": "scale", "content": b64("replicas: 9\n")},
    )
    assert status == 202, out
    assert out["queue_id"] == 1 and "held for human approval as #1" in out["message"]
    assert "deploy/prod.yaml" in out["message"]
    assert upstream_ref(bare, "refs/heads/main") == before
    assert gate.cli("review", "approve", "1", "--as", "alice", "--group", "maintainers") == 0
    assert "relayed" in capsys.readouterr().out
    assert upstream_ref(bare, "refs/heads/main") == out["sha"]
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo), str(work))
    assert (work / "deploy" / "prod.yaml").read_text() == "replicas: 9\n"


def test_stale_queued_api_write_is_not_forced(
    make_gate: MakeGate,
    api: FakeGitHubApi,
    seeded: tuple[Path, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bare, repo = seeded
    rules = [
        {
            "name": "prod-review",
            "protected_paths": ["deploy/**"],
            "reviewers": ["maintainers"],
            "actions": {"protected_paths": "queue"},
        }
    ]
    gate = api_gate(make_gate, api, rules)
    status, _, _ = call(
        gate,
        "PUT",
        "/repos/acme/app/contents/deploy/prod.yaml",
        {"message": "scale", "content": b64("replicas: 9\n")},
    )
    assert status == 202
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo), str(work))
    moved = commit(work, {"src/other.py": "x = 1\n"}, "meanwhile")
    git("push", "-q", "origin", "HEAD:main", cwd=work)
    assert gate.cli("review", "approve", "1", "--as", "alice", "--group", "maintainers") != 0
    assert "stale" in capsys.readouterr().out
    assert upstream_ref(bare, "refs/heads/main") == moved


def test_ref_patch_with_force_flag_is_decided_by_ancestry(
    make_gate: MakeGate, api: FakeGitHubApi, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    bare, repo = seeded
    gate = api_gate(make_gate, api)
    first = upstream_ref(bare, "refs/heads/main")
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo), str(work))
    second = commit(work, {"src/b.py": "b = 1\n"}, "second")
    git("push", "-q", "origin", "HEAD:main", cwd=work)
    # a branch at the older commit, then a fast-forward sent with force: true: allowed
    status, _, out = call(
        gate, "POST", "/repos/acme/app/git/refs", {"ref": "refs/heads/feature", "sha": first}
    )
    assert status == 201, out
    assert out["url"].startswith(f"{gate.url}/api/v3/")
    status, _, out = call(
        gate, "PATCH", "/repos/acme/app/git/refs/heads/feature", {"sha": second, "force": True}
    )
    assert status == 200, out
    assert upstream_ref(bare, "refs/heads/feature") == second
    # rewinding main to a non-descendant is a force push, whatever the flag says
    status, _, out = call(
        gate, "PATCH", "/repos/acme/app/git/refs/heads/main", {"sha": first, "force": True}
    )
    assert status == 422 and "force" in out["message"].lower(), out
    assert upstream_ref(bare, "refs/heads/main") == second
    # a commit the gate cannot see is never let through uninspected
    status, _, out = call(
        gate, "PATCH", "/repos/acme/app/git/refs/heads/main", {"sha": "ab" * 20, "force": True}
    )
    assert status == 422 and "push it with git" in out["message"]
    assert not api.seen("PATCH", "/git/refs/heads/main")
    # deleting a branch is refused by deny.delete_ref, as for `git push --delete`
    status, _, out = call(gate, "DELETE", "/repos/acme/app/git/refs/heads/feature")
    assert status == 422 and "delet" in out["message"].lower(), out
    assert upstream_ref(bare, "refs/heads/feature") == second


def test_blob_with_a_secret_is_refused_at_creation(
    make_gate: MakeGate, api: FakeGitHubApi, seeded: tuple[Path, str]
) -> None:
    gate = api_gate(make_gate, api)
    data, planted = secrets.python_source(["github_token"])
    status, _, out = call(
        gate, "POST", "/repos/acme/app/git/blobs", {"content": b64(data), "encoding": "base64"}
    )
    assert status == 409 and planted[0].type in out["message"]
    assert not api.seen("POST", "/git/blobs")
    status, _, out = call(gate, "POST", "/repos/acme/app/git/blobs", {"content": "hello\n"})
    assert status == 201 and out["url"].startswith(gate.url)


def test_issue_text_with_a_secret_is_refused(
    make_gate: MakeGate, api: FakeGitHubApi, seeded: tuple[Path, str]
) -> None:
    gate = api_gate(make_gate, api)
    data, _ = secrets.python_source(["aws_access_key_id"])
    status, _, out = call(
        gate, "POST", "/repos/acme/app/issues", {"title": "t", "body": data.decode()}
    )
    assert status == 422 and "holds a secret" in out["message"]
    assert secrets.AWS_ACCESS_KEY_ID not in json.dumps(out)
    assert not api.seen("POST", "/issues")


def push_branch(gate: GateServer, repo: str, tmp_path: Path, branch: str, files: dict) -> str:
    work = tmp_path / branch
    git("clone", "-q", gate.remote(repo), str(work))
    tip = commit(work, files, f"work on {branch}")
    git("push", "-q", "origin", f"HEAD:refs/heads/{branch}", cwd=work)
    return tip


def test_pr_merge_is_decided_on_its_net_change_and_queued_for_a_protected_path(
    make_gate: MakeGate,
    api: FakeGitHubApi,
    seeded: tuple[Path, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bare, repo = seeded
    rules = [
        {
            "name": "prod-review",
            "protected_paths": ["deploy/**"],
            "reviewers": ["maintainers"],
            "refs": ["refs/heads/main"],
            "actions": {"protected_paths": "queue"},
        },
        {"name": "branches", "refs": ["refs/heads/**"]},
    ]
    gate = api_gate(make_gate, api, rules)
    # the head branch itself may hold the protected change (another rule governs it) ...
    tip = push_branch(gate, repo, tmp_path, "scale", {"deploy/prod.yaml": "replicas: 4\n"})
    push_branch(gate, repo, tmp_path, "docs", {"docs/x.md": "# x\n"})
    api.pulls[1] = {"base": "main", "head": "scale"}
    api.pulls[2] = {"base": "main", "head": "docs"}
    before = upstream_ref(bare, "refs/heads/main")
    # ... but merging it into main is the write that main's rule decides: queued
    status, _, out = call(gate, "PUT", "/repos/acme/app/pulls/1/merge", {})
    assert status == 202, out
    assert "deploy/prod.yaml" in out["message"] and "prod-review" in out["message"]
    assert not api.seen("PUT", "/pulls/1/merge")
    assert upstream_ref(bare, "refs/heads/main") == before
    # a clean merge is relayed: GitHub performs it
    status, _, out = call(gate, "PUT", "/repos/acme/app/pulls/2/merge", {})
    assert status == 200 and out["merged"] is True
    assert api.seen("PUT", "/pulls/2/merge")
    # approving #1 pushes the gate's merge commit (main's old id as compare-and-swap)
    assert gate.cli("review", "approve", "1", "--as", "alice", "--group", "maintainers") == 0
    assert "relayed" in capsys.readouterr().out
    merged = upstream_ref(bare, "refs/heads/main")
    parents = git("rev-list", "--parents", "-n", "1", "main", cwd=bare).stdout.split()
    assert parents == [merged, before, tip]
    assert git("show", "main:deploy/prod.yaml", cwd=bare).stdout == "replicas: 4\n"


def test_merge_rules_can_hold_or_refuse_every_merge(
    make_gate: MakeGate, api: FakeGitHubApi, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    _, repo = seeded
    rules = [
        {
            "name": "main",
            "refs": ["refs/heads/main"],
            "reviewers": ["maintainers"],
            "api": {"merge": "queue"},
        },
        {"name": "release", "refs": ["refs/heads/release"], "api": {"merge": "reject"}},
        {"name": "branches", "refs": ["refs/heads/**"]},
    ]
    gate = api_gate(make_gate, api, rules)
    push_branch(gate, repo, tmp_path, "docs", {"docs/x.md": "# x\n"})
    push_branch(gate, repo, tmp_path, "release", {"CHANGES": "1.0\n"})
    api.pulls[1] = {"base": "main", "head": "docs"}
    api.pulls[2] = {"base": "release", "head": "docs"}
    status, _, out = call(gate, "PUT", "/repos/acme/app/pulls/1/merge", {})
    assert status == 202 and "api.merge = queue" in out["message"]
    status, _, out = call(gate, "PUT", "/repos/acme/app/pulls/2/merge", {})
    assert status == 403 and "api.merge = reject" in out["message"]
    assert not api.seen("PUT", "/merge")


def test_graphql_is_parsed_and_classified(
    make_gate: MakeGate, api: FakeGitHubApi, seeded: tuple[Path, str]
) -> None:
    gate = api_gate(make_gate, api)
    status, _, out = call(gate, "POST", "/api/graphql", {"query": "query { viewer { login } }"})
    assert status == 200 and out["data"]["viewer"]["login"] == "gate-bot"
    q = "query($o:String!,$n:String!){ repository(owner:$o,name:$n){ id } }"
    ok = {"query": q, "variables": {"o": "acme", "n": "app"}}
    assert call(gate, "POST", "/api/graphql", ok)[0] == 200
    mutation = (
        'mutation { a: createCommitOnBranch(input: {branch: {repositoryNameWithOwner: "acme/app",'
        ' branchName: "main"}, message: {headline: "m"}, expectedHeadOid: "00"})'
        " { commit { oid } } }"
    )
    status, _, out = call(gate, "POST", "/api/graphql", {"query": mutation})
    assert status == 409 and "expectedHeadOid" in out["message"]  # aliased, still inspected
    both = mutation.replace("mutation {", 'mutation { b: deleteRef(input: {refId: "x"}) { c }')
    status, _, out = call(gate, "POST", "/api/graphql", {"query": both})
    assert status == 403 and "deleteRef" in out["message"]
    two_ops = "query A { viewer { login } } mutation B { frobnicate(x: 1) { y } }"
    status, _, out = call(gate, "POST", "/api/graphql", {"query": two_ops, "operationName": "A"})
    assert status == 403 and "frobnicate" in out["message"]
    status, _, out = call(gate, "POST", "/api/graphql", {"query": '{ search(query: "x") { n } }'})
    assert status == 403 and "fail closed" in out["message"]
    assert sum(1 for m, p, _ in api.requests if p == "/graphql") == 2


def git_data_flow(gate: GateServer, files: dict[str, str], force: bool = True) -> Answer:
    """What the MCP server's push_files does: blobs, a tree on the tip, a commit, PATCH ref."""
    _, _, ref = call(gate, "GET", "/repos/acme/app/git/refs/heads/main")
    tip = ref["object"]["sha"]
    _, _, tip_commit = call(gate, "GET", f"/repos/acme/app/git/commits/{tip}")
    entries = []
    for path, text in files.items():
        status, _, blob = call(gate, "POST", "/repos/acme/app/git/blobs", {"content": text})
        assert status == 201, blob
        entries.append({"path": path, "mode": "100644", "type": "blob", "sha": blob["sha"]})
    base_tree = tip_commit["tree"]["sha"]
    status, _, tree = call(
        gate, "POST", "/repos/acme/app/git/trees", {"base_tree": base_tree, "tree": entries}
    )
    assert status == 201, tree
    status, _, new = call(
        gate,
        "POST",
        "/repos/acme/app/git/commits",
        {"message": "via the API", "tree": tree["sha"], "parents": [tip]},
    )
    assert status == 201, new
    return call(
        gate, "PATCH", "/repos/acme/app/git/refs/heads/main", {"sha": new["sha"], "force": force}
    )


def test_git_data_flow_lands_when_clean_and_is_refused_on_a_protected_path(
    make_gate: MakeGate, api: FakeGitHubApi, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    bare, repo = seeded
    gate = api_gate(make_gate, api)
    status, _, out = git_data_flow(gate, {"src/new.py": "n = 1\n", "docs/a.md": "# a\n"})
    assert status == 200, out
    tip = upstream_ref(bare, "refs/heads/main")
    assert out["object"]["sha"] == tip
    git("clone", "-q", gate.remote(repo), str(tmp_path / "w"))
    assert (tmp_path / "w" / "src" / "new.py").read_text() == "n = 1\n"
    # the same flow touching a protected path: refused at the ref update, nothing moves
    status, _, out = git_data_flow(gate, {".github/workflows/ci.yml": "on: [push]\n"})
    assert status == 422, out
    assert ".github/workflows/ci.yml" in out["message"] and "rule default" in out["message"]
    assert upstream_ref(bare, "refs/heads/main") == tip
    patches = [p for m, p, _ in api.requests if m == "PATCH"]
    assert len(patches) == 1  # only the clean flow's ref update reached upstream


COMMIT_ON_BRANCH = (
    "mutation Commit($input: CreateCommitOnBranchInput!) {"
    " createCommitOnBranch(input: $input) { commit { oid url } } }"
)


def commit_on_branch(gate: GateServer, bare: Path, files: dict[str, str]) -> Answer:
    head = upstream_ref(bare, "refs/heads/main")
    variables = {
        "input": {
            "branch": {"repositoryNameWithOwner": "acme/app", "branchName": "main"},
            "expectedHeadOid": head,
            "message": {"headline": "via graphql"},
            "fileChanges": {
                "additions": [{"path": p, "contents": b64(t)} for p, t in files.items()]
            },
        }
    }
    return call(gate, "POST", "/api/graphql", {"query": COMMIT_ON_BRANCH, "variables": variables})


def test_graphql_commit_on_branch_queued_then_performed_on_approval(
    make_gate: MakeGate,
    api: FakeGitHubApi,
    seeded: tuple[Path, str],
    db_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bare, _ = seeded
    rules = [
        {
            "name": "prod-review",
            "protected_paths": ["deploy/**"],
            "reviewers": ["maintainers"],
            "actions": {"protected_paths": "queue"},
        }
    ]
    gate = api_gate(make_gate, api, rules, db_url=db_url)
    # clean: relayed, upstream makes the commit
    status, _, out = commit_on_branch(gate, bare, {"src/g.py": "g = 1\n"})
    assert status == 200, out
    head = upstream_ref(bare, "refs/heads/main")
    assert out["data"]["createCommitOnBranch"]["commit"]["oid"] == head
    # a protected path: 202 queued, nothing upstream until a reviewer approves
    status, _, out = commit_on_branch(gate, bare, {"deploy/prod.yaml": "replicas: 7\n"})
    assert status == 202, out
    assert "deploy/prod.yaml" in out["message"] and out["queue_id"] == 1
    assert upstream_ref(bare, "refs/heads/main") == head
    assert gate.cli("review", "approve", "1", "--as", "alice", "--group", "maintainers") == 0
    assert "relayed" in capsys.readouterr().out
    assert upstream_ref(bare, "refs/heads/main") == out["sha"]
    shown = subprocess_show(bare, "main:deploy/prod.yaml")
    assert shown == "replicas: 7\n"


def subprocess_show(bare: Path, what: str) -> str:
    return git("show", what, cwd=bare).stdout


def test_a_refused_gate_credential_is_the_gates_fault(
    make_gate: MakeGate, upstream: UpstreamServer, seeded: tuple[Path, str]
) -> None:
    wrong = FakeGitHubApi(upstream.root, "not-the-gates-token").start()
    try:
        gate = api_gate(make_gate, wrong)
        status, _, out = call(gate, "GET", "/repos/acme/app")
        assert status == 502
        assert "this is not your token" in out["message"] and "gitgate admin" in out["message"]
    finally:
        wrong.stop()


CREATE_PR = (
    "mutation($input: CreatePullRequestInput!) {"
    " createPullRequest(input: $input) { pullRequest { number url } } }"
)


def test_graphql_pull_request_creation_is_tied_to_its_repo_and_scanned(
    make_gate: MakeGate, api: FakeGitHubApi, seeded: tuple[Path, str]
) -> None:
    rules = [
        {"name": "app", "repos": ["acme/app"]},
        {"name": "other", "repos": ["acme/other"], "access": "read"},
    ]
    gate = api_gate(make_gate, api, rules)
    pr = {"repositoryId": "R_acme/app", "baseRefName": "main", "headRefName": "f", "title": "t"}
    status, _, out = call(
        gate, "POST", "/api/graphql", {"query": CREATE_PR, "variables": {"input": pr}}
    )
    assert status == 200 and out["data"]["createPullRequest"]["pullRequest"]["number"] == 7
    data, _ = secrets.python_source(["github_token"])
    leaky = {**pr, "body": data.decode()}
    status, _, out = call(
        gate, "POST", "/api/graphql", {"query": CREATE_PR, "variables": {"input": leaky}}
    )
    assert status == 422 and "holds a secret" in out["message"]
    readonly = {**pr, "repositoryId": "R_acme/other"}
    status, _, out = call(
        gate, "POST", "/api/graphql", {"query": CREATE_PR, "variables": {"input": readonly}}
    )
    assert status == 403 and "read access" in out["message"]
    unknown = {**pr, "repositoryId": "MDEwOlJlcG9zaXRvcnkx"}
    status, _, out = call(
        gate, "POST", "/api/graphql", {"query": CREATE_PR, "variables": {"input": unknown}}
    )
    assert status == 403 and "fail closed" in out["message"]
    creates = [1 for m, p, _ in api.requests if p == "/graphql"]
    assert len(creates) == 5  # one creation relayed, four node look-ups by the gate


MERGE_PR = (
    "mutation($id: ID!) { mergePullRequest(input: {pullRequestId: $id, mergeMethod: MERGE})"
    " { pullRequest { merged } } }"
)


def test_graphql_merge_pull_request_is_decided_like_the_rest_merge(
    make_gate: MakeGate, api: FakeGitHubApi, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    bare, repo = seeded
    rules = [
        {
            "name": "prod-review",
            "protected_paths": ["deploy/**"],
            "reviewers": ["maintainers"],
            "refs": ["refs/heads/main"],
            "actions": {"protected_paths": "queue"},
        },
        {"name": "branches", "refs": ["refs/heads/**"]},
    ]
    gate = api_gate(make_gate, api, rules)
    push_branch(gate, repo, tmp_path, "scale", {"deploy/prod.yaml": "replicas: 4\n"})
    push_branch(gate, repo, tmp_path, "docs", {"docs/x.md": "# x\n"})
    api.pulls[1] = {"base": "main", "head": "scale"}
    api.pulls[2] = {"base": "main", "head": "docs"}
    before = upstream_ref(bare, "refs/heads/main")
    status, _, out = call(
        gate, "POST", "/api/graphql", {"query": MERGE_PR, "variables": {"id": "PR_1"}}
    )
    assert status == 202 and "deploy/prod.yaml" in out["message"], out
    status, _, out = call(
        gate, "POST", "/api/graphql", {"query": MERGE_PR, "variables": {"id": "PR_2"}}
    )
    assert status == 200 and out["data"]["mergePullRequest"]["pullRequest"]["merged"] is True
    merges = [1 for m, p, _ in api.requests if p == "/graphql"]
    assert len(merges) == 3  # two node look-ups by the gate, one merge relayed
    assert upstream_ref(bare, "refs/heads/main") == before


def test_dot_segments_never_reach_upstream(
    make_gate: MakeGate, api: FakeGitHubApi, seeded: tuple[Path, str]
) -> None:
    gate = api_gate(make_gate, api, [{"name": "app", "repos": ["acme/app"], "access": "read"}])
    conn = http.client.HTTPConnection("127.0.0.1", gate.server.server_port, timeout=30)
    for target in (
        "/api/v3/repos/acme/app/../../repos/acme/other/contents/x",
        "/api/v3/repos/acme/app/%2e%2e/%2e%2e/repos/acme/other",
        "/api/v3/repos/acme/app//contents",
    ):
        conn.request("GET", target)
        resp = conn.getresponse()
        body = json.loads(resp.read())
        assert resp.status == 403 and "fail closed" in body["message"], target
    assert not any("other" in p or "//" in p for _, p, _ in api.requests)


APP = '{ repository(owner:"acme",name:"app") '


@pytest.mark.parametrize(
    ("query", "allowed"),
    [
        (
            '{ repository(owner:"acme",name:"app") { pullRequest(number:1) {'
            " headRepository { name owner { login } } } } }",
            True,
        ),
        ("{ viewer { login name } }", True),
        ("{ viewer { repositories(first: 100) { nodes { name } } } }", False),
        (
            APP + "{ owner { repositories(first:5) { nodes { name } } } } }",
            False,
        ),
        (
            APP + '{ parent { object(expression:"HEAD:x") { id } } } }',
            False,
        ),
        (
            'query { ...F } fragment F on Query { repository(owner:"acme",name:"other") { id } }',
            False,
        ),
        (
            APP + "{ issue(number:1) { repository { nameWithOwner } } } }",
            True,
        ),
    ],
)
def test_graphql_reads_stay_within_the_named_repository(
    make_gate: MakeGate, api: FakeGitHubApi, seeded: tuple[Path, str], query: str, allowed: bool
) -> None:
    gate = api_gate(make_gate, api, [{"name": "app", "repos": ["acme/app"], "access": "read"}])
    status, _, out = call(gate, "POST", "/api/graphql", {"query": query})
    assert (status == 200) is allowed, out
    assert len([p for _, p, _ in api.requests if p == "/graphql"]) == int(allowed)


def test_a_database_fault_while_queueing_is_a_503(
    make_gate: MakeGate, api: FakeGitHubApi, seeded: tuple[Path, str], db_url: str
) -> None:
    bare, _ = seeded
    rules = [
        {
            "name": "prod-review",
            "protected_paths": ["deploy/**"],
            "reviewers": ["maintainers"],
            "actions": {"protected_paths": "queue"},
        }
    ]
    gate = api_gate(make_gate, api, rules, db_url=db_url)
    before = upstream_ref(bare, "refs/heads/main")
    gate.runtime.database.execute_sql("ALTER TABLE queued_push RENAME TO queued_push_gone")
    status, _, out = call(
        gate,
        "PUT",
        "/repos/acme/app/contents/deploy/prod.yaml",
        {"message": "scale", "content": b64("replicas: 9\n")},
    )
    assert status == 503 and "gate's fault" in out["message"], out
    assert upstream_ref(bare, "refs/heads/main") == before
    assert not api.seen("PUT", "/contents/")


def test_site_hooks_see_an_api_write_like_a_push(
    make_gate: MakeGate, api: FakeGitHubApi, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    bare, _ = seeded
    hooks = tmp_path / "pre-receive.d"
    hooks.mkdir()
    script = hooks / "10-no-vendor"
    script.write_text(
        "#!/bin/sh\nread old new ref\n"
        'if git diff-tree -r --name-only "$old" "$new" | grep -q "^vendor/"; then\n'
        '  echo "error: $ref: vendor/ is managed by the platform team"; exit 1\nfi\n'
    )
    script.chmod(0o755)
    gate = api_gate(make_gate, api, sections={"hooks": {"dir": str(hooks)}})
    before = upstream_ref(bare, "refs/heads/main")
    status, _, out = call(
        gate,
        "PUT",
        "/repos/acme/app/contents/vendor/lib.py",
        {"message": "vendor", "content": b64("x = 1\n")},
    )
    assert status == 422 and "vendor/ is managed by the platform team" in out["message"], out
    assert upstream_ref(bare, "refs/heads/main") == before
    status, _, _ = call(
        gate, "PUT", "/repos/acme/app/contents/src/ok.py", {"message": "ok", "content": b64("y\n")}
    )
    assert status == 201


def test_graphql_ref_mutations_are_decided_like_pushes(
    make_gate: MakeGate, api: FakeGitHubApi, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    bare, repo = seeded
    gate = api_gate(make_gate, api)
    first = upstream_ref(bare, "refs/heads/main")
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo), str(work))
    commit(work, {"src/b.py": "b = 1\n"}, "second")
    git("push", "-q", "origin", "HEAD:main", cwd=work)
    create = "mutation($i: CreateRefInput!) { createRef(input: $i) { ref { name } } }"
    new_ref = {"repositoryId": "R_acme/app", "name": "refs/heads/topic", "oid": first}
    status, _, out = call(
        gate, "POST", "/api/graphql", {"query": create, "variables": {"i": new_ref}}
    )
    assert status == 200 and upstream_ref(bare, "refs/heads/topic") == first, out
    update = "mutation($i: UpdateRefInput!) { updateRef(input: $i) { ref { name } } }"
    rewind = {"refId": "REF_refs/heads/main", "oid": first, "force": True}
    status, _, out = call(
        gate, "POST", "/api/graphql", {"query": update, "variables": {"i": rewind}}
    )
    assert status == 422 and "force" in out["message"].lower(), out
    delete = 'mutation { deleteRef(input: {refId: "REF_refs/heads/topic"}) { clientMutationId } }'
    status, _, out = call(gate, "POST", "/api/graphql", {"query": delete})
    assert status == 422 and "delet" in out["message"].lower(), out
    assert upstream_ref(bare, "refs/heads/topic") == first
    assert upstream_ref(bare, "refs/heads/main") != first


def test_a_release_is_held_then_made_by_the_gate_on_approval(
    make_gate: MakeGate,
    api: FakeGitHubApi,
    seeded: tuple[Path, str],
    db_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rules = [{"name": "app", "reviewers": ["maintainers"]}]  # api.publish = queue by default
    gate = api_gate(make_gate, api, rules, db_url=db_url)
    release = {"tag_name": "v1.0", "name": "One", "body": "first release"}
    status, _, out = call(gate, "POST", "/repos/acme/app/releases", release)
    assert status == 202 and out["queue_id"] == 1, out
    assert "held for human approval as #1" in out["message"]
    assert not api.seen("POST", "/releases")
    assert gate.cli("review", "show", "1") == 0
    shown = capsys.readouterr().out
    assert "POST /repos/acme/app/releases" in shown and '"tag_name": "v1.0"' in shown
    assert gate.cli("review", "approve", "1", "--as", "alice", "--group", "maintainers") == 0
    assert "relayed" in capsys.readouterr().out
    posts = [a for m, p, a in api.requests if m == "POST" and p.endswith("/releases")]
    assert posts == [f"token {api.token}"]  # made once, with the gate's credential
    # a rule that queues but names no reviewers cannot hold anything: refused
    bare_gate = api_gate(make_gate, api)
    status, _, out = call(bare_gate, "POST", "/repos/acme/app/releases", release)
    assert status == 403 and "names no reviewers" in out["message"]


def test_update_branch_writes_the_pr_head_under_its_rule(
    make_gate: MakeGate, api: FakeGitHubApi, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    _, repo = seeded
    rules = [
        {"name": "heads", "refs": ["refs/heads/topic-*"], "api": {"merge": "reject"}},
        {"name": "branches", "refs": ["refs/heads/**"]},
    ]
    gate = api_gate(make_gate, api, rules)
    push_branch(gate, repo, tmp_path, "topic-a", {"docs/a.md": "# a\n"})
    push_branch(gate, repo, tmp_path, "docs", {"docs/x.md": "# x\n"})
    api.pulls[1] = {"base": "main", "head": "topic-a"}
    api.pulls[2] = {"base": "main", "head": "docs"}
    status, _, out = call(gate, "PUT", "/repos/acme/app/pulls/1/update-branch", {})
    assert status == 403 and "refs/heads/topic-a" in out["message"], out  # head's rule
    status, _, out = call(gate, "PUT", "/repos/acme/app/pulls/2/update-branch", {})
    assert status == 202 and api.seen("PUT", "/pulls/2/update-branch"), out


def test_annotated_tag_made_through_the_api_is_inspected_and_lands(
    make_gate: MakeGate, api: FakeGitHubApi, seeded: tuple[Path, str]
) -> None:
    bare, _ = seeded
    gate = api_gate(make_gate, api)
    tip = upstream_ref(bare, "refs/heads/main")
    tagger = {"name": "Release Bot", "email": "bot@example.com"}
    body = {"tag": "v1.0", "message": "one\n", "object": tip, "type": "commit", "tagger": tagger}
    status, _, tag = call(gate, "POST", "/repos/acme/app/git/tags", body)
    assert status == 201, tag
    status, _, out = call(
        gate, "POST", "/repos/acme/app/git/refs", {"ref": "refs/tags/v1.0", "sha": tag["sha"]}
    )
    assert status == 201, out
    assert upstream_ref(bare, "refs/tags/v1.0") == tag["sha"]
    # overwriting that tag is refused (deny.tag_overwrite), as for git push --force
    status, _, out = call(
        gate, "PATCH", "/repos/acme/app/git/refs/tags/v1.0", {"sha": tip, "force": True}
    )
    assert status == 422, out
    assert upstream_ref(bare, "refs/tags/v1.0") == tag["sha"]
