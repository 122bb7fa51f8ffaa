"""Cross-field checks that the types alone cannot express.

What a check's own settings need (regexes that compile...) the check's options say
themselves (`gitgate.config.registry.SelfChecking`); what is left here is the gate's.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

from gitgate.config.registry import CheckSpec
from gitgate.config.sections import Config


def validate(cfg: Config, problems: list[str], checks: Sequence[CheckSpec]) -> None:
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
    _review(cfg, problems)
    names: set[str] = set()
    for i, rule in enumerate(cfg.rule):
        where = f"rule[{i}]"
        if not rule.name:
            rule.name = f"rule-{i + 1}"
        if rule.name in names:
            problems.append(f"{where}.name: {rule.name!r} is used twice; names identify rules")
        names.add(rule.name)
        for key in ("repos", "refs"):
            for pattern in getattr(rule, key):
                _compile(pattern)
        if rule.approvals < 1:
            problems.append(f"{where}.approvals: must be at least 1")
        maskable = [c.name for c in checks if c.maskable]
        for check, act in rule.actions.items():
            if act == "mask" and check not in maskable:
                problems.append(
                    f"{where}.actions.{check}: mask is only for {', '.join(maskable)} (the gate "
                    "can rewrite a secret away, not other findings); use allow, queue or reject"
                )
        queues = {act for _, act in rule.actions.items()}
        queues |= set(dataclasses.asdict(rule.secret_actions).values())
        if "queue" in queues and not rule.reviewers:
            problems.append(f"{where}.reviewers: a rule that queues needs reviewer groups")
        if rule.break_glass_groups and not rule.allow_break_glass:
            problems.append(f"{where}.break_glass_groups: set allow_break_glass = true to use it")


def _review(cfg: Config, problems: list[str]) -> None:
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
