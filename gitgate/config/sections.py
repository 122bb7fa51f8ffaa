"""The gate-wide sections of the config file: `[server]`, `[storage]`, ... and `Config` itself.

Each dataclass is one TOML table; its fields are the keys, its defaults the documented
defaults (the docs test reads these classes). Rules and the checks' own options live in
`gitgate.config.rules` and in each check's module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gitgate.config.rules import Rule


@dataclass
class ServerConfig:
    bind: str = "127.0.0.1:8418"
    workers: int = 2
    threads: int = 8
    timeout: int = 3600
    # SIGTERM: how long requests in flight (clones; relays) may take before the worker goes
    graceful_timeout: int = 30
    public_url: str = ""
    log_format: str = "text"
    log_level: str = "info"
    tls_cert: str = ""
    tls_key: str = ""


@dataclass
class StorageConfig:
    data_dir: str = ""
    max_push_bytes: int = 2 * 1024**3
    spool_memory_bytes: int = 1024 * 1024
    # read from the pack's object headers before anything is inflated
    # (gitgate/inspection/packlimits.py)
    max_object_bytes: int = 100 * 1024**2
    max_inflated_bytes: int = 2 * 1024**3
    # more packs than this in a mirror are consolidated in the background (0: only by purge)
    mirror_max_packs: int = 16


@dataclass
class DatabaseConfig:
    url: str = ""


@dataclass
class GitHubAppConfig:
    app_id: int = 0
    private_key: str = ""
    installation_id: int = 0


@dataclass
class UpstreamConfig:
    git_url: str = "https://github.com"
    api_url: str = "https://api.github.com"
    token: str = ""
    timeout: int = 300
    app: GitHubAppConfig | None = None
    api_max_json_bytes: int = 32 * 1024 * 1024


@dataclass
class OidcConfig:
    name: str = ""
    issuer: str = ""
    audience: list[str] = field(default_factory=list)
    jwks_url: str = ""
    jwks_file: str = ""
    algorithms: list[str] = field(default_factory=lambda: ["RS256"])
    groups_claim: str = "groups"
    subject_claim: str = "sub"
    leeway: int = 30
    jwks_timeout: int = 3


@dataclass
class AuthConfig:
    required: bool = True
    gate_issuer: bool = True
    gate_algorithm: str = "EdDSA"
    gate_audience: str = "gitgate"
    key_secret: str = ""
    max_token_ttl: int = 90 * 86400
    oidc: list[OidcConfig] = field(default_factory=list)


@dataclass
class ScanConfig:
    workers: int = 2
    time_budget: int = 60
    max_blob_bytes: int = 2_000_000
    allowlist_paths: list[str] = field(default_factory=list)
    allowlist_hashes: list[str] = field(default_factory=list)
    max_findings_shown: int = 20


@dataclass
class HooksConfig:
    dir: str = "hooks/pre-receive.d"
    timeout: int = 30
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class NotifyConfig:
    webhook_url: str = ""
    secret: str = ""
    timeout: int = 10
    max_attempts: int = 5


@dataclass
class ReviewConfig:
    """The reviewer's web page (gitgate.web): sign-in, sessions, who may see what."""

    enabled: bool = True
    session_ttl: int = 8 * 3600
    session_secret: str = ""
    cookie_secure: bool = True
    auditor_groups: list[str] = field(default_factory=list)
    trusted_headers: bool = False
    trusted_proxies: list[str] = field(default_factory=list)
    user_header: str = "X-Forwarded-User"
    groups_header: str = "X-Forwarded-Groups"
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    oidc_authorization_endpoint: str = ""
    oidc_token_endpoint: str = ""
    oidc_scopes: list[str] = field(default_factory=lambda: ["openid", "profile"])
    oidc_redirect_url: str = ""


@dataclass
class MetricsConfig:
    enabled: bool = True


@dataclass
class QueueConfig:
    max_wait: int = 900
    max_held: int = 4


@dataclass
class AuditConfig:
    retention_days: int = 90


@dataclass
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    upstream: UpstreamConfig = field(default_factory=UpstreamConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    scan: ScanConfig = field(default_factory=ScanConfig)
    hooks: HooksConfig = field(default_factory=HooksConfig)
    notify: NotifyConfig = field(default_factory=NotifyConfig)
    audit: AuditConfig = field(default_factory=AuditConfig)
    review: ReviewConfig = field(default_factory=ReviewConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    queue: QueueConfig = field(default_factory=QueueConfig)
    rule: list[Rule] = field(default_factory=list)
    source: str = "<embedded default>"

    @property
    def data_path(self) -> Path:
        return Path(self.storage.data_dir)
