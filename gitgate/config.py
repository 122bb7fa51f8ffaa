"""Configuration: one TOML file, strictly validated, with an embedded default.

Every error names its key (`rule[2].actions.secrets: ...`) so `gitgate check-config` can tell an
admin exactly what to fix. Unknown keys are errors, not warnings: a misspelt `protected_path`
that silently protects nothing is the worst outcome a security gate can have.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHECK_NAMES = ("deny", "protected_paths", "commits", "lfs", "secrets", "hooks")
ACTIONS = ("allow", "reject", "queue", "mask")
MASKABLE = ("secrets",)  # checks whose findings the gate can rewrite away (gitgate.mask)
ACCESS_LEVELS = ("none", "read", "write")


class ConfigError(Exception):
    """All problems found in a config, one `key: message` per line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: int | str) -> int:
    """Seconds from `30`, `"90s"`, `"15m"`, `"12h"` or `"7d"`."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    m = _DURATION.match(str(value))
    if not m:
        raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 15m, 12h, 7d)")
    return int(m.group(1)) * _UNITS[m.group(2)]


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
    # read from the pack's object headers before anything is inflated (gitgate/packlimits.py)
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
class DenyConfig:
    force_push: bool = True
    delete_ref: bool = True
    tag_overwrite: bool = True
    delete_paths: list[str] = field(default_factory=list)
    max_file_bytes: int = 0
    max_push_bytes: int = 0


@dataclass
class CommitsConfig:
    author_email: list[str] = field(default_factory=list)
    committer_email: list[str] = field(default_factory=list)
    message_deny: list[str] = field(default_factory=list)
    message_require: str = ""


@dataclass
class ActionsConfig:
    deny: str = "reject"
    protected_paths: str = "reject"
    commits: str = "reject"
    lfs: str = "reject"
    secrets: str = "reject"
    hooks: str = "reject"


@dataclass
class ApiActionsConfig:
    """What a rule does with GitHub API calls that write no repository content (gitgate.api)."""

    text: str = "allow"
    admin: str = "reject"
    publish: str = "queue"
    merge: str = "allow"


@dataclass
class SecretActionsConfig:
    """Per-confidence actions for secret findings; "" means `actions.secrets`, so a config
    without this table keeps its meaning (every secret gets `actions.secrets`)."""

    high: str = ""
    medium: str = ""
    low: str = ""


@dataclass
class Rule:
    name: str = ""
    repos: list[str] = field(default_factory=lambda: ["**"])
    refs: list[str] = field(default_factory=lambda: ["**"])
    groups: list[str] = field(default_factory=lambda: ["*"])
    access: str = "write"
    dry_run: bool = False
    protected_paths: list[str] = field(default_factory=list)
    secrets: bool = True
    hooks: bool = True
    deny: DenyConfig = field(default_factory=DenyConfig)
    commits: CommitsConfig = field(default_factory=CommitsConfig)
    actions: ActionsConfig = field(default_factory=ActionsConfig)
    api: ApiActionsConfig = field(default_factory=ApiActionsConfig)
    secret_actions: SecretActionsConfig = field(default_factory=SecretActionsConfig)
    reviewers: list[str] = field(default_factory=list)
    approvals: int = 1
    queue_expiry: int = 7 * 86400
    wait: int = 0
    allow_break_glass: bool = False
    break_glass_groups: list[str] = field(default_factory=list)


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


# Keys whose TOML value is a duration string or seconds.
_DURATION_KEYS = {
    "timeout",
    "graceful_timeout",
    "time_budget",
    "queue_expiry",
    "jwks_timeout",
    "max_token_ttl",
    "session_ttl",
    "wait",
    "max_wait",
}
# Keys that take one string or a list of strings.
_LIST_OR_STR = {
    "repos",
    "refs",
    "groups",
    "audience",
    "reviewers",
    "break_glass_groups",
    "auditor_groups",
    "trusted_proxies",
    "oidc_scopes",
}
_CHOICES: dict[str, tuple[str, ...]] = {
    "Rule.access": ACCESS_LEVELS,
    "ServerConfig.log_format": ("text", "json"),
    "ServerConfig.log_level": ("debug", "info", "warning", "error"),
    "AuthConfig.gate_algorithm": ("EdDSA", "ES256"),
    **{f"ActionsConfig.{name}": ACTIONS for name in CHECK_NAMES},
    **{f"ApiActionsConfig.{name}": ACTIONS for name in ("text", "admin", "publish", "merge")},
    **{f"SecretActionsConfig.{level}": ("", *ACTIONS) for level in ("high", "medium", "low")},
}


def _build(cls: type, data: Any, path: str, problems: list[str]) -> Any:
    """Turn a TOML table into dataclass `cls`, collecting problems instead of stopping."""
    if not isinstance(data, dict):
        problems.append(f"{path or 'config'}: expected a table, got {type(data).__name__}")
        return cls()
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "source"}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        key_path = f"{path}.{key}" if path else key
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"{key_path}: unknown key{hint}")
            continue
        kwargs[key] = _convert(f"{cls.__name__}.{key}", hints[key], value, key_path, problems)
    return cls(**kwargs)


def _convert(qualname: str, hint: Any, value: Any, path: str, problems: list[str]) -> Any:
    key = qualname.rpartition(".")[2]
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
        origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, path, problems)  # type: ignore[arg-type]
    if origin is dict:
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            problems.append(f"{path}: expected a table of strings")
            return {}
        return dict(value)
    if origin is list:
        (item,) = typing.get_args(hint)
        if key in _LIST_OR_STR and isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            problems.append(f"{path}: expected a list, got {type(value).__name__}")
            return []
        return [_convert(qualname, item, v, f"{path}[{i}]", problems) for i, v in enumerate(value)]
    if key in _DURATION_KEYS and hint is int:
        try:
            return parse_duration(value)
        except ValueError as ex:
            problems.append(f"{path}: {ex}")
            return 0
    if hint is bool and not isinstance(value, bool):
        problems.append(f"{path}: expected true or false, got {value!r}")
        return False
    if hint is int and (isinstance(value, bool) or not isinstance(value, int)):
        problems.append(f"{path}: expected an integer, got {value!r}")
        return 0
    if hint is str and not isinstance(value, str):
        problems.append(f"{path}: expected a string, got {value!r}")
        return ""
    choices = _CHOICES.get(qualname)
    if choices and value not in choices:
        shown = ", ".join(c or '""' for c in choices)  # "" = use the default (secret_actions)
        problems.append(f"{path}: {value!r} is not one of {shown}")
    return value


def _validate(cfg: Config, problems: list[str]) -> None:
    """Cross-field checks that the types alone cannot express."""
    from gitgate.globs import _compile

    if not re.match(r"^https?://[^/\s]+", cfg.upstream.git_url):
        problems.append("upstream.git_url: must be an http(s) URL like https://github.com")
    if cfg.upstream.token and not cfg.upstream.token.startswith(("env:", "file:")):
        problems.append(
            'upstream.token: write "env:NAME" or "file:/path"; an inline token would sit in a '
            "config file that is read by many and often committed"
        )
    if cfg.notify.secret and not cfg.notify.secret.startswith(("env:", "file:")):
        problems.append('notify.secret: write "env:NAME" or "file:/path", never the key itself')
    hook_url = cfg.notify.webhook_url
    if hook_url and not (
        hook_url.startswith("https://")
        or re.match(r"^http://(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?(/|$)", hook_url)
    ):
        problems.append("notify.webhook_url: use https:// (plain http only to loopback)")
    if bool(cfg.server.tls_cert) != bool(cfg.server.tls_key):
        problems.append("server.tls_cert: give both tls_cert and tls_key (or neither)")
    if not re.match(r"^https?://[^/\s]+", cfg.upstream.api_url):
        problems.append("upstream.api_url: must be an http(s) URL like https://api.github.com")
    if cfg.upstream.app and cfg.upstream.token:
        problems.append("upstream.app: give either upstream.token or upstream.app, not both")
    if cfg.upstream.app and not (cfg.upstream.app.app_id and cfg.upstream.app.installation_id):
        problems.append("upstream.app: app_id, installation_id and private_key are required")
    if cfg.server.graceful_timeout < 1:
        problems.append("server.graceful_timeout: must be at least 1 second")
    if cfg.storage.mirror_max_packs < 0:
        problems.append("storage.mirror_max_packs: must be 0 (purge only) or more")
    for key in ("max_object_bytes", "max_inflated_bytes"):
        if getattr(cfg.storage, key) < 1:
            problems.append(f"storage.{key}: must be a positive number of bytes")
    if not re.match(r"^(sqlite:///|postgres(ql)?://)", cfg.database.url):
        problems.append("database.url: use sqlite:///path/to/file.db or postgresql://user@host/db")
    for i, h in enumerate(cfg.scan.allowlist_hashes):
        if not re.fullmatch(r"[0-9a-fA-F]{12,40}", h):
            problems.append(
                f"scan.allowlist_hashes[{i}]: use the hex hash agents are shown (12 to 40 digits)"
            )
    if cfg.auth.key_secret and not cfg.auth.key_secret.startswith(("env:", "file:")):
        problems.append('auth.key_secret: write "env:NAME" or "file:/path", never the secret')
    if cfg.auth.max_token_ttl <= 0:
        problems.append("auth.max_token_ttl: must be a positive duration, e.g. 90d")
    for i, o in enumerate(cfg.auth.oidc):
        if not o.issuer or not o.audience:
            problems.append(f"auth.oidc[{i}]: issuer and audience are required")
        if bool(o.jwks_url) == bool(o.jwks_file):
            problems.append(f"auth.oidc[{i}]: give exactly one of jwks_url or jwks_file")
        for alg in o.algorithms:
            if alg.upper().startswith("HS") or alg.lower() == "none":
                problems.append(f"auth.oidc[{i}].algorithms: {alg} is not allowed (RFC 8725)")
    _validate_review(cfg, problems)
    names: set[str] = set()
    for i, rule in enumerate(cfg.rule):
        where = f"rule[{i}]"
        if not rule.name:
            rule.name = f"rule-{i + 1}"
        if rule.name in names:
            problems.append(f"{where}.name: {rule.name!r} is used twice; names identify rules")
        names.add(rule.name)
        for key in ("message_deny",):
            for j, rx in enumerate(getattr(rule.commits, key)):
                _check_regex(rx, f"{where}.commits.{key}[{j}]", problems)
        for key in ("author_email", "committer_email"):
            for j, rx in enumerate(getattr(rule.commits, key)):
                _check_regex(rx, f"{where}.commits.{key}[{j}]", problems)
        if rule.commits.message_require:
            _check_regex(rule.commits.message_require, f"{where}.commits.message_require", problems)
        for key in ("repos", "refs", "protected_paths"):
            for pattern in getattr(rule, key):
                _compile(pattern)
        if rule.approvals < 1:
            problems.append(f"{where}.approvals: must be at least 1")
        for check, act in dataclasses.asdict(rule.actions).items():
            if act == "mask" and check not in MASKABLE:
                problems.append(
                    f"{where}.actions.{check}: mask is only for secrets (the gate can rewrite a "
                    "secret away, not other findings); use allow, queue or reject"
                )
        queues = {*dataclasses.asdict(rule.actions).values()}
        queues |= set(dataclasses.asdict(rule.secret_actions).values())
        if "queue" in queues and not rule.reviewers:
            problems.append(f"{where}.reviewers: a rule that queues needs reviewer groups")
        if rule.break_glass_groups and not rule.allow_break_glass:
            problems.append(f"{where}.break_glass_groups: set allow_break_glass = true to use it")


def _validate_review(cfg: Config, problems: list[str]) -> None:
    import ipaddress

    rv = cfg.review
    for key in ("session_secret", "oidc_client_secret"):
        value = getattr(rv, key)
        if value and not value.startswith(("env:", "file:")):
            problems.append(f'review.{key}: write "env:NAME" or "file:/path", never the value')
    if rv.session_ttl <= 0:
        problems.append("review.session_ttl: must be positive (e.g. 8h)")
    if rv.trusted_headers and not rv.trusted_proxies:
        problems.append(
            "review.trusted_proxies: trusted_headers needs the addresses of the authenticating "
            "proxy (identity headers from anyone else are ignored)"
        )
    for i, net in enumerate(rv.trusted_proxies):
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError:
            problems.append(f"review.trusted_proxies[{i}]: {net!r} is not an address or network")
    if rv.oidc_issuer:
        names = [o.name or f"oidc-{i + 1}" for i, o in enumerate(cfg.auth.oidc)]
        if rv.oidc_issuer not in names:
            problems.append(
                f"review.oidc_issuer: {rv.oidc_issuer!r} is not the name of an [[auth.oidc]] "
                f"issuer ({', '.join(names) or 'none configured'})"
            )
        for key in ("oidc_client_id", "oidc_authorization_endpoint", "oidc_token_endpoint"):
            if not getattr(rv, key):
                problems.append(f"review.{key}: required when review.oidc_issuer is set")
        for key in ("oidc_authorization_endpoint", "oidc_token_endpoint"):
            url = getattr(rv, key)
            if url and not (
                url.startswith("https://")
                or re.match(r"^http://(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?(/|$)", url)
            ):
                problems.append(f"review.{key}: use https:// (plain http only to loopback)")


def _check_regex(rx: str, where: str, problems: list[str]) -> None:
    try:
        re.compile(rx)
    except re.error as ex:
        problems.append(f"{where}: invalid regular expression: {ex}")


def default_data_dir() -> str:
    """systemd's StateDirectory, then GITGATE_DATA_DIR, then ./gitgate-data."""
    return os.environ.get("GITGATE_DATA_DIR") or os.environ.get("STATE_DIRECTORY") or "gitgate-data"


