"""Run site pre-receive hooks with exactly git's pre-receive contract.

Sites already have pre-receive hooks (size limits, author rules, ggshield, gitleaks). They
expect what git's receive-pack gives them: ``old new ref`` lines on stdin, ``GIT_DIR`` as the
working directory, the pushed objects in a quarantine object directory that is readable through
``GIT_OBJECT_DIRECTORY`` + ``GIT_ALTERNATE_OBJECT_DIRECTORIES``, and ``GIT_PUSH_OPTION_*``.
This module reproduces that contract so those hooks run unchanged in the gate.

Differences from git, all on purpose:

- APPSEC: the environment is built from scratch. The gate's own environment holds the upstream
  token; a hook (site code, maybe a third-party scanner) must never see it.
- Every hook runs in its own session and process group, and the whole group is killed when the
  hook exits or its time runs out, so a backgrounded ``sleep`` cannot outlive the push or keep
  the output pipe open.
- A hook that cannot be started is reported as an error, never skipped: a security gate fails
  closed.
- Hooks in a directory run in name order and the run stops at the first hook that does not
  pass (as GitLab's ``pre-receive.d`` does); later hooks could only add noise to a rejection.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import stat
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from gitgate.checks.hookio import OutputLines, kill_group, pump

log = logging.getLogger("gitgate.hookrunner")  # the name admins filter on, kept across moves

# Names an admin's editor or package manager leaves next to a real hook. Running them would
# run an old or half-edited copy, so they are skipped like git skips *.sample.
_SKIPPED_SUFFIXES = (
    ".sample",
    "~",
    ".bak",
    ".orig",
    ".rej",
    ".swp",
    ".dpkg-old",
    ".dpkg-new",
    ".dpkg-dist",
    ".rpmnew",
    ".rpmsave",
)
# Variables a hook's environment may take from the gate's. None of them can carry a secret.
_PASSED_THROUGH = ("PATH", "HOME", "LANG")
_DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass(frozen=True)
class HookUpdate:
    """One ref update as git's pre-receive receives it (hex object ids, full ref name)."""

    old: str
    new: str
    ref: str


@dataclass(frozen=True)
class HookResult:
    """What one hook did; ``output`` is its merged stdout/stderr, capped, for ``remote:`` lines.

    ``exit_code`` is None when the hook never ran (``error`` says why) or was killed at its
    time limit (``timed_out``); a negative value is a signal that killed it from elsewhere.
    """

    name: str
    exit_code: int | None
    output: list[str]
    timed_out: bool
    error: str | None

    @property
    def ok(self) -> bool:
        """True only for a clean exit 0: a timeout or a start failure never passes a push."""
        return self.exit_code == 0 and not self.timed_out and self.error is None


def discover_hooks(hook_dir: Path) -> list[Path]:
    """Executable regular files in ``hook_dir``, sorted by name; a missing directory is none.

    A regular file that is not executable is logged and skipped, the way git ignores a hook
    without the x bit; the log line saves an admin who forgot ``chmod +x`` some head-scratching.
    """
    try:
        entries = list(hook_dir.iterdir())
    except FileNotFoundError:
        return []
    hooks = []
    for path in entries:
        name = path.name
        if name.startswith(".") or name.endswith(_SKIPPED_SUFFIXES):
            continue
        try:
            mode = path.stat().st_mode  # follows symlinks: a linked shared hook is fine
        except OSError:
            continue  # dangling symlink
        if not stat.S_ISREG(mode):
            continue
        if not os.access(path, os.X_OK):
            log.warning("pre-receive hook %s is not executable; skipped", path)
            continue
        hooks.append(path)
    return sorted(hooks, key=lambda p: p.name)


