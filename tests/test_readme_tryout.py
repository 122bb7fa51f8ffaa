"""The README's first section, run exactly as written: `gitgate try` in one terminal, the
agent's and reviewer's commands in another (real git, the real gate under gunicorn, the
try-out's own local upstream). Only the environment is the test's: a fresh HOME, a free port
(`GITGATE_TRY_BIND`), and `.venv` linking to the virtualenv this suite runs in."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.service import GateProcess, base_env
from tests.fixtures.upstream import git

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Try it in two minutes"
MARK = "@@gitgate-readme-rc="


def readme_blocks() -> list[str]:
    """The ```sh blocks of the README's first section, in order."""
    text = (ROOT / "README.md").read_text()
    first = text.index("\n## ")
    assert text[first + 1 :].startswith(SECTION), "the try-out must be the README's first section"
    end = text.index("\n## ", first + 1)
    return re.findall(r"```sh\n(.*?)```", text[first:end], flags=re.S)


def expectation(line: str) -> str:
    """What the README's trailing comment promises for a command ('' when nothing special)."""
    return line.partition("  # ")[2]


def run_lines(lines: list[str], cwd: Path, env: dict[str, str]) -> list[tuple[int, str]]:
    """Run the lines in one shell (cd and sourced variables carry on, as in a terminal) and
    return each line's exit status and output."""
    script = "exec 2>&1\n" + "".join(f'{line}\necho "{MARK}$?"\n' for line in lines)
    proc = subprocess.run(
        ["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    results: list[tuple[int, str]] = []
    out = ""
    for chunk in proc.stdout.splitlines(keepends=True):
        if chunk.startswith(MARK):
            results.append((int(chunk[len(MARK) :]), out))
            out = ""
        else:
            out += chunk
    assert len(results) == len(lines), proc.stdout
    return results


def test_readme_has_the_two_terminals() -> None:
    blocks = readme_blocks()
    assert len(blocks) == 2
    assert "gitgate try" in blocks[0]
    assert "git push" in blocks[1] and "gitgate review approve" in blocks[1]


@pytest.mark.slow
def test_readme_tryout_walkthrough_as_written(tmp_path: Path) -> None:
    venv = Path(sys.prefix)
    if not (venv / "bin" / "activate").exists():
        pytest.fail(f"run the suite from a virtualenv (the README's .venv); {venv} is not one")
    (tmp_path / ".venv").symlink_to(venv)
    home = tmp_path / "home"
    home.mkdir()
    env = base_env(HOME=str(home), GIT_TERMINAL_PROMPT="0")
    terminal1, terminal2 = readme_blocks()

    gate = GateProcess(
        ["bash", "-c", terminal1], {**env, "GITGATE_TRY_BIND": "127.0.0.1:0"}, cwd=tmp_path
    )
    gate.start()
    try:
        assert gate.wait_for_log(lambda lines: "gitgate try: ready" in lines)
        assert "In ANOTHER terminal" in gate.log_text()
        token = (tmp_path / "gitgate-try" / "agent.token").read_text().strip()
        lines = [x for x in terminal2.splitlines() if x.strip()]
        results = run_lines(lines, tmp_path, env)
        for line, (rc, out) in zip(lines, results, strict=True):
            promise = expectation(line)
            if promise.startswith("refused"):
                assert rc != 0 and "1 secret(s) found in new content" in out, (line, out)
                assert "hint: remove the secret" in out
            elif promise.startswith("queued"):
                assert rc != 0 and "queued for approval as #1" in out, (line, out)
                assert "No need to push again" in out
            else:
                assert rc == 0, (line, out)
            assert token not in out, line
        by_line = dict(zip(lines, results, strict=True))
        approve = next(out for line, (_, out) in by_line.items() if "review approve" in line)
        assert "relayed" in approve
        show = next(out for line, (_, out) in by_line.items() if "review show" in line)
        assert "agent-7" in show and ".github/workflows/ci.yml" in show

        bare = tmp_path / "gitgate-try" / "upstream" / "acme" / "app.git"
        subjects = git("log", "--format=%s", "main", cwd=bare).stdout.split("\n")
        assert subjects[:3] == ["ci: run the tests", "add hello", "initial"]
        everything = git("log", "--all", "--format=%s", cwd=bare).stdout
        assert "add settings" not in everything  # the refused commit never reached upstream
        work = tmp_path / "app"
        assert (
            git("rev-parse", "HEAD", cwd=work).stdout == git("rev-parse", "main", cwd=bare).stdout
        )
        assert token not in (work / ".git" / "config").read_text()
        assert "url = http://127.0.0.1:" in (work / ".git" / "config").read_text()
    finally:
        if gate.proc is not None and gate.proc.poll() is None:
            os.killpg(gate.proc.pid, signal.SIGTERM)  # Ctrl-C's part: the whole group
        # `try` gives gunicorn 30 s to stop before it kills its session, then cleans up:
        # wait past that bound, or a slow stop on a loaded machine reads as no stop at all
        stopped = gate.wait_for_log(
            lambda lines: any("gitgate try: stopped" in x for x in lines), timeout=90
        )
        gate.stop()
    assert stopped, gate.log_text()
    assert token not in gate.log_text()
    assert not (tmp_path / "gitgate-try").exists()  # nothing of the try-out survives it
