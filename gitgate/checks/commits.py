"""Commit metadata: author and committer email patterns, commit message rules.

Patterns are regular expressions; emails must match one of the allowed patterns in full.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from gitgate.checks.base import CheckContext, Finding, Verdict, updates_for
from gitgate.config import Rule
from gitgate.inspection.push import Push


def _email(ident: bytes) -> str:
    text = ident.decode("utf-8", "replace")
    m = re.search(r"<([^>]*)>", text)
    return m.group(1) if m else text


@dataclass(frozen=True)
class CommitsOptions:
    """`[rule.commits]`: regexes for author and committer emails and for messages."""

    author_email: list[str] = field(default_factory=list)
    committer_email: list[str] = field(default_factory=list)
    message_deny: list[str] = field(default_factory=list)
    message_require: str = ""

    def problems(self, where: str) -> list[str]:
        """Every pattern must compile: a broken one would fail each push, not the config."""
        patterns = [
            (f"{where}.{key}[{j}]", rx)
            for key in ("message_deny", "author_email", "committer_email")
            for j, rx in enumerate(getattr(self, key))
        ]
        if self.message_require:
            patterns.append((f"{where}.message_require", self.message_require))
        out = []
        for path, rx in patterns:
            try:
                re.compile(rx)
            except re.error as ex:
                out.append(f"{path}: invalid regular expression: {ex}")
        return out


class CommitMetadata:
    name = "commits"
    Options = CommitsOptions
    inline = False
    default_action = "reject"
    maskable = False

    def run(self, push: Push, rules: Mapping[str, Rule], ctx: CheckContext) -> list[Verdict]:
        verdicts = []
        for update, rule in updates_for(push, rules):
            c = rule.options(self.name, CommitsOptions)
            if not (c.author_email or c.committer_email or c.message_deny or c.message_require):
                continue
            findings: list[Finding] = []
            for commit in update.new_commits:
                cid = commit.id.decode()
                for who, allowed in (("author", c.author_email), ("committer", c.committer_email)):
                    if not allowed:
                        continue
                    email = _email(commit.author if who == "author" else commit.committer)
                    if not any(re.fullmatch(rx, email) for rx in allowed):
                        findings.append(
                            Finding(
                                self.name,
                                update.ref,
                                f"{who} email {email} is not allowed",
                                commit=cid,
                            )
                        )
                message = commit.message.decode("utf-8", "replace")
                for rx in c.message_deny:
                    if re.search(rx, message):
                        findings.append(
                            Finding(
                                self.name,
                                update.ref,
                                f"commit message matches a denied pattern ({rx})",
                                commit=cid,
                            )
                        )
                if c.message_require and not re.search(c.message_require, message):
                    findings.append(
                        Finding(
                            self.name,
                            update.ref,
                            f"commit message does not match {c.message_require!r}",
                            commit=cid,
                        )
                    )
            verdicts.append(
                Verdict(
                    self.name,
                    update.ref,
                    passed=not findings,
                    reason=findings[0].message if findings else "",
                    findings=findings,
                    hint="fix the commits (git commit --amend --author=..., or git rebase -i to "
                    "reword them) and push again",
                )
            )
        return verdicts
