"""gitgate.checks.hooks: site pre-receive hooks, run with git's contract (a real script here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gitgate.checks.base import Verdict
from gitgate.checks.hooks import Hooks
from gitgate.inspection.push import Push
from tests.unit.factories import REF, Repo, context, load_config, make_push, rules_for, update

# Echoes what it was given and refuses when a ref update names refs/heads/blocked.
HOOK = """#!/bin/sh
while read old new ref; do
  echo "saw $ref $old..$new"
  [ "$ref" = refs/heads/blocked ] && { echo "blocked by site policy"; exit 3; }
done
echo "repo=$GITGATE_REPO rule=$GITGATE_RULE option=$GIT_PUSH_OPTION_0 level=$LEVEL"
exit 0
"""


def setup(tmp_path: Path, script: str = HOOK, **hooks: Any) -> dict[str, Any]:
    hook_dir = tmp_path / "pre-receive.d"
    hook_dir.mkdir()
    hook = hook_dir / "10-site"
    hook.write_text(script)
    hook.chmod(0o755)
    for d in ("mirror/objects", "quarantine"):
        (tmp_path / d).mkdir(parents=True)
    return {"dir": str(hook_dir), "env": {"LEVEL": "strict"}, **hooks}


def run(push: Push, tmp_path: Path, hooks: dict[str, Any], enabled: bool = True) -> list[Verdict]:
    cfg = load_config([{"name": "site", "hooks": enabled}], hooks=hooks)
    push.git_dirs = (str(tmp_path / "mirror"), str(tmp_path / "quarantine"))
    return Hooks().run(push, rules_for(push, cfg.rule[0]), context(cfg))


def pushed(ref: str = REF, options: tuple[str, ...] = ()) -> tuple[Push, bytes, bytes]:
    repo = Repo()
    base = repo.commit({"README.md": b"# app\n"})
    repo.publish(base)
    tip = repo.commit({"a.txt": b"a\n"}, parents=[base])
    return make_push(repo, update(ref, base, tip), push_options=options), base, tip


def test_a_passing_hook_gets_the_updates_env_and_options(tmp_path: Path) -> None:
    push, base, tip = pushed(options=("ci.skip",))
    (v,) = run(push, tmp_path, setup(tmp_path))
    assert v.passed and not v.error and v.findings == []
    assert v.output == [
        f"[10-site] saw {REF} {base.decode()}..{tip.decode()}",
        "[10-site] repo=acme/app rule=site option=ci.skip level=strict",
    ]


def test_a_refusing_hook_fails_every_selected_ref(tmp_path: Path) -> None:
    push, _, _ = pushed("refs/heads/blocked")
    (v,) = run(push, tmp_path, setup(tmp_path))
    assert (v.passed, v.error) == (False, False)
    assert v.reason == "hook 10-site rejected the push (exit 3)"
    assert [f.message for f in v.findings] == [v.reason]
    assert "[10-site] blocked by site policy" in v.output


def test_a_hook_over_its_time_is_an_error(tmp_path: Path) -> None:
    push, _, _ = pushed()
    hooks = setup(tmp_path, "#!/bin/sh\nexec sleep 30\n", timeout=1)
    (v,) = run(push, tmp_path, hooks)
    assert (v.passed, v.error) == (False, True)  # an error: always a reject (fails closed)
    assert v.reason == "hook 10-site timed out after 1s"


def test_a_hook_that_cannot_start_is_an_error(tmp_path: Path) -> None:
    push, _, _ = pushed()
    (v,) = run(push, tmp_path, setup(tmp_path, "#!/nonexistent/interpreter\n"))
    assert (v.passed, v.error) == (False, True)
    assert v.reason.startswith("hook 10-site could not run: ")


def test_no_verdict_without_hooks_or_when_the_rule_turns_them_off(tmp_path: Path) -> None:
    push, _, _ = pushed()
    hooks = setup(tmp_path)
    assert run(push, tmp_path, hooks, enabled=False) == []
    (Path(hooks["dir"]) / "10-site").unlink()
    assert run(push, tmp_path, hooks) == []
