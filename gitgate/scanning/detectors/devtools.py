"""Developer platforms, package registries and HTTP credentials."""

from __future__ import annotations

import base64
import re
from typing import Any

from gitgate.scanning.detectors.base import CONTEXT_HINTS, PrefixedDetector
from gitgate.scanning.hints import KEYWORD_HINT


class GitHubFineGrainedTokenDetector(PrefixedDetector):
    """github_pat_ + 22 + "_" + 59 characters (fine-grained personal access tokens)."""

    secret_type = "GitHub Fine-grained Token"
    HINTS = ("github_pat_",)
    denylist = (re.compile(r"github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}(?![A-Za-z0-9])"),)


class NpmTokenDetector(PrefixedDetector):
    """npm_ + 36 characters (automation/publish tokens), wherever they sit, not only .npmrc."""

    secret_type = "npm Token"
    HINTS = ("npm_",)
    denylist = (re.compile(r"(?<![A-Za-z0-9_])npm_[A-Za-z0-9]{36}(?![A-Za-z0-9])"),)


class ShopifyTokenDetector(PrefixedDetector):
    secret_type = "Shopify Token"
    HINTS = ("shpat_", "shpca_", "shppa_", "shpss_")
    denylist = (re.compile(r"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}(?![A-Za-z0-9])"),)


class PostmanKeyDetector(PrefixedDetector):
    secret_type = "Postman API Key"
    HINTS = ("PMAK-",)
    denylist = (re.compile(r"PMAK-[a-f0-9]{24}-[a-f0-9]{34}"),)


class GrafanaTokenDetector(PrefixedDetector):
    """Service-account tokens (glsa_) and Grafana Cloud access-policy tokens (glc_)."""

    secret_type = "Grafana Token"
    HINTS = ("glsa_", "glc_")
    denylist = (
        re.compile(r"glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}"),
        re.compile(r"(?<![A-Za-z0-9_])glc_[A-Za-z0-9+/]{32,400}={0,2}"),
    )


class DockerHubTokenDetector(PrefixedDetector):
    secret_type = "Docker Hub Token"
    HINTS = ("dckr_pat_",)
    denylist = (re.compile(r"dckr_pat_[A-Za-z0-9_-]{27}(?![A-Za-z0-9_-])"),)


class SaasTokenDetector(PrefixedDetector):
    """Other prefixed tokens: Linear, Doppler, Pulumi, Sentry, Supabase, PlanetScale, Atlassian,
    New Relic, SonarQube, RubyGems, Brevo, Notion, Prefect, Heroku, Dynatrace, Mapbox, Slack app
    tokens, Stripe webhook secrets, Square, Braintree, Figma, Netlify, Render, Cloudflare
    origin CA, Google OAuth client secrets and access tokens, Mailgun, Teams and Discord
    webhooks."""

    secret_type = "Prefixed API Token"
    HINTS = (
        "lin_api_", "dp.pt.", "dp.st.", "pul-", "sntrys_", "sntryu_", "sbp_", "pscale_tkn_",
        "ATATT3", "NRAK-", "sqp_", "squ_", "sqa_", "rubygems_", "xkeysib-", "ntn_", "pnu_",
        "HRKU-", "dt0c01.", "sk.eyJ", "xapp-", "whsec_", "EAAA", "$production$", "figd_",
        "nfp_", "rnd_", "v1.0-", "GOCSPX-", "ya29.", "key-", ".webhook.office.com/",
        "discord.com/api/webhooks/", "discordapp.com/api/webhooks/",
    )  # fmt: skip
    denylist = (
        re.compile(
            r"(?<![A-Za-z0-9_])(?:"
            r"lin_api_[A-Za-z0-9]{40}|dp\.[ps]t\.[A-Za-z0-9]{40,44}|pul-[a-f0-9]{40}"
            r"|sntrys_eyJ[A-Za-z0-9+/=_.-]{40,}|sntryu_[a-f0-9]{64}|sbp_[a-f0-9]{40}"
            r"|pscale_tkn_[A-Za-z0-9_.-]{32,64}|ATATT3[A-Za-z0-9_=-]{150,250}|NRAK-[A-Z0-9]{27}"
            r"|sq[pua]_[a-f0-9]{40}|rubygems_[a-f0-9]{48}|xkeysib-[a-f0-9]{64}-[A-Za-z0-9]{16}"
            r"|ntn_[A-Za-z0-9]{46}|pnu_[A-Za-z0-9]{36}|HRKU-[A-Za-z0-9_-]{60}"
            r"|dt0c01\.[A-Z0-9]{24}\.[A-Z0-9]{64}|sk\.eyJ[A-Za-z0-9_-]{30,}\.[A-Za-z0-9_-]{20,}"
            r"|xapp-\d-[A-Z0-9]+-\d+-[a-f0-9]{64}|whsec_[A-Za-z0-9]{32,}|EAAA[A-Za-z0-9_-]{60}"
            r"|access_token\$production\$[0-9a-z]{16}\$[0-9a-f]{32}|figd_[A-Za-z0-9_-]{40}"
            r"|nfp_[A-Za-z0-9]{36}|rnd_[A-Za-z0-9]{32}|v1\.0-[a-f0-9]{24}-[a-f0-9]{146}"
            r"|GOCSPX-[A-Za-z0-9_-]{28}|ya29\.[0-9A-Za-z_-]{30,}|key-[0-9a-f]{32}"
            r"|https://[\w-]+\.webhook\.office\.com/webhookb2/[\w@/-]{40,}"
            r"|https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/\d+/[\w-]{60,}"
            r")(?![A-Za-z0-9_-])"
        ),
    )


