"""What a valid config still lacks for a first push to work, in plain words.

`config.load` refuses what is wrong; this names what is *missing*: a config can be valid and
still make every push fail (no upstream credential: GitHub refuses the gate; no rule that
allows writes: the gate refuses everyone). `gitgate serve` prints these once at start-up (in
the serving process, before gunicorn starts workers) and `gitgate check-config` prints the same
lines, so an admin sees them before an agent does. Each line says what to do about it.

Hook for the API side: when the gate also serves GitHub's REST/GraphQL API, agents send their
token on every API call as a bearer header, so "TLS off while the API side is on" belongs in
`_transport` below, keyed on that side's config (it does not exist yet).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

from gitgate.config import Config

_LOOPBACK = re.compile(r"^(127\.\d+\.\d+\.\d+|localhost|\[::1\]|::1)$")


def _credential(cfg: Config) -> list[str]:
    up = cfg.upstream
    if up.app is not None:
        return []
    if not up.token:
        return [
            f"no upstream credential: {up.git_url} will refuse the gate's pushes (agents read "
            "'the gate's credential was refused'). Set upstream.token = \"env:GITHUB_TOKEN\" and "
            "export GITHUB_TOKEN, or configure [upstream.app] (docs/configuration.md)"
        ]
    kind, _, where = up.token.partition(":")
    if kind == "env" and not os.environ.get(where):
        return [
            f"upstream.token names ${where}, which is not set in this environment: export it "
            "before starting the gate (the upstream will refuse the gate's pushes without it)"
        ]
    if kind == "file" and not os.access(where, os.R_OK):
        return [
            f"upstream.token names the file {where}, which this process cannot read: create it "
            "(mode 0600) or fix the path"
        ]
    return []


def _rules(cfg: Config) -> list[str]:
    if any(rule.access == "write" for rule in cfg.rule):
        return []
    return [
        "no rule allows writes: every push will be refused. Add a [[rule]] with "
        'access = "write" for the agents\' groups (config/gitgate.example.toml shows one)'
    ]


def _auth(cfg: Config) -> list[str]:
    if cfg.auth.required:
        return []
    return [
        "auth.required is false: anyone who reaches the gate can push, unnamed in the audit; "
        "set it to true and give agents tokens (gitgate agent-setup)"
    ]


def _transport(cfg: Config) -> list[str]:
    """Plain HTTP beyond loopback carries agents' tokens in clear (the API side hooks in here)."""
    host = cfg.server.bind.rpartition(":")[0]
    public_plain = cfg.server.public_url.startswith("http://")
    if cfg.server.tls_cert:  # gunicorn serves HTTPS itself (server.tls_cert / tls_key)
        return []
    if not public_plain or _LOOPBACK.match(host) or host.startswith("unix:"):
        return []
    return [
        f"TLS is off: the gate serves plain HTTP on {cfg.server.bind} and agents' tokens would "
        "cross the network in clear. Put a TLS proxy in front (docs/deploy.md) and set "
        'server.public_url = "https://..."'
    ]


CHECKS: tuple[Callable[[Config], list[str]], ...] = (_credential, _rules, _auth, _transport)


def advice(cfg: Config) -> list[str]:
    """Every missing piece, one plain sentence each (empty when nothing is missing)."""
    return [line for check in CHECKS for line in check(cfg)]


def render(cfg: Config) -> str:
    """The block `serve` and `check-config` print ('' when there is nothing to say)."""
    lines = advice(cfg)
    if not lines:
        return ""
    head = f"gitgate: {len(lines)} thing(s) to fix before agents can push through this gate:"
    return "\n".join([head, *(f"  - {line}" for line in lines)]) + "\n"
