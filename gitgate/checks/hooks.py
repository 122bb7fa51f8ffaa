"""Site pre-receive hooks (ggshield, gitleaks, home-grown scripts), run unchanged.

They run after the built-in checks, once per push, with git's pre-receive contract (see
gitgate.checks.hookrunner). Their output reaches the agent as `remote:` lines; a non-zero exit, a
crash
or a timeout fails the check, and the rule's `actions.hooks` decides what that means.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gitgate.checks.base import CheckContext, Finding, Verdict, updates_for
from gitgate.checks.hookrunner import HookUpdate, discover_hooks, run_hooks
from gitgate.config import Rule
from gitgate.inspection.push import Push


@dataclass(frozen=True)
class HooksOptions:
    """`hooks = true|false` in the `[[rule]]` itself; the hooks are `[hooks]`, gate-wide."""

    hooks: bool = True

    def summary(self) -> str:
        return "run" if self.hooks else "not run"


class Hooks:
    name = "hooks"
    Options = HooksOptions
    inline = True
    default_action = "reject"
    maskable = False

    def run(self, push: Push, rules: Mapping[str, Rule], ctx: CheckContext) -> list[Verdict]:
        selected = [
            (u, r) for u, r in updates_for(push, rules) if r.options(self.name, HooksOptions).hooks
        ]
        hooks = discover_hooks(Path(ctx.config.hooks.dir))
        if not selected or not hooks:
            return []
        identity = ctx.identity
        mirror, objects = push.git_dirs
        results = run_hooks(
            hooks,
            git_dir=Path(mirror),
            quarantine_objects=Path(objects),
            alternates=[Path(mirror) / "objects"],
            updates=[
                HookUpdate(u.command.old.decode(), u.command.new.decode(), u.ref)
                for u, _ in selected
            ],
            push_options=push.push_options,
            extra_env={
                **ctx.config.hooks.env,  # the admin's settings for hooks (e.g. MAX_BYTES)
                "GITGATE_SUBJECT": getattr(identity, "subject", "") or "",
                "GITGATE_GROUPS": ",".join(getattr(identity, "groups", ()) or ()),
                "GITGATE_REPO": push.repo,
                "GITGATE_RULE": ",".join(sorted({r.name for _, r in selected})),
                "GITGATE_REQUEST_ID": ctx.request_id,
            },
            timeout_s=ctx.config.hooks.timeout,
        )
        output = [f"[{r.name}] {line}" for r in results for line in r.output]
        failed = [r for r in results if not r.ok]
        reasons = []
        for r in failed:
            if r.timed_out:
                reasons.append(f"hook {r.name} timed out after {ctx.config.hooks.timeout}s")
            elif r.error:
                reasons.append(f"hook {r.name} could not run: {r.error}")
            else:
                reasons.append(f"hook {r.name} rejected the push (exit {r.exit_code})")
        return [
            Verdict(
                self.name,
                u.ref,
                passed=not failed,
                reason="; ".join(reasons),
                findings=[Finding(self.name, u.ref, reason) for reason in reasons],
                hint="see the hook's messages above",
                error=any(r.timed_out or r.error for r in failed),
                output=output,
            )
            for u, _ in selected
        ]