class StripeKeyDetector(PrefixedDetector):
    """Stripe secret and restricted keys in test and live mode (detect-secrets knows live only).
    A test-mode key moves no money but reads and changes the account's test data."""

    secret_type = "Stripe Key"
    HINTS = ("k_test_", "k_live_", "k_prod_")
    denylist = (re.compile(r"(?<![A-Za-z0-9])[rs]k_(?:test|prod)_[A-Za-z0-9]{20,99}"),)


class BearerTokenDetector(PrefixedDetector):
    """`Authorization: Bearer <token>` (and `Bearer <token>` strings in code and configs)."""

    secret_type = "Bearer Token"
    FOLDED_HINTS = CONTEXT_HINTS
    MIN_WORD = 0
    denylist = (
        re.compile(
            r"(?<![A-Za-z0-9])(?i:bearer) +([A-Za-z0-9_~+/.-]{20,}=*)(?![A-Za-z0-9_~+/.=-])"
        ),
    )


class TokenKeywordDetector(PrefixedDetector):
    """Assignments to names with "token" in them (detect-secrets' keyword list lacks it):
    `GITHUB_TOKEN = "..."`, `token: ...`, `"access_token": "..."`. The value must be quoted, or
    the line a config line (`NAME=value`, `name: value`); what looks like code is not a secret."""

    secret_type = "Token Keyword"
    FOLDED_HINTS = CONTEXT_HINTS
    MIN_WORD = 0
    denylist = (
        re.compile(
            r"(?i:[a-z0-9_.-]*token)[\"']?\s*(?::=|=>|[:=])\s*[\"'`]([^\s\"'`]{12,200})[\"'`]"
        ),
        re.compile(r"^\s*(?:export\s+)?(?i:[a-z0-9_.-]*token)\s*[:=]\s*([^\s\"'`#]{12,200})\s*$"),
    )


class RegistryAuthDetector(PrefixedDetector):
    """Docker `config.json` `"auth": "<base64 user:password>"` and .npmrc `_auth=<same>`.
    Reported only when the value decodes to "user:password"."""

    secret_type = "Registry Credentials"
    HINTS = ("auth",)
    MIN_WORD = 0  # `"auth": "..."` has a space in it
    denylist = (
        re.compile(r'(?:"auth"\s*:\s*"|(?<![A-Za-z0-9])_auth\s*=\s*)([A-Za-z0-9+/]{12,}={0,2})'),
    )

    def analyze_string(self, string: str) -> Any:
        for value in super().analyze_string(string):
            try:
                user, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                continue
            if user and sep and password:
                yield value


class EncryptedPrivateKeyDetector(PrefixedDetector):
    """PKCS#8 encrypted keys ("BEGIN ENCRYPTED PRIVATE KEY"), which detect-secrets misses: the
    passphrase is often in the same repository."""

    secret_type = "Encrypted Private Key"
    HINTS = ("PRIVATE KEY",)
    MIN_WORD = 0
    denylist = (re.compile(r"BEGIN ENCRYPTED PRIVATE KEY"),)


class NetrcPasswordDetector(PrefixedDetector):
    """.netrc / .authinfo: `machine host login user password secret`, on one line or several."""

    secret_type = "Netrc Password"
    FOLDED_HINTS = (KEYWORD_HINT,)  # "password"
    MIN_WORD = 0
    denylist = (
        re.compile(r"^\s*(?:machine\s+\S+\s+)?(?:login\s+\S+\s+)?password\s+([^\s\"'`]{6,})\s*$"),
    )


class UrlQueryCredentialDetector(PrefixedDetector):
    """Credentials in a URL's query or a JDBC/ODBC string: `?password=...`, `;pwd=...`."""

    secret_type = "URL Query Credential"
    FOLDED_HINTS = (KEYWORD_HINT, *CONTEXT_HINTS)  # password, pwd, secret, api_key; token
    MIN_WORD = 0
    denylist = (
        re.compile(
            r"[?&;](?i:password|passwd|pwd|secret|api_?key|access_token|auth_token|token)="
            r"([^&;\s\"'`<>{}$%]{8,})"
        ),
    )


class UrlPasswordDetector(PrefixedDetector):
    """`scheme://user:password@host` where the password holds one of RFC 3986's sub-delimiters
    (`!$&()*+,;=`), which detect-secrets' Basic Auth pattern excludes (so the two never report
    the same URL). URLs shorter than 24 characters are examples, not credentials."""

    secret_type = "URL Credentials"
    HINTS = ("://",)
    denylist = (
        re.compile(
            r"(?<![A-Za-z0-9+.-])(?=[^\s\"'<>`]{24})[A-Za-z][A-Za-z0-9+.-]*://[^\s:/?#@\"'<>`]{1,64}:"
            r"([^\s/?#@\"'<>`{}]*[!$&()*+,;=][^\s/?#@\"'<>`{}]*)@[A-Za-z0-9.-]+"
        ),
    )


class Base64PrivateKeyDetector(PrefixedDetector):
    """A PEM private key, base64-encoded once more: Kubernetes Secrets (`tls.key:`), kubeconfig
    `client-key-data:`, CI variables. Reported when the decoded start says PRIVATE KEY."""

    secret_type = "Private Key (base64)"
    HINTS = ("LS0tLS1CRUdJTi",)  # base64 of "-----BEGIN"
    denylist = (re.compile(r"LS0tLS1CRUdJTi[A-Za-z0-9+/]{40,}={0,2}"),)

    def analyze_string(self, string: str) -> Any:
        for value in super().analyze_string(string):
            head = value[:96]
            try:
                decoded = base64.b64decode(head[: len(head) // 4 * 4]).decode("ascii", "replace")
            except ValueError:
                continue
            if "PRIVATE KEY" in decoded:
                yield value
