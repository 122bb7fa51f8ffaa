"""The exact lines an agent sandbox needs to reach one repo through the gate.

An agent's tooling needs three things: where the gate is, the agent's token, and a remote.
The token goes to git through the credential helper (`git-credential-gitgate`), never into a
remote URL. The helper is configured for the gate's URL only, after an empty `helper =` that
clears helpers configured earlier (a `store` or keychain helper would otherwise be asked to
save the token). The API side (gh, the GitHub MCP server, PyGithub/Octokit) gets the gate's
host and the same token through the variables those tools read; gh speaks only HTTPS, which
the lines say when the gate's URL is plain HTTP.
"""

from __future__ import annotations

import shlex
import urllib.parse
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
        ]
        source = '"$(cat "$GITGATE_TOKEN_FILE")"' if self.token_file else '"$GITGATE_TOKEN"'
        lines += [
            "# the GitHub API through the gate: gh, the GitHub MCP server, PyGithub, Octokit",
            f"export GH_HOST={shlex.quote(urllib.parse.urlsplit(url).netloc)}",
            f"export GH_ENTERPRISE_TOKEN={source}",
            f"export GITHUB_HOST={shlex.quote(url)}",
            'export GITHUB_PERSONAL_ACCESS_TOKEN="$GH_ENTERPRISE_TOKEN"',
            f"#   PyGithub: Github(base_url='{url}/api/v3', auth=Auth.Token(token))",
            f"#   Octokit: new Octokit({{ baseUrl: '{url}/api/v3', auth: token }})",
        ]
        if url.startswith("http://"):
            lines.append("#   gh speaks only HTTPS: it needs the gate behind TLS (server.tls_cert)")
        return "\n".join(lines) + "\n"