def run_hooks(
    hooks: Sequence[Path],
    *,
    git_dir: Path,
    quarantine_objects: Path,
    alternates: Sequence[Path],
    updates: Sequence[HookUpdate],
    push_options: Sequence[str],
    extra_env: Mapping[str, str],
    timeout_s: float,
    max_output_lines: int = 200,
) -> list[HookResult]:
    """Run ``hooks`` in order against one push; stop after the first that does not pass.

    ``timeout_s`` applies to each hook. ``extra_env`` (the gate's ``GITGATE_*`` values and site
    settings) cannot override the variables of git's contract.
    """
    env = hook_environment(
        git_dir=git_dir,
        quarantine_objects=quarantine_objects,
        alternates=alternates,
        push_options=push_options,
        extra_env=extra_env,
    )
    stdin = "".join(f"{u.old} {u.new} {u.ref}\n" for u in updates).encode()
    results = []
    for hook in hooks:
        result = _run_one(hook, git_dir, env, stdin, timeout_s, max_output_lines)
        results.append(result)
        if not result.ok:
            break
    return results


def hook_environment(
    *,
    git_dir: Path,
    quarantine_objects: Path,
    alternates: Sequence[Path],
    push_options: Sequence[str],
    extra_env: Mapping[str, str],
) -> dict[str, str]:
    """The complete environment of a hook; nothing else from the gate's environment leaks in."""
    env = {key: os.environ[key] for key in _PASSED_THROUGH if key in os.environ}
    env.setdefault("PATH", _DEFAULT_PATH)
    env.setdefault("LANG", "C.UTF-8")
    env.update(extra_env)
    # Paths are made absolute here because the hook's cwd is git_dir, not ours.
    quarantine = str(quarantine_objects.absolute())
    env["GIT_DIR"] = str(git_dir.absolute())
    env["GIT_OBJECT_DIRECTORY"] = quarantine
    env["GIT_QUARANTINE_PATH"] = quarantine
    env["GIT_ALTERNATE_OBJECT_DIRECTORIES"] = _alternates_value(alternates)
    env["GIT_PUSH_OPTION_COUNT"] = str(len(push_options))
    for index, option in enumerate(push_options):
        env[f"GIT_PUSH_OPTION_{index}"] = option
    return env


def _alternates_value(alternates: Sequence[Path]) -> str:
    """Join alternates for git; a path that git would split or unquote is refused, not mangled."""
    parts = []
    for path in alternates:
        text = str(path.absolute())
        if os.pathsep in text or text.startswith('"'):
            raise ValueError(f"alternate object directory cannot be passed to git: {text!r}")
        parts.append(text)
    return os.pathsep.join(parts)


def _run_one(
    hook: Path,
    git_dir: Path,
    env: Mapping[str, str],
    stdin: bytes,
    timeout_s: float,
    max_lines: int,
) -> HookResult:
    deadline = time.monotonic() + timeout_s
    try:
        proc = subprocess.Popen(
            [str(hook.absolute())],
            cwd=git_dir,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as ex:
        # Bad shebang, missing interpreter, no x bit, unreadable: fail closed with a reason.
        return HookResult(hook.name, None, [], False, _start_failure(hook, ex))
    output = OutputLines(max_lines)
    try:
        exited = pump(proc, stdin, output, deadline)
    finally:
        # The hook is not reaped yet (its pid, and so its process group id, cannot have been
        # reused): killing the group now cannot hit an unrelated process.
        kill_group(proc.pid)
        proc.wait()
    if not exited:
        return HookResult(hook.name, None, output.lines(), True, None)
    error = None
    if proc.returncode < 0:
        error = f"hook killed by signal {_signal_name(-proc.returncode)}"
    return HookResult(hook.name, proc.returncode, output.lines(), False, error)


def _start_failure(hook: Path, ex: OSError) -> str:
    """Say why exec failed in the words an admin needs; the kernel's errno alone misleads."""
    if ex.errno == errno.ENOENT and hook.exists():
        return "cannot execute hook: its interpreter was not found (check the #! line)"
    if ex.errno == errno.ENOEXEC:
        return "cannot execute hook: not a program (is the #! line missing?)"
    return f"cannot execute hook: {ex.strerror or type(ex).__name__}"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)
