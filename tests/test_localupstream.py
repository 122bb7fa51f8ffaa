"""`gitgate try`'s upstream: the package's `git http-backend` bridge behind its token check.

The tests' own upstream (tests/fixtures/upstream.py) subclasses the same bridge, so the whole
suite exercises its streaming; these cases cover what only `LocalUpstream` adds: the
`authorized()` hook that takes `x-access-token:TOKEN` and nothing else, with the real git client.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

from gitgate.onboard.localupstream import LocalUpstream
from tests.fixtures.upstream import git


def _bare(root: Path) -> None:
    path = root / "acme" / "app.git"
    path.parent.mkdir(parents=True)
    git("init", "--bare", "--quiet", "-b", "main", str(path))
    git("config", "http.receivepack", "true", cwd=path)


def _header_env(auth: str) -> dict[str, str]:
    return {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "http.extraHeader",
        "GIT_CONFIG_VALUE_0": f"Authorization: {auth}",
    }


def _get(url: str, auth: str | None) -> tuple[int, str | None]:
    request = urllib.request.Request(url, headers={"Authorization": auth} if auth else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, None
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("WWW-Authenticate")


def test_local_upstream_takes_its_token_and_refuses_others(tmp_path: Path) -> None:
    root = tmp_path / "up"
    _bare(root)
    upstream = LocalUpstream(root, "s3cret-token").start()
    try:
        url = f"{upstream.url}/acme/app.git"
        wrong = LocalUpstream(root, "other-token").expected_auth()
        for auth in (None, wrong):
            status, challenge = _get(f"{url}/info/refs?service=git-upload-pack", auth)
            assert (status, challenge) == (401, 'Basic realm="local upstream"')
        refused = git("ls-remote", url, check=False, env=_header_env(wrong))
        assert refused.returncode != 0 and "could not read Username" in refused.stderr
        work = tmp_path / "work"
        git("init", "-q", "-b", "main", str(work))
        (work / "a.txt").write_text("hello\n")
        git("add", "a.txt", cwd=work)
        git("commit", "-q", "-m", "first", cwd=work)
        env = _header_env(upstream.expected_auth())
        git("push", "-q", url, "main", cwd=work, env=env)
        listed = git("ls-remote", url, env=env).stdout
        assert git("rev-parse", "HEAD", cwd=work).stdout.strip() in listed
    finally:
        upstream.stop()
