"""`gitgate db upgrade` and `gitgate purge`, plus the helpers other commands use to reach
the database the config names."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

from gitgate.config import Config


def open_configured(cfg: Config):  # type: ignore[no-untyped-def]
    """Open (and bind) the database named by `database.url`, creating the data dir."""
    from gitgate import db

    bound = db.db_proxy.obj
    if bound is not None and getattr(bound, "gitgate_url", None) == cfg.database.url:
        return bound  # already open in this process (the gate's own, or an earlier command)
    Path(cfg.storage.data_dir).mkdir(parents=True, exist_ok=True)
    database = db.open_database(cfg.database.url)
    database.gitgate_url = cfg.database.url  # type: ignore[attr-defined]
    db.bind(database)
    return database


@contextlib.contextmanager
def open_bound(cfg: Config, *, upgrade: bool = True) -> Iterator[object]:
    """The config's database, bound and migrated, for the length of a CLI command."""
    from gitgate.db import connection
    from gitgate.db.migrations import upgrade as run_upgrade

    database = open_configured(cfg)
    with connection(database):
        if upgrade:
            run_upgrade(database)
        yield database


def upgrade_database(cfg: Config, *, quiet: bool = False) -> list[int]:
    import peewee

    from gitgate.db.migrations import current_version
    from gitgate.db.migrations import upgrade as run_upgrade

    try:
        database = open_configured(cfg)
    except ValueError as ex:  # the URL names nothing usable (never repeats the URL itself)
        print(f"gitgate: database.url: {ex}", file=sys.stderr)
        raise SystemExit(3) from None
    try:
        with database.connection_context():
            applied = run_upgrade(database)
            version = current_version(database)
    except peewee.PeeweeException as ex:
        # One clear line, no traceback: this is what an operator reads in the journal.
        # libpq's first line names host and port, never the password.
        detail = (str(ex).strip().splitlines() or [type(ex).__name__])[0]
        print(
            f"gitgate: cannot reach the database ({detail}); check database.url and that the "
            "database server is running",
            file=sys.stderr,
        )
        raise SystemExit(3) from None
    if not quiet or applied:
        done = f"applied {', '.join(map(str, applied))}" if applied else "nothing to apply"
        print(f"gitgate: database schema at version {version} ({done})", file=sys.stderr)
    return applied


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from gitgate.cli import add_config_arg

    p = sub.add_parser("db", help="database maintenance")
    dsub = p.add_subparsers(dest="db_command", required=True)
    up = dsub.add_parser("upgrade", help="apply pending schema migrations")
    add_config_arg(up)
    up.set_defaults(func=cmd_upgrade)
    purge = sub.add_parser("purge", help="delete records and payloads past audit.retention_days")
    add_config_arg(purge)
    purge.add_argument("--days", type=int, help="override audit.retention_days")
    purge.set_defaults(func=cmd_purge)


def cmd_upgrade(args: argparse.Namespace) -> int:
    from gitgate.cli import load_config

    upgrade_database(load_config(args.config))
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    from gitgate.cli import load_config
    from gitgate.mask import mapping
    from gitgate.store import sessions

    cfg = load_config(args.config)
    days = cfg.audit.retention_days if args.days is None else args.days
    with open_bound(cfg):
        counts = sessions.purge(days)
        # not age-bound: a map of a push that ended unrelayed is never read again
        counts["pending_mask_map_rows"] = mapping.purge_pending()
    summary = ", ".join(f"{n} {what}" for what, n in counts.items())
    print(f"gitgate: purged records older than {days} days: {summary or 'nothing'}")
    return compact_mirrors(cfg)


def compact_mirrors(cfg: Config) -> int:
    """Repack every mirror (git's own auto-gc is off in mirrors); a failure is reported and
    the others still run."""
    import shutil
    import subprocess

    from gitgate.git.mirror import Mirrors
    from gitgate.upstream.http import Upstream

    mirrors = Mirrors(Path(cfg.storage.data_dir), Upstream(cfg.upstream.git_url, None))
    failed = 0
    for orphan in mirrors.orphans():  # a mixed-case path from an older gate: never read again
        shutil.rmtree(orphan, ignore_errors=True)
        print(f"gitgate: removed the unused mirror {orphan} (mirrors use canonical names)")
    repos = mirrors.repos()
    for repo in repos:
        try:
            mirrors.compact(repo)
        except (subprocess.CalledProcessError, OSError) as ex:
            failed += 1
            print(f"gitgate: could not repack the mirror of {repo}: {ex}", file=sys.stderr)
    print(f"gitgate: repacked {len(repos) - failed} of {len(repos)} mirror(s)")
    return 1 if failed else 0
