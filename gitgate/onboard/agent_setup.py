"""The exact lines an agent sandbox needs to reach one repo through the gate.

An agent's tooling needs three things: where the gate is, the agent's token, and a remote.
The token goes to git through the credential helper (`git-credential-gitgate`), never into a
remote URL. The helper is configured for the gate's URL only, after an empty `helper =` that
clears helpers configured earlier (a `store` or keychain helper would otherwise be asked to
save the token). The API side (gh, the GitHub MCP server, PyGithub/Octokit) does not exist in
this version, so no lines are printed for it: they would name endpoints that do not answer.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from gitgate.config import Config


def issue_token(cfg: Config, subject: str, groups: Sequence[str], ttl_s: int) -> tuple[str, str]:
    """A gate token through the same issuer as `gitgate token issue`; returns (token, jti)."""
    from gitgate.auth.factory import gate_issuer, revocation_store
    from gitgate.cli.db import open_bound

    with open_bound(cfg):
        return gate_issuer(cfg, revocation_store()).issue(
            subject=subject, groups=list(groups), ttl_s=ttl_s
        )


@dataclass(frozen=True)
class SandboxLines:
    gate_url: str
    repo: str
    token: str | None = None  # printed as GITGATE_TOKEN when issued here
    token_file: str | None = None  # or the file the sandbox reads it from

    def render(self) -> str:
        url = self.gate_url.rstrip("/")
        remote = f"{url}/{self.repo}.git"
        scope = shlex.quote(f"credential.{url}.helper")
        lines = [
            "# where the gate is, and the agent's token (for git-credential-gitgate)",
            f"export GITGATE_URL={shlex.quote(url)}",
        ]
        if self.token_file:
            lines.append(f"export GITGATE_TOKEN_FILE={shlex.quote(self.token_file)}")
        else:
            lines.append(f"export GITGATE_TOKEN={shlex.quote(self.token or '')}")
        lines += [
            "# git asks the helper for the token; the empty helper clears any that would store it",
            f"git config --global --replace-all {scope} ''",
            f"git config --global --add {scope} gitgate",
            "# a plain remote: no token in .git/config or .gitmodules",
            f"git clone {shlex.quote(remote)}",
            f"#   or, in an existing clone: git remote set-url origin {shlex.quote(remote)}",
            "# gh (GH_HOST, GH_ENTERPRISE_TOKEN), the GitHub MCP server (GITHUB_HOST) and",
            "# PyGithub/Octokit base URLs: these come with the gate's API side (not in this",
            "# version); until then those tools cannot go through the gate.",
        ]
        return "\n".join(lines) + "\n"
