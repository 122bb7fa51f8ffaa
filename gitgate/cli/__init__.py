"""The `gitgate` command: serve the gate, and the admin's and reviewer's tools.

Each area registers its subcommands from its own module; this one holds the entry point and
the commands every install needs (serve, check-config, version).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from gitgate import __version__
from gitgate import config as config_mod


def add_config_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        "-c",
        default=os.environ.get("GITGATE_CONFIG"),
        help="config file (default: $GITGATE_CONFIG, else the embedded default)",
    )


def load_config(path: str | None) -> config_mod.Config:
    try:
        cfg = config_mod.load(path)
    except config_mod.ConfigError as ex:
        print(f"gitgate: the config has {len(ex.problems)} problem(s):", file=sys.stderr)
        for p in ex.problems:
            print(f"  {p}", file=sys.stderr)
        raise SystemExit(2) from None
    from gitgate.web.links import configure

    configure(cfg.server.public_url, cfg.review.enabled)
    return cfg


def cmd_version(args: argparse.Namespace) -> int:
    print(f"gitgate {__version__}")
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    from gitgate.onboard.advice import render

    cfg = load_config(args.file)
    print(
        f"{cfg.source}: ok ({len(cfg.rule)} rule(s); data dir {cfg.storage.data_dir}; "
        f"upstream {cfg.upstream.git_url})"
    )
    print(f"checks, in the order they run: {', '.join(config_mod.CHECK_NAMES)}")
    print(render(cfg), end="")  # valid, yet perhaps missing what a first push needs
    return 0


def metrics_dir(cfg: config_mod.Config) -> Path:
    """The workers' shared metric files (prometheus_client's multiprocess mode), emptied here:
    values of a previous run's workers must not be summed into this one's."""
    path = Path(cfg.storage.data_dir) / "metrics"
    if path.is_dir():
        shutil.rmtree(path)
    path.mkdir(parents=True, mode=0o700)
    return path


def cmd_serve(args: argparse.Namespace) -> int:
    """Apply migrations, then exec gunicorn (gthread workers) on `gitgate.app:get_app()`."""
    cfg = load_config(args.config)
    from gitgate.cli.db import upgrade_database

    upgrade_database(cfg, quiet=True)
    bind = args.bind or cfg.server.bind
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "--worker-class",
        "gthread",
        "--workers",
        str(args.workers or cfg.server.workers),
        "--threads",
        str(cfg.server.threads),
        # gthread workers are not killed while streaming; this bounds a silent worker only
        "--timeout",
        str(cfg.server.timeout),
        # SIGTERM: scans stop at once (gitgate/ops/shutdown.py); clones and relays get this long
        "--graceful-timeout",
        str(cfg.server.graceful_timeout),
        "--keep-alive",
        "5",
        "--access-logfile",
        "-" if args.access_log else "/dev/null",
        "--error-logfile",
        "-",
        "--log-level",
        cfg.server.log_level,
        "--name",
        "gitgate",
        # gunicorn 27's control socket would be an undocumented admin interface at
        # $HOME/.gunicorn/gunicorn.ctl, shared (and deleted) by every gate of the same user
        "--no-control-socket",
        "--config",
        "python:gitgate.ops.gunicorn_hooks",  # marks dead workers in the metrics
        "gitgate.app:get_app()",
    ]
    if not os.environ.get("LISTEN_FDS"):  # systemd socket activation: gunicorn uses the fds
        argv[3:3] = ["--bind", bind]
    if cfg.server.tls_cert:  # HTTPS served by gunicorn itself (gh speaks only HTTPS to a gate)
        argv[3:3] = ["--certfile", cfg.server.tls_cert, "--keyfile", cfg.server.tls_key]
    env = dict(os.environ)
    if args.config:
        env["GITGATE_CONFIG"] = os.path.abspath(args.config)
    if not cfg.storage.data_dir or "GITGATE_DATA_DIR" not in env:
        env["GITGATE_DATA_DIR"] = cfg.storage.data_dir
    env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir(cfg))
    from gitgate.onboard.advice import render

    print(
        f"gitgate {__version__}: serving on {bind} -> {cfg.upstream.git_url} "
        f"(data {cfg.storage.data_dir}, config {cfg.source})\n"
        "gitgate: this terminal now runs the gate (Ctrl-C stops it); "
        "run the next steps in another terminal\n" + render(cfg),
        end="",
        file=sys.stderr,
        flush=True,
    )
    os.execve(sys.executable, argv, env)  # noqa: S606 - replace this process with gunicorn
    return 0  # pragma: no cover


def build_parser() -> argparse.ArgumentParser:
    from gitgate.cli import db, explain, onboard, review, sessions, tokens

    parser = argparse.ArgumentParser(prog="gitgate", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="run the gate under gunicorn")
    add_config_arg(p)
    p.add_argument("--bind", help="host:port (default: server.bind)")
    p.add_argument("--workers", type=int, help="worker processes (default: server.workers)")
    p.add_argument("--access-log", action="store_true", help="also write gunicorn's access log")
    p.set_defaults(func=cmd_serve)
    p = sub.add_parser("check-config", help="validate a config file and explain each error")
    p.add_argument("file", nargs="?", default=os.environ.get("GITGATE_CONFIG"))
    p.set_defaults(func=cmd_check_config)
    p = sub.add_parser("version", help="print the version")
    p.set_defaults(func=cmd_version)
    for module in (tokens, explain, db, review, sessions, onboard):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
