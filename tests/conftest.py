"""Shared fixtures: a real upstream (git http-backend), the gate in-process, a work tree."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.gate import UPSTREAM_TOKEN_ENV, GateServer, write_config
from tests.fixtures.upstream import UpstreamServer, commit, git

pytest_plugins = ["tests.fixtures.db"]


@pytest.fixture(scope="session")
def scanner() -> Iterator[Any]:
    """One secret scanner (with its worker processes) for the whole run."""
    from gitgate.scanning import SecretScanner

    s = SecretScanner(workers=2)
    yield s
    s.close()


@pytest.fixture
def inflated(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The bytes each zlib inflation of the pack pre-pass (gitgate.inspection.packlimits)
    produced: a bomb must be refused before much of it is inflated."""
    import zlib

    from gitgate.inspection import packlimits

    out: list[int] = []
    real = zlib.decompressobj

    class Counting:
        def __init__(self) -> None:
            self.d = real()

        def decompress(self, data: bytes, max_length: int = 0) -> bytes:
            chunk = self.d.decompress(data, max_length)
            out.append(len(chunk))
            return chunk

        def __getattr__(self, name: str) -> Any:
            return getattr(self.d, name)

    monkeypatch.setattr(packlimits.zlib, "decompressobj", Counting)
    return out


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[UpstreamServer]:
    srv = UpstreamServer(tmp_path / "upstream", token="upstream-secret-token").start()
    yield srv
    srv.stop()


@pytest.fixture
def seeded(upstream: UpstreamServer, tmp_path: Path) -> tuple[Path, str]:
    """acme/app upstream with one commit on main (README and a small source tree)."""
    bare = upstream.create_repo("acme/app")
    seed = tmp_path / "seed"
    git("clone", "-q", str(bare), str(seed))
    commit(
        seed,
        {
            "README.md": "# app\n",
            "src/app.py": "def main():\n    return 1\n",
            ".github/workflows/ci.yml": "on: push\n",
            "deploy/prod.yaml": "replicas: 3\n",
        },
        "initial",
    )
    git("push", "-q", "origin", "HEAD:main", cwd=seed)
    return bare, "acme/app"


@pytest.fixture
def make_gate(
    tmp_path: Path, upstream: UpstreamServer, scanner: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., GateServer]]:
    """Start gates on this test's upstream: `make_gate(rules, sections={...}, db_url=...)`."""
    monkeypatch.setenv(UPSTREAM_TOKEN_ENV, upstream.token or "")
    gates: list[GateServer] = []

    def make(
        rules: list[dict[str, Any]] | None = None,
        *,
        sections: dict[str, Any] | None = None,
        db_url: str | None = None,
        **collaborators: Any,
    ) -> GateServer:
        n = len(gates)
        path = write_config(
            tmp_path / f"gate{n}.toml",
            tmp_path / f"gate{n}",
            upstream.url,
            rules,
            db_url,
            **(sections or {}),
        )
        collaborators.setdefault("scanner", scanner)
        gate = GateServer(path, **collaborators).start()
        gates.append(gate)
        return gate

    yield make
    for g in gates:
        g.stop()


@pytest.fixture
def work(tmp_path: Path) -> Path:
    return tmp_path / "work"
