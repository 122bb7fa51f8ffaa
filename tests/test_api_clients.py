"""Real GitHub clients through the real `gitgate serve` over HTTPS: gh, PyGithub, Octokit.

gh talks only HTTPS to a non-github.com host, so the gate serves TLS itself here
(`server.tls_cert`/`tls_key`, a certificate made at test time and trusted through
SSL_CERT_FILE / `verify=` / NODE_EXTRA_CA_CERTS). GitHub itself is the fake API over the same
bare repos as the git upstream; no client can reach anything but loopback.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.fixtures import secrets
from tests.fixtures.gate import UPSTREAM_TOKEN_ENV, write_config
from tests.fixtures.github_api import FakeGitHubApi
from tests.fixtures.service import GateProcess, base_env, cli, serve_argv
from tests.fixtures.upstream import UpstreamServer, git, upstream_ref

JS = Path(__file__).parent / "js"
RULES = [
    {"name": "agents", "groups": ["agents"], "access": "write"},
    {"name": "readers", "groups": ["readers"], "access": "read"},
]


def self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gitgate test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "gate.crt", tmp / "gate.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class TlsGate:
    def __init__(self, proc: GateProcess, cert: Path, config: Path, env: dict[str, str]):
        self.proc, self.cert, self.config, self.env = proc, cert, config, env

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.proc.port}"

    def token(self, subject: str, group: str) -> str:
        args = ["token", "issue", "--subject", subject, "--group", group, "--ttl", "1h"]
        out = cli(self.config, self.env, *args)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()


@pytest.fixture
def tls_gate(
    upstream: UpstreamServer, seeded: tuple[Path, str], tmp_path: Path
) -> Iterator[tuple[TlsGate, FakeGitHubApi]]:
    api = FakeGitHubApi(upstream.root, upstream.token or "").start()
    cert, key = self_signed(tmp_path)
    config = write_config(
        tmp_path / "gate.toml",
        tmp_path / "gate",
        upstream.url,
        RULES,
        server={"tls_cert": str(cert), "tls_key": str(key)},
        upstream={"api_url": api.url},
        auth={"required": True},
        scan={"workers": 1},
    )
    env = base_env(**{UPSTREAM_TOKEN_ENV: upstream.token or ""})
    proc = GateProcess(serve_argv(config), env).start()
    try:
        yield TlsGate(proc, cert, config, env), api
    finally:
        proc.stop()
        api.stop()


def gh(gate: TlsGate, token: str, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp),
        "GH_CONFIG_DIR": str(tmp / "gh-config"),
        "GH_HOST": gate.host,
        "GH_ENTERPRISE_TOKEN": token,
        "GH_NO_UPDATE_NOTIFIER": "1",
        "GH_PROMPT_DISABLED": "1",
        "NO_COLOR": "1",
        "SSL_CERT_FILE": str(gate.cert),
    }
    return subprocess.run(["gh", *args], env=env, capture_output=True, text=True, timeout=120)


def b64(data: str | bytes) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("gh") is None, reason="gh is not installed (.ci/run installs it)")
def test_gh_over_https(
    tls_gate: tuple[TlsGate, FakeGitHubApi], seeded: tuple[Path, str], tmp_path: Path
) -> None:
    gate, api = tls_gate
    bare, _ = seeded
    token = gate.token("agent-1", "agents")
    out = gh(gate, token, tmp_path, "api", "repos/acme/app")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["url"] == f"https://{gate.host}/api/v3/repos/acme/app"
    out = gh(gate, token, tmp_path, "api", "--paginate", "repos/acme/app/issues?per_page=2")
    assert out.returncode == 0, out.stderr
    assert out.stdout.count('"number"') == 5  # three pages, followed through the gate's Link
    put = ["api", "-X", "PUT", "repos/acme/app/contents/src/gh.txt", "-f", "message=via gh"]
    out = gh(gate, token, tmp_path, *put, "-f", "content=" + b64("from gh\n"))
    assert out.returncode == 0, out.stderr
    assert git("show", "main:src/gh.txt", cwd=bare).stdout == "from gh\n"
    data, planted = secrets.python_source(["github_token"])
    before = upstream_ref(bare, "refs/heads/main")
    secret_put = ["api", "-X", "PUT", "repos/acme/app/contents/src/key.py", "-f", "message=k"]
    out = gh(gate, token, tmp_path, *secret_put, "-f", f"content={b64(data)}")
    assert out.returncode != 0 and "HTTP 409" in out.stderr
    assert f"src/key.py:{planted[0].line}" in out.stdout + out.stderr
    assert upstream_ref(bare, "refs/heads/main") == before
    out = gh(gate, token, tmp_path, "api", "graphql", "-f", "query=query { viewer { login } }")
    assert out.returncode == 0 and "gate-bot" in out.stdout, out.stderr
    # a read-only identity reads, and cannot write
    reader = gate.token("reader-1", "readers")
    assert gh(gate, reader, tmp_path, "api", "repos/acme/app").returncode == 0
    out = gh(gate, reader, tmp_path, *put, "-f", "content=" + b64("no\n"))
    assert out.returncode != 0 and "HTTP 403" in out.stderr
    assert "read access" in out.stdout + out.stderr
    assert upstream_ref(bare, "refs/heads/main") == before
    assert all(auth == f"token {api.token}" for _, _, auth in api.requests)
    assert not any(token in (auth or "") or reader in (auth or "") for *_, auth in api.requests)


@pytest.mark.slow
def test_pygithub_over_https(
    tls_gate: tuple[TlsGate, FakeGitHubApi], seeded: tuple[Path, str]
) -> None:
    from github import Auth, Github, GithubException

    gate, api = tls_gate
    bare, _ = seeded
    token = gate.token("agent-2", "agents")
    g = Github(
        base_url=f"https://{gate.host}/api/v3",
        auth=Auth.Token(token),
        verify=str(gate.cert),
        per_page=2,
        retry=None,
    )
    repo = g.get_repo("acme/app")
    assert repo.default_branch == "main"
    # PyGithub asserts the host of every URL it follows: the Link pages must name the gate
    assert [i.number for i in repo.get_issues()] == [1, 2, 3, 4, 5]
    created = repo.create_file("src/pg.py", "via PyGithub", "p = 1\n")
    assert upstream_ref(bare, "refs/heads/main") == created["commit"].sha
    data, planted = secrets.python_source(["aws_access_key_id"])
    with pytest.raises(GithubException) as refused:
        repo.create_file("src/aws.py", "creds", data.decode())
    assert refused.value.status == 409
    assert f"src/aws.py:{planted[0].line}" in refused.value.data["message"]
    with pytest.raises(GithubException) as admin:
        repo.delete()
    assert admin.value.status == 403 and not api.seen("DELETE", "/repos/acme/app")


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("node") is None or not (JS / "node_modules").is_dir(),
    reason="node or tests/js/node_modules missing (.ci/run runs npm ci there)",
)
def test_octokit_over_https(
    tls_gate: tuple[TlsGate, FakeGitHubApi], seeded: tuple[Path, str]
) -> None:
    gate, api = tls_gate
    bare, _ = seeded
    token = gate.token("agent-3", "agents")
    env = {"PATH": os.environ["PATH"], "NODE_EXTRA_CA_CERTS": str(gate.cert)}
    proc = subprocess.run(
        ["node", str(JS / "octokit_client.mjs"), f"https://{gate.host}/api/v3", token],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["repoUrl"] == f"https://{gate.host}/api/v3/repos/acme/app"
    assert out["issues"] == [1, 2, 3, 4, 5]
    assert out["putStatus"] == 201 and upstream_ref(bare, "refs/heads/main") == out["putCommit"]
    assert out["deleteStatus"] == 403 and "repository administration" in out["deleteMessage"]
    assert not api.seen("DELETE", "/repos/acme/app")
