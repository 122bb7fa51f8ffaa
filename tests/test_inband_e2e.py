"""Protocol errors of a push reach the real git client in-band, where it prints them.

Before, a push the gate could not accept as a request was an HTTP 400 whose body git hides:
"RPC failed; HTTP 400" and then "Everything up-to-date".
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from gitgate.git.wire import MAX_PUSH_OPTIONS
from tests.fixtures.gate import GateServer
from tests.fixtures.upstream import commit, git, upstream_ref

MakeGate = Callable[..., GateServer]


def test_too_many_push_options_is_shown_by_git(
    make_gate: MakeGate, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    bare, repo = seeded
    gate = make_gate()
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo), str(work))
    before = upstream_ref(bare, "refs/heads/main")
    commit(work, {"src/x.py": "X = 1\n"}, "x")
    options = [arg for i in range(MAX_PUSH_OPTIONS + 1) for arg in ("-o", f"note{i}=x")]
    result = git("push", *options, "origin", "HEAD:main", cwd=work, check=False)
    assert result.returncode != 0
    assert "Everything up-to-date" not in result.stderr
    assert "RPC failed" not in result.stderr
    assert "remote: error: gitgate: bad push request: too many push options" in result.stderr
    assert "remote: hint: the gate refused the push request before inspecting it" in result.stderr
    assert (
        "! [remote rejected] HEAD -> main (bad push request: too many push options (limit 100): "
        "send fewer -o options)" in result.stderr
    )
    assert upstream_ref(bare, "refs/heads/main") == before
    # the same push with the options it is allowed goes through
    result = git("push", *options[:-2], "origin", "HEAD:main", cwd=work, check=False)
    assert result.returncode == 0, result.stderr
