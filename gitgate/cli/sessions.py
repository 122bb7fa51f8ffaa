"""`gitgate sessions list|show|export`: read the audit trail (one record per request).

`list` and `show` are for people at a terminal; `export` writes JSON Lines for a SIEM, in the
same shape as the admin API. APPSEC: subjects, repos and reasons come from agents and tokens,
so control characters are stripped before anything reaches a terminal (no escape sequences);
records never hold secret values (findings carry a type, a location and a short hash).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
_SINCE_HELP = (
    "an ISO date or time (2026-01-01, 2026-01-01T08:00Z; UTC unless given) or an age (12h, 7d)"
)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from gitgate.cli import add_config_arg

    p = sub.add_parser("sessions", help="list, show or export the audit trail")
    ssub = p.add_subparsers(dest="sessions_command", required=True)
    lst = ssub.add_parser("list", help="the newest session records, as a table")
    add_config_arg(lst)
    lst.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    lst.add_argument("--repo", help="only this repository (owner/name)")
    lst.add_argument("--since", help=f"only records from then on: {_SINCE_HELP}")
    lst.set_defaults(func=cmd_list)
    show = ssub.add_parser("show", help="every field of one session record")
    add_config_arg(show)
    show.add_argument("id", type=int)
    show.set_defaults(func=cmd_show)
    export = ssub.add_parser("export", help="records as JSON Lines (for a SIEM), oldest first")
    add_config_arg(export)
    export.add_argument("--since", required=True, help=_SINCE_HELP)
    export.add_argument("--output", "-o", help="write to this file (default: stdout)")
    export.set_defaults(func=cmd_export)


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """``7d`` (an age) or an ISO 8601 date/time; naive times are UTC. ValueError otherwise."""
    m = _DURATION.match(value.strip())
    if m:
        age = int(m.group(1)) * _UNITS[m.group(2)]
        return (now or datetime.now(UTC)) - timedelta(seconds=age)
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"--since {value!r}: use {_SINCE_HELP}") from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def cmd_list(args: argparse.Namespace) -> int:
    from gitgate.cli import load_config
    from gitgate.cli.db import open_bound
    from gitgate.store import sessions

    if args.limit < 1:
        print("gitgate: --limit must be at least 1", file=sys.stderr)
        return 2
    from gitgate.repos import parse_repo

    try:
        since = parse_since(args.since) if args.since else None
        repo = parse_repo(args.repo) if args.repo else None  # records hold canonical names
    except ValueError as ex:
        print(f"gitgate: {ex}", file=sys.stderr)
        return 2
    with open_bound(load_config(args.config)):
        records = sessions.list_sessions(limit=args.limit, since=since, repo=repo)
    if not records:
        print("gitgate: no session records match", file=sys.stderr)
        return 0
    header = ("ID", "TIME (UTC)", "SUBJECT", "REPO", "SERVICE", "DECISION", "REFS", "DURATION")
    rows = [
        (
            str(r["id"]),
            _time(r.get("started_at")),
            _text(r.get("subject")),
            _text(r.get("repo")),
            _text(r.get("service")),
            _text(r.get("decision")),
            _refs(r.get("ref_updates") or []),
            _duration(r.get("duration_ms")),
        )
        for r in records
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from gitgate.cli import load_config
    from gitgate.cli.db import open_bound
    from gitgate.store import sessions

    with open_bound(load_config(args.config)):
        record = sessions.get(args.id)
    if record is None:
        print(f"gitgate: no session record {args.id}", file=sys.stderr)
        return 1
    for line in format_record(record):
        print(line)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from gitgate.cli import load_config
    from gitgate.cli.db import open_bound
    from gitgate.store import sessions

    try:
        since = parse_since(args.since)
    except ValueError as ex:
        print(f"gitgate: {ex}", file=sys.stderr)
        return 2
    cfg = load_config(args.config)
    if args.output:
        try:
            # Audit data names people and addresses: readable by its owner only.
            fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        except OSError as ex:
            print(f"gitgate: cannot write {args.output}: {ex.strerror}", file=sys.stderr)
            return 2
        with open(fd, "w", encoding="utf-8") as out, open_bound(cfg):
            count = sessions.export_jsonl(since, out)
    else:
        with open_bound(cfg):
            count = sessions.export_jsonl(since, sys.stdout)
        sys.stdout.flush()
    where = f" to {args.output}" if args.output else ""
    start = since.isoformat(timespec="seconds")
    print(
        f"gitgate: exported {count} session record(s) since {start}{where}",
        file=sys.stderr,
    )
    return 0


def format_record(r: dict[str, Any]) -> list[str]:
    """Every field of a record, one readable line each; lists get a section of their own."""
    shown = {"id", "ref_updates", "verdicts", "findings", "statuses", "groups", "bytes_in"}
    shown |= {"bytes_out", "queued_push", "duration_ms", "started_at"}
    lines = [
        f"session {r['id']}",
        f"  started:     {_time(r.get('started_at'))} UTC ({_duration(r.get('duration_ms'))})",
    ]
    for key, label in (
        ("subject", "subject"),
        ("issuer", "issuer"),
        ("source_addr", "source"),
        ("repo", "repo"),
        ("service", "service"),
        ("decision", "decision"),
        ("upstream_status", "upstream"),
        ("request_id", "request id"),
        ("error", "error"),
    ):
        shown.add(key)
        lines.append(f"  {label + ':':<12} {_text(r.get(key))}")
    lines.append(f"  {'groups:':<12} {_text(', '.join(map(str, r.get('groups') or [])))}")
    lines.append(f"  {'bytes:':<12} in {r.get('bytes_in', 0)}, out {r.get('bytes_out', 0)}")
    push = r.get("queued_push")
    lines.append(f"  {'queued push:':<12} {f'#{push}' if push is not None else '-'}")
    for key in sorted(set(r) - shown):  # a column added later is still shown
        lines.append(f"  {key + ':':<12} {_text(r[key])}")
    lines += _section("ref updates", r.get("ref_updates"), _ref_update)
    lines += _section("verdicts", r.get("verdicts"), _verdict)
    lines += _section("statuses", r.get("statuses"), _status)
    lines += _section("findings", r.get("findings"), format_finding)
    return lines


def format_finding(f: dict[str, Any]) -> str:
    """``type at path:line (commit, hash)``, with the short forms people compare by eye."""
    where = _text(f.get("path"))
    if f.get("line") is not None:
        where += f":{f['line']}"
    ids = ", ".join(v for v in (_text(f.get("commit"))[:12], _text(f.get("hash"))) if v != "-")
    check = f" [{_text(f.get('check'))}]" if f.get("check") else ""
    return f"{_text(f.get('type'))} at {where}" + (f" ({ids})" if ids else "") + check


def _section(title: str, items: Any, fmt: Any) -> list[str]:
    items = items or []
    if not items:
        return [f"  {title}: none"]
    return [f"  {title} ({len(items)}):"] + [f"    {fmt(item)}" for item in items]


def _ref_update(u: dict[str, Any]) -> str:
    old, new = _text(u.get("old"))[:12], _text(u.get("new"))[:12]
    return f"{_text(u.get('ref'))}  {old}..{new}"


def _verdict(v: dict[str, Any]) -> str:
    outcome = "passed" if v.get("passed") else f"failed -> {_text(v.get('action'))}"
    reason = f": {_text(v.get('reason'))}" if v.get("reason") else ""
    return f"{_text(v.get('check'))} on {_text(v.get('ref'))}: {outcome}{reason}"


def _status(s: dict[str, Any]) -> str:
    return f"{_text(s.get('ref'))}: {_text(s.get('status'))}"


def _refs(updates: list[dict[str, Any]]) -> str:
    names = [_short_ref(_text(u.get("ref"))) for u in updates]
    if not names:
        return "-"
    more = f" +{len(names) - 2}" if len(names) > 2 else ""
    return ",".join(names[:2]) + more


def _short_ref(ref: str) -> str:
    return ref.removeprefix("refs/heads/").replace("refs/tags/", "tag:", 1)


def _time(value: Any) -> str:
    if not value:
        return "-"
    return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _duration(ms: Any) -> str:
    ms = int(ms or 0)
    if ms < 1000:
        return f"{ms}ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f}s"
    minutes, seconds = divmod(ms // 1000, 60)
    return f"{minutes}m{seconds:02d}s"


def _text(value: Any) -> str:
    """A value for a terminal: '-' for nothing, control characters (escapes) made visible."""
    if value is None or value == "":
        return "-"
    return _CONTROL.sub("?", str(value))
