"""`gitgate agent-setup` and `gitgate try`: from zero to a gated agent."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from gitgate.config import parse_duration


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from gitgate.cli import add_config_arg

    p = sub.add_parser(
        "agent-setup", help="print the lines an agent sandbox needs (token, helper, remote)"
    )
    add_config_arg(p)
    p.add_argument("--subject", required=True, help="who the agent is, e.g. agent-7")
    p.add_argument("--group", action="append", default=[], help="a group (repeatable)")
    p.add_argument("--repo", required=True, help="owner/name, e.g. acme/app")
    p.add_argument("--ttl", default="30d", help="lifetime of an issued token (default 30d)")
    p.add_argument(
        "--token-file",
        help="the sandbox reads its token from this file: used if it exists, else a new "
        "token is written there (mode 0600); without it the token is printed",
    )
    p.add_argument("--url", help="the gate's URL as agents reach it (default: server.public_url)")
    p.set_defaults(func=cmd_agent_setup)
    t = sub.add_parser("try", help="a throwaway gate, local upstream and sample policy")
    t.add_argument(
        "--dir", default="gitgate-try", help="where it all lives (default ./gitgate-try)"
    )
    t.add_argument(
        "--bind",
        default=os.environ.get("GITGATE_TRY_BIND", "127.0.0.1:8418"),
        help="HOST:PORT (default $GITGATE_TRY_BIND, else 127.0.0.1:8418, else any free port)",
    )
    t.set_defaults(func=cmd_try)


def cmd_agent_setup(args: argparse.Namespace) -> int:
    from gitgate.auth.keyseal import SealError
    from gitgate.cli import load_config
    from gitgate.onboard.agent_setup import SandboxLines, issue_token

    cfg = load_config(args.config)
    if args.repo.count("/") != 1 or args.repo.endswith(".git"):
        print("gitgate: --repo: write owner/name, e.g. acme/app", file=sys.stderr)
        return 2
    token: str | None = None
    existing = args.token_file and Path(args.token_file).is_file()
    if not existing:
        if not cfg.auth.gate_issuer:
            print(
                "gitgate: auth.gate_issuer is false: this gate issues no tokens; pass "
                "--token-file with the agent's token from your identity provider",
                file=sys.stderr,
            )
            return 2
        try:
            ttl = parse_duration(args.ttl)
        except ValueError as ex:
            print(f"gitgate: --ttl: {ex}", file=sys.stderr)
            return 2
        try:
            token, jti = issue_token(cfg, args.subject, args.group, ttl)
        except (SealError, ValueError) as ex:  # over auth.max_token_ttl, a wrong key secret
            print(f"gitgate: {ex}", file=sys.stderr)
            return 2
        print(f"token id (jti): {jti}; revoke with: gitgate token revoke {jti}", file=sys.stderr)
        if args.token_file:
            fd = os.open(args.token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(token + "\n")
            print(f"token written to {args.token_file} (mode 0600)", file=sys.stderr)
    lines = SandboxLines(
        gate_url=args.url or cfg.server.public_url,
        repo=args.repo,
        token=None if args.token_file else token,
        token_file=os.path.abspath(args.token_file) if args.token_file else None,
    )
    print(lines.render(), end="")
    return 0


def cmd_try(args: argparse.Namespace) -> int:
    from gitgate.onboard.tryout import TryError, run

    try:
        return run(Path(args.dir), args.bind)
    except TryError as ex:
        print(f"gitgate try: {ex}", file=sys.stderr)
        return 2
