"""`gitgate explain`: which rule applies to whom, and what it allows — "why was this refused?"."""

from __future__ import annotations

import argparse
import dataclasses
import sys

from gitgate.config.registry import registered, summary
from gitgate.policy import repo_rule, rule_for


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from gitgate.cli import add_config_arg

    p = sub.add_parser("explain", help="show which rule applies and what it allows")
    add_config_arg(p)
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--token", help="an agent's token (verified like the gate does)")
    who.add_argument("--subject", help="an identity, with --group")
    p.add_argument("--group", action="append", default=[], help="a group (repeatable)")
    p.add_argument("--repo", required=True, help="owner/name")
    p.add_argument("--ref", help="e.g. refs/heads/main (default: what a clone/fetch gets)")
    p.set_defaults(func=cmd_explain)


def cmd_explain(args: argparse.Namespace) -> int:
    from gitgate.cli import load_config
    from gitgate.repos import BadRepo, parse_repo

    cfg = load_config(args.config)
    try:
        repo = parse_repo(args.repo)  # the gate decides on the canonical name; so does explain
    except BadRepo as ex:
        print(f"gitgate: {ex}", file=sys.stderr)
        return 2
    subject, groups = args.subject, list(args.group)
    if args.token:
        from gitgate.auth import AuthError
        from gitgate.auth.factory import authenticate_token
        from gitgate.cli.db import open_bound

        with open_bound(cfg):
            try:
                ident = authenticate_token(cfg, args.token)
            except AuthError as ex:
                print(f"token refused: {ex}")
                return 1
        subject, groups = ident.subject, list(ident.groups)
    print(f"identity: {subject} groups: {', '.join(groups) or '(none)'}")
    if args.ref:
        rule = rule_for(cfg.rule, repo, args.ref, groups)
        target = f"{repo} {args.ref}"
    else:
        rule = repo_rule(cfg.rule, repo, groups)
        target = f"{repo} (clone/fetch)"
    if rule is None:
        print(f"{target}: no rule matches: no access (deny by default)")
        return 1
    index = cfg.rule.index(rule)
    print(f"{target}: rule[{index}] {rule.name!r} applies (first match of {len(cfg.rule)})")
    print(f"  matched on repos={rule.repos} refs={rule.refs} groups={rule.groups}")
    print(
        f"  access: {rule.access}"
        + ("  (dry run: decides and warns, relays anyway)" if rule.dry_run else "")
    )
    if args.ref and rule.access == "write":
        for check in registered():  # every check, in the order they run
            act = getattr(rule.actions, check.name)
            opts = rule.options(check.name, check.Options)
            # a check without settings reads as one phrase: "lfs pointers without ... -> reject"
            sep = ": " if dataclasses.fields(opts) else " "
            print(f"  {check.name}{sep}{summary(opts)} -> {act}")
            if act == "mask":
                print(
                    "  mask: each secret found is replaced by **gitgate-masked:<type>:<hash>** "
                    "in rewritten commits; only the masked history reaches upstream"
                )
        levels = dataclasses.asdict(rule.secret_actions)
        if any(levels.values()):
            per = ", ".join(f"{k} -> {v or rule.actions.secrets}" for k, v in levels.items())
            print(f"  secrets by confidence: {per}")
        acts = dict(rule.actions.items())
        if "queue" in acts.values():
            print(
                f"  queue: reviewers={rule.reviewers} approvals={rule.approvals} "
                f"expiry={rule.queue_expiry}s"
            )
    sys.stdout.flush()
    return 0 if rule.access != "none" else 1
