"""`gitgate review list|show|approve|reject`: a human decides on queued pushes.

The CLI acts as a named reviewer: `--token` (verified like the gate verifies agents; the token's
subject and groups are the reviewer's) or `--as NAME --group G` (also `$GITGATE_TOKEN`,
`$GITGATE_REVIEWER`, `$GITGATE_REVIEWER_GROUPS`). `--as` is trusted as it stands: whoever runs
the CLI can reach the database already, so it names the reviewer for the record rather than
proving who they are; use tokens where reviewers should not hold database access. The final
approval relays the stored push from this process, exactly once (the store's claim decides).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from gitgate.web.links import page_url

STATES = (
    "pending",
    "relaying",
    "relayed",
    "rejected",
    "expired",
    "stale",
    "failed",
    "superseded",
)
# `approved` names the state the store calls `relaying`: approved, its relay claimed.
ALIASES = {"approved": "relaying"}


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from gitgate.cli import add_config_arg

    p = sub.add_parser("review", help="list, show, approve or reject queued pushes")
    rsub = p.add_subparsers(dest="review_command", required=True)
    lst = rsub.add_parser("list", help="queued pushes (pending by default)")
    add_config_arg(lst)
    lst.add_argument("--state", choices=(*STATES, *ALIASES, "all"), default="pending")
    lst.add_argument("--json", action="store_true", help="one JSON object per line")
    lst.set_defaults(func=cmd_list)
    show = rsub.add_parser("show", help="everything about one queued push")
    add_config_arg(show)
    show.add_argument("id", type=int)
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=cmd_show)
    rec = rsub.add_parser(
        "recover",
        help="show relays interrupted by a dead process and resolve them now against upstream",
    )
    add_config_arg(rec)
    rec.add_argument("ids", type=int, nargs="*", help="only these pushes")
    rec.add_argument(
        "--force",
        action="store_true",
        help="also take over claims held by another host (you know that instance is gone)",
    )
    rec.set_defaults(func=cmd_recover)
    for name, helptext in (
        ("approve", "approve (the final approval relays it)"),
        ("reject", "reject: the push is dropped, the reason recorded"),
    ):
        a = rsub.add_parser(name, help=helptext)
        add_config_arg(a)
        a.add_argument("id", type=int)
        a.add_argument(
            "--as",
            dest="reviewer",
            default=os.environ.get("GITGATE_REVIEWER"),
            help="reviewer name (or $GITGATE_REVIEWER)",
        )
        a.add_argument(
            "--group",
            action="append",
            default=None,
            help="reviewer group, repeatable (or $GITGATE_REVIEWER_GROUPS, commas)",
        )
        a.add_argument(
            "--token",
            default=os.environ.get("GITGATE_TOKEN"),
            help="a gitgate/OIDC token naming the reviewer (or $GITGATE_TOKEN)",
        )
        if name == "approve":
            a.add_argument("--comment", default="")
            a.set_defaults(func=cmd_approve)
        else:
            a.add_argument("--reason", required=True, help="why (the agent and record see it)")
            a.set_defaults(func=cmd_reject)


def _reviewer(args: argparse.Namespace, cfg: Any) -> tuple[str, list[str]]:
    if args.token:
        from gitgate.auth import AuthError
        from gitgate.auth.factory import authenticate_token

        try:
            ident = authenticate_token(cfg, args.token)
        except AuthError as ex:
            raise SystemExit(f"gitgate: reviewer token refused: {ex}") from None
        return ident.subject, list(ident.groups)
    if not args.reviewer:
        raise SystemExit("gitgate: who is reviewing? give --as NAME --group G, or --token")
    groups = args.group
    if groups is None:
        groups = [g for g in os.environ.get("GITGATE_REVIEWER_GROUPS", "").split(",") if g]
    return args.reviewer, groups


def _housekeeping(cfg: Any) -> None:
    """Expire what is due (and announce it) before showing or deciding anything."""
    from gitgate.ops.maintenance import expire_and_announce

    expire_and_announce()


def _deliver(cfg: Any) -> None:
    from gitgate.audit.notify import Notifier

    Notifier(cfg.notify).deliver_due()


def cmd_list(args: argparse.Namespace) -> int:
    from gitgate.cli import load_config
    from gitgate.cli.db import open_bound
    from gitgate.store import queue

    cfg = load_config(args.config)
    with open_bound(cfg):
        _housekeeping(cfg)
        state = ALIASES.get(args.state, args.state)
        pushes = queue.list_pushes(None if state == "all" else state)
    if args.json:
        for p in pushes:
            print(json.dumps(p.to_dict(), default=str))
        return 0
    if not pushes:
        print(f"no {args.state} pushes" if args.state != "all" else "no queued pushes")
        return 0
    print(
        f"{'id':>5}  {'state':9} {'created (UTC)':16}  {'repo':24} {'pusher':14} "
        f"{'approvals':9}  refs"
    )
    for p in pushes:
        refs = ", ".join(
            r["ref"].removeprefix("refs/heads/") for r in p.summary.get("ref_updates", [])
        )
        print(
            f"{p.id:>5}  {p.state:9} {p.created_at:%Y-%m-%d %H:%M}  {p.repo:24} "
            f"{p.pusher_subject[:14]:14} {len(p.approvers)}/{p.approvals_required:<7}  {refs}"
        )
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from gitgate.cli import load_config
    from gitgate.cli.db import open_bound
    from gitgate.store import queue

    cfg = load_config(args.config)
    with open_bound(cfg):
        _housekeeping(cfg)
        p = queue.get(args.id)
    if p is None:
        print(f"gitgate: no queued push #{args.id}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(p.to_dict(), default=str, indent=2))
        return 0
    s = p.summary
    print(f"push #{p.id}: {p.state}" + (f" ({p.state_reason})" if p.state_reason else ""))
    url = page_url(p.id)
    if url:
        print(f"  page:      {url}")
    print(f"  repo:      {p.repo}")
    print(f"  pusher:    {p.pusher_subject} (groups: {', '.join(p.pusher_groups) or '-'})")
    print(
        f"  queued:    {p.created_at:%Y-%m-%d %H:%M:%S} UTC, expires "
        f"{p.expires_at:%Y-%m-%d %H:%M:%S} UTC"
    )
    print(
        f"  rule:      {p.rule_name}; reviewers: {', '.join(p.reviewer_groups)}; "
        f"approvals {len(p.approvers)}/{p.approvals_required}"
    )
    for reason in s.get("reasons", []):
        print(f"  why:       {reason}")
    for r in s.get("ref_updates", []):
        forced = " (force)" if r.get("forced") else ""
        print(f"  ref:       {r['ref']}  {r['old'][:12]} -> {r['new'][:12]}{forced}")
    for c in s.get("commits", []):
        print(f"  commit:    {c['id'][:12]} {c['summary']}  <{c['author']}>")
    for ch in s.get("changed_paths", []):
        src = f"{ch['old_path']} -> " if ch.get("old_path") and ch["old_path"] != ch["path"] else ""
        print(f"  {ch['kind']:9}  {src}{ch['path']}")
    for f in s.get("findings", []):
        where = f"{f.get('path', '')}:{f['line']}" if f.get("line") else f.get("path", "")
        print(
            f"  finding:   [{f['check']}] {f.get('type', '')} {where} "
            f"{'commit ' + f['commit'] if f.get('commit') else ''}"
            f"{' hash ' + f['hash'] if f.get('hash') else ''}"
        )
    for d in s.get("protected_diffs", []):
        print(f"--- protected file {d['path']}")
        print(d["diff"])
    for r in p.decisions:
        print(f"  {r.verdict}: {r.reviewer} at {r.decided_at:%Y-%m-%d %H:%M} {r.comment}")
    if p.relay_report:
        print(f"  upstream:  {p.relay_report}")
    return 0


def _upstream(cfg: Any) -> tuple[Any, str | None]:
    """The upstream with the gate's credential, or why it cannot be built right now (checked
    before anything is claimed: a claim nobody can relay would leave the push stuck)."""
    from gitgate.services import build_credential
    from gitgate.upstream.credential import UpstreamCredentialError
    from gitgate.upstream.http import Upstream, UpstreamError

    try:
        upstream = Upstream(
            cfg.upstream.git_url, build_credential(cfg), timeout=cfg.upstream.timeout
        )
        upstream.auth_header()  # a GitHub App exchanges its token here
    except (ValueError, UpstreamError, UpstreamCredentialError) as ex:
        return None, f"the gate's upstream credential is unavailable ({ex})"
    return upstream, None


def cmd_recover(args: argparse.Namespace) -> int:
    """List interrupted relays and resolve them: upstream's refs decide
    (gitgate.outcomes.recovery)."""
    from gitgate.cli import load_config
    from gitgate.cli.db import open_bound
    from gitgate.outcomes.recovery import recover
    from gitgate.store import queue

    cfg = load_config(args.config)
    with open_bound(cfg):
        relaying = [p for p in queue.list_pushes("relaying") if not args.ids or p.id in args.ids]
        for p in relaying:
            alive = queue.claimer_alive(p.claimed_by)
            who = {True: "still running", False: "gone", None: "on another host"}[alive]
            print(f"push #{p.id}: relaying since {p.claimed_at} by {p.claimed_by} ({who})")
        if not relaying:
            print("no relaying pushes")
            return 0
        upstream, problem = _upstream(cfg)
        if upstream is None:
            print(f"gitgate: cannot resolve anything now: {problem}", file=sys.stderr)
            return 1
        done = recover(upstream, args.ids or None, force=args.force)
        for r in done:
            print(f"push #{r.push_id}: {r.state}: {r.reason}")
        _deliver(cfg)
    left = len(relaying) - len(done)
    if left:
        print(
            f"{left} push(es) left as they are: their relay is running or on another host "
            "(--force takes those over)"
        )
    return 0 if all(r.state in ("relayed", "stale") for r in done) else 1


def _decide(args: argparse.Namespace, verdict: str) -> int:
    """Record an approval or rejection; the final approval relays from this process."""
    from gitgate.cli import load_config
    from gitgate.cli.db import open_bound
    from gitgate.outcomes.approval import record_review, relay_stored

    cfg = load_config(args.config)
    with open_bound(cfg):
        reviewer, groups = _reviewer(args, cfg)
        _housekeeping(cfg)
        text = args.comment if verdict == "approve" else args.reason
        upstream, problem = _upstream(cfg) if verdict == "approve" else (None, None)
        try:
            outcome = record_review(args.id, verdict, reviewer, groups, text, can_relay=problem)
        except LookupError:
            print(f"gitgate: no queued push #{args.id}", file=sys.stderr)
            return 1
        print(outcome.message)
        code = 0 if outcome.recorded and problem is None else 1
        if getattr(outcome, "claimed", False) and upstream is not None:
            result = relay_stored(args.id, upstream)
            print(f"push #{args.id}: {result.state}: {result.reason}")
            code = 0 if result.state == "relayed" else 1
        _deliver(cfg)
    return code


def cmd_approve(args: argparse.Namespace) -> int:
    return _decide(args, "approve")


def cmd_reject(args: argparse.Namespace) -> int:
    return _decide(args, "reject")
