"""`gitgate token issue|revoke`: the gate's own agent tokens (the embedded default issuer)."""

from __future__ import annotations

import argparse
import sys

from gitgate.config import parse_duration


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from gitgate.cli import add_config_arg

    p = sub.add_parser("token", help="issue or revoke the gate's own agent tokens")
    tsub = p.add_subparsers(dest="token_command", required=True)
    issue = tsub.add_parser("issue", help="print a new signed token for an agent")
    add_config_arg(issue)
    issue.add_argument("--subject", required=True, help="who the token is for, e.g. agent-7")
    issue.add_argument("--group", action="append", default=[], help="a group (repeatable)")
    issue.add_argument("--ttl", default="30d", help="lifetime: 3600, 12h, 30d (default 30d)")
    issue.set_defaults(func=cmd_issue)
    revoke = tsub.add_parser("revoke", help="make a token fail from now on")
    add_config_arg(revoke)
    revoke.add_argument("jti", help="the token id printed by `token issue`")
    revoke.add_argument("--reason", default="", help="recorded with the revocation")
    revoke.set_defaults(func=cmd_revoke)


def cmd_issue(args: argparse.Namespace) -> int:
    from gitgate.auth.factory import gate_issuer, revocation_store
    from gitgate.cli import load_config
    from gitgate.cli.db import open_bound

    cfg = load_config(args.config)
    if not cfg.auth.gate_issuer:
        print(
            "gitgate: auth.gate_issuer is false: this gate does not issue tokens", file=sys.stderr
        )
        return 2
    try:
        ttl = parse_duration(args.ttl)
    except ValueError as ex:
        print(f"gitgate: --ttl: {ex}", file=sys.stderr)
        return 2
    with open_bound(cfg):
        token, jti = gate_issuer(cfg, revocation_store()).issue(
            subject=args.subject, groups=args.group, ttl_s=ttl
        )
    print(token)
    print(f"token id (jti): {jti}; revoke with: gitgate token revoke {jti}", file=sys.stderr)
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    from gitgate.auth.factory import revocation_store
    from gitgate.cli import load_config
    from gitgate.cli.db import open_bound

    cfg = load_config(args.config)
    with open_bound(cfg):
        revocation_store().revoke(args.jti, reason=args.reason)
    print(f"revoked {args.jti}: it fails from now on")
    return 0
