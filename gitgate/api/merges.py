"""Server-side merges (PR merge, POST merges): the gate computes the merge itself.

`git merge-tree --write-tree` (git >= 2.38) over the mirror gives the tree GitHub would make;
the gate's merge commit then goes through `decide_and_act` with the NET change to the base
branch inspected (a merge commit's own diff would hide what the head branch brings in). Allowed:
the agent's call is relayed and GitHub merges. Queued: the gate's merge commit is stored as a
push; on approval it is pushed with the base's old id as compare-and-swap, and GitHub marks the
pull request merged once its head is reachable from the base.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from typing import TYPE_CHECKING

import falcon
from dulwich.objects import Commit, ObjectID
from dulwich.repo import Repo

from gitgate.api.objects import mirror_ref
from gitgate.git.mirror import git_env
from gitgate.git.quarantine import Quarantine
from gitgate.git.wire import Command
from gitgate.policy import Action, Floor, rule_for

if TYPE_CHECKING:
    from gitgate.api.service import ApiCall
    from gitgate.api.writes import Writes

SHA = re.compile(r"^[0-9a-f]{40}$")


def _err(status: int, message: str, decision: str = "error") -> Exception:
    from gitgate.api.service import ApiError

    return ApiError(status, message, decision)


def _target(w: Writes, call: ApiCall, body: bytes) -> tuple[str, str, str]:
    """(branch written, branch or sha merged into it, commit title) of the merge call."""
    repo = call.caller.repo
    if call.route.template.endswith("/merges"):
        try:
            data = json.loads(body)
            return str(data["base"]), str(data["head"]), str(data.get("commit_message") or "")
        except (ValueError, KeyError, TypeError):
            raise _err(422, "gitgate: POST merges needs `base` and `head`") from None
    n = call.route.param("n")
    status, pr = w.svc.up.json("GET", f"/repos/{repo}/pulls/{n}")
    if status != 200 or not isinstance(pr, dict):
        raise _err(404 if status == 404 else 502, f"gitgate: pull request #{n}: upstream {status}")
    try:
        if call.route.template.endswith("/update-branch"):
            # the other way round: the base is merged into the PR's head branch, which must
            # be a branch of this repository for its rule to decide
            head_repo = (pr["head"].get("repo") or {}).get("full_name", repo)
            if str(head_repo).lower() != repo.lower():
                raise _err(422, "gitgate: the head branch is in a fork; update it there", "reject")
            base, head = str(pr["base"]["ref"]), str(pr["head"]["ref"])
            return head, base, f"Merge branch '{base}' into {head}"
        return str(pr["base"]["ref"]), str(pr["head"]["sha"]), f"Merge pull request #{n}"
    except (KeyError, TypeError, AttributeError):
        raise _err(502, "gitgate: upstream's pull request has no base or head") from None


def merge(w: Writes, call: ApiCall, resp: falcon.Response, path: str, body: bytes) -> None:
    base, head, title = _target(w, call, body)
    merge_into(w, call, resp, path, body, base, head, title)


def merge_into(
    w: Writes,
    call: ApiCall,
    resp: falcon.Response,
    path: str,
    body: bytes,
    base: str,
    head: str,
    title: str,
) -> None:
    """Decide merging `head` (branch or sha) into branch `base` of the call's repo; relay the
    call (`path`, `body`) when allowed."""
    repo, caller = call.caller.repo, call.caller
    ref = f"refs/heads/{base}"
    rule = rule_for(w.rt.config.rule, repo, ref, caller.groups)
    if rule is None or rule.access != "write":
        raise _err(
            403,
            f"gitgate: {caller.subject} may not write {ref} of {repo} (deny by default); "
            "ask the gitgate admin if you need it",
            "forbidden",
        )
    if rule.api.merge == "reject":
        raise _err(
            403,
            f"gitgate: rule {rule.name!r} refuses server-side merges into {ref} "
            "(api.merge = reject); ask a maintainer to merge it",
            "reject",
        )
    mirrors = w.rt.mirrors
    mirrors.fetch(repo)
    with mirrors.in_use(repo), Quarantine(mirrors, repo) as q:
        with Repo(str(mirrors.path(repo))) as mirror:
            old = mirror_ref(mirror, ref)
            tip = head.encode() if SHA.match(head) else mirror_ref(mirror, f"refs/heads/{head}")
        if old is None:
            raise _err(404, f"gitgate: branch {base} does not exist in {repo}")
        if tip is None or ObjectID(tip) not in q.mirror_store:
            raise _err(
                422,
                f"gitgate: the head {head} is not on a branch of {repo}, so the gate cannot "
                "inspect the merge (pull requests from forks included); push the branch here",
                "reject",
            )
        tree = _merge_tree(str(mirrors.path(repo)), str(q.objects), old, tip)
        commit = Commit()
        commit.tree = ObjectID(tree)
        commit.parents = [ObjectID(old), ObjectID(tip)]
        who = f"{caller.subject} <{caller.subject}@users.noreply.gitgate>".encode()
        commit.author = commit.committer = who
        commit.author_time = commit.commit_time = int(time.time())
        commit.author_timezone = commit.commit_timezone = 0
        commit.message = (title or f"Merge {head} into {base}").encode() + b"\n"
        q.store.add_object(commit)
        cmd = Command(old, commit.id, ref.encode())
        floor = Floor(
            Action(rule.api.merge), f"api.merge = queue: every merge into {ref} needs a reviewer"
        )
        w.decide_and_act(call, resp, path, body, q, cmd, net=True, floor=floor)


def _merge_tree(mirror: str, objects: str, base: bytes, head: bytes) -> bytes:
    env = git_env(
        {
            "GIT_DIR": mirror,
            "GIT_OBJECT_DIRECTORY": objects,
            "GIT_ALTERNATE_OBJECT_DIRECTORIES": f"{mirror}/objects",
        }
    )
    proc = subprocess.run(
        ["git", "merge-tree", "--write-tree", "--no-messages", base.decode(), head.decode()],
        env=env,
        capture_output=True,
        timeout=300,
    )
    if proc.returncode == 1:
        raise _err(405, "gitgate: the pull request does not merge cleanly (Merge conflict)")
    if proc.returncode != 0:
        raise RuntimeError("git merge-tree failed")
    return proc.stdout.split()[0]