DEFAULT_RULES: list[dict[str, Any]] = [
    {
        "name": "default",
        "repos": ["**"],
        "refs": ["**"],
        "groups": ["*"],
        "access": "write",
        "protected_paths": [".github/workflows/**"],
    }
]


def load(path: str | Path | None = None, *, overrides: dict[str, Any] | None = None) -> Config:
    """Load and validate a config file (None: the embedded default). Raises ConfigError."""
    data: dict[str, Any] = {}
    source = "<embedded default>"
    if path is not None:
        source = str(path)
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError([f"{path}: no such file"]) from None
        except tomllib.TOMLDecodeError as ex:
            raise ConfigError([f"{path}: not valid TOML: {ex}"]) from None
    for key, value in (overrides or {}).items():
        if isinstance(value, dict):
            data.setdefault(key, {}).update(value)
        else:
            data[key] = value
    if "rule" not in data:
        data["rule"] = DEFAULT_RULES
    problems: list[str] = []
    cfg: Config = _build(Config, data, "", problems)
    cfg.source = source
    if not cfg.storage.data_dir:
        cfg.storage.data_dir = default_data_dir()
    cfg.storage.data_dir = str(Path(cfg.storage.data_dir).expanduser().absolute())
    if not cfg.database.url:
        cfg.database.url = f"sqlite:///{cfg.storage.data_dir}/gitgate.db"
    if not cfg.server.public_url:
        cfg.server.public_url = f"http://{cfg.server.bind}"
    _validate(cfg, problems)
    if problems:
        raise ConfigError(problems)
    return cfg
