"""`gitgate token issue|revoke|rotate-key|keys`: the gate's own agent tokens and their keys.

The signing keys live in the database, so a token issued here verifies on every gate instance
that shares it, and a rotation is seen by all of them.
"""

from __future__ import annotations

import argparse
import sys

from gitgate.auth.keyseal import SealError
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
    rotate = tsub.add_parser(
        "rotate-key", help="start signing with a new key; old tokens verify until they expire"
    )
    add_config_arg(rotate)
    rotate.add_argument(
        "--withdraw-old",
        action="store_true",
        help="the old key leaked: delete it, so every token it signed fails at once",
    )
    rotate.set_defaults(func=cmd_rotate)
    listing = tsub.add_parser("keys", help="list the signing keys every instance verifies with")
    add_config_arg(listing)
    listing.set_defaults(func=cmd_keys)


def cmd_issue(args: argparse.Namespace) -> int:
    from gitgate.cli import load_config
    from gitgate.onboard.agent_setup import issue_token

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
    if ttl > cfg.auth.max_token_ttl:
        print(
            f"gitgate: --ttl {args.ttl} is longer than auth.max_token_ttl "
            f"({cfg.auth.max_token_ttl} s): issue a shorter-lived token, or raise "
            "auth.max_token_ttl in the config",
            file=sys.stderr,
        )
        return 2
    try:
        token, jti = issue_token(cfg, args.subject, args.group, ttl)
    except (SealError, ValueError) as ex:
        print(f"gitgate: {ex}", file=sys.stderr)
        return 2
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


def cmd_rotate(args: argparse.Namespace) -> int:
    from gitgate.auth.factory import gate_issuer, revocation_store
    from gitgate.cli import load_config
    from gitgate.cli.db import open_bound
    from gitgate.store.signing_keys import DbKeyStore

    cfg = load_config(args.config)
    try:
        with open_bound(cfg):
            keys = gate_issuer(cfg, revocation_store()).keys
            assert isinstance(keys, DbKeyStore)
            kid, old = keys.rotate(withdraw_old=args.withdraw_old)
    except SealError as ex:
        print(f"gitgate: {ex}", file=sys.stderr)
        return 2
    print(f"new signing key {kid}: tokens issued from now on use it")
    for o in old:
        if args.withdraw_old:
            print(f"withdrew key {o}: its tokens fail now (on every instance within a minute)")
        else:
            print(
                f"retired key {o}: its tokens keep working until they expire "
                f"(at most auth.max_token_ttl = {cfg.auth.max_token_ttl} s)"
            )
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from gitgate.auth.factory import gate_issuer, revocation_store
    from gitgate.cli import load_config
    from gitgate.cli.db import open_bound
    from gitgate.store.signing_keys import DbKeyStore

    cfg = load_config(args.config)
    with open_bound(cfg):
        keys = gate_issuer(cfg, revocation_store()).keys
        assert isinstance(keys, DbKeyStore)
        rows = keys.keys()
    for row in rows:
        state = f"retired {row.retired_at:%Y-%m-%d %H:%M}" if row.retired_at else "active"
        print(f"{row.kid}  {row.algorithm}  created {row.created_at:%Y-%m-%d %H:%M}  {state}")
    if not rows:
        print("no signing key yet: the first `gitgate token issue` creates one")
    return 0
