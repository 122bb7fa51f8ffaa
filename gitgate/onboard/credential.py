"""`git-credential-gitgate`: git's credential helper protocol, answering with the agent's token.

Why a helper: a token in the remote URL (`http://agent:TOKEN@gate/...`) is copied by git into
`.git/config`, by submodule commands into `.gitmodules` (which the gate then refuses as a
secret) and by git-lfs into its output. With this helper remotes stay plain
(`https://gate/owner/repo.git`) and git asks the helper for the password on each request.

The token comes from `$GITGATE_TOKEN`, or a file (`--token-file`, `$GITGATE_TOKEN_FILE`), and
is handed out only for the gate's own scheme and host (`--url`, `$GITGATE_URL`): a helper
configured without a host scope (`credential.helper=gitgate`) is asked for github.com too,
and must not answer there. Without a gate URL it answers nothing (fail closed). `store` and
`erase` do nothing: the helper never writes the token anywhere.

git runs it as `git credential-gitgate [options] get|store|erase` with `key=value` lines on
stdin, ended by an empty line or EOF; see gitcredentials(7) and git-credential(1).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

#: What the gate expects as the HTTP Basic username (it reads only the password).
USERNAME = "gitgate"
DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_INPUT_LINES = 64  # git sends a handful; a bound keeps a confused caller from looping us


class HelperError(Exception):
    """Why the helper cannot answer; git shows it (stderr) and falls back to its next helper."""


def read_request(stream: TextIO) -> dict[str, str]:
    """The `key=value` lines git sends, up to an empty line or EOF. Repeated keys (`wwwauth[]`,
    `capability[]`) keep their last value: the helper reads only protocol and host."""
    request: dict[str, str] = {}
    for _ in range(MAX_INPUT_LINES):
        line = stream.readline()
        if not line or line in ("\n", "\r\n"):
            break
        key, sep, value = line.rstrip("\r\n").partition("=")
        if sep:
            request[key] = value
    return request


def _origin(scheme: str, netloc: str) -> tuple[str, str, int]:
    scheme = scheme.lower()
    parts = urlsplit(f"{scheme}://{netloc}")
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or DEFAULT_PORTS.get(scheme, 0)


def gate_origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of the gate's URL, e.g. from `http://127.0.0.1:8418/`."""
    parts = urlsplit(url.strip())
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise HelperError(f"the gate URL {url!r} is not an http(s) URL like https://gate.example")
    return _origin(parts.scheme, parts.netloc.rpartition("@")[2])


def load_token(token_file: str | None) -> str:
    """`--token-file`, else `$GITGATE_TOKEN_FILE`, else `$GITGATE_TOKEN`."""
    path = token_file or os.environ.get("GITGATE_TOKEN_FILE")
    if path:
        try:
            token = Path(path).read_text(encoding="utf-8").strip()
        except OSError as ex:
            raise HelperError(f"cannot read the token file {path}: {ex.strerror}") from None
        if not token:
            raise HelperError(f"the token file {path} is empty")
        return token
    token = os.environ.get("GITGATE_TOKEN", "").strip()
    if not token:
        raise HelperError(
            "no token: set GITGATE_TOKEN_FILE (or GITGATE_TOKEN) to the token from "
            "`gitgate token issue` or `gitgate agent-setup`"
        )
    return token


def answer(request: dict[str, str], gate_url: str | None, token_file: str | None) -> str:
    """The helper's reply to `get` ('' when this request is not for the gate)."""
    if not gate_url:
        raise HelperError(
            "which host is the gate? set GITGATE_URL (e.g. https://gate.example) or pass "
            "--url; without it no token is handed out"
        )
    wanted = gate_origin(gate_url)
    asked = _origin(request.get("protocol", ""), request.get("host", ""))
    if asked != wanted:
        return ""  # another host (github.com, a submodule's server): never its token
    token = load_token(token_file)
    if any(c in token for c in "\r\n\0"):
        raise HelperError("the token contains a line break or NUL; reissue it")
    return f"username={USERNAME}\npassword={token}\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="git-credential-gitgate",
        description="git credential helper that hands git the agent's gitgate token",
    )
    parser.add_argument(
        "--url", default=os.environ.get("GITGATE_URL"), help="the gate's URL (or $GITGATE_URL)"
    )
    parser.add_argument("--token-file", help="read the token from this file")
    parser.add_argument("operation", choices=("get", "store", "erase"))
    args = parser.parse_args(argv)
    request = read_request(sys.stdin)
    if args.operation != "get":
        return 0  # never stores or erases anything: the token lives where its owner put it
    try:
        reply = answer(request, args.url, args.token_file)
    except HelperError as ex:
        print(f"git-credential-gitgate: {ex}", file=sys.stderr)
        return 1
    sys.stdout.write(reply)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
