"""Cloud and infrastructure credentials (formats from the vendors' documentation)."""

from __future__ import annotations

import re

from gitgate.scanning.detectors.base import CONTEXT_HINTS, PrefixedDetector


class GoogleApiKeyDetector(PrefixedDetector):
    """AIza + 35 characters: Google Cloud / Firebase / Maps API keys."""

    secret_type = "Google API Key"
    HINTS = ("AIza",)
    denylist = (re.compile(r"AIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])"),)


class VaultTokenDetector(PrefixedDetector):
    """HashiCorp Vault service, batch and recovery tokens (hvs., hvb., hvr.)."""

    secret_type = "Vault Token"
    HINTS = ("hvs.", "hvb.", "hvr.")
    denylist = (re.compile(r"(?<![A-Za-z0-9])hv[sbr]\.[A-Za-z0-9_-]{24,}"),)


class TerraformCloudTokenDetector(PrefixedDetector):
    """Terraform Cloud / Enterprise API tokens: <14>.atlasv1.<60-70>."""

    secret_type = "Terraform Cloud Token"
    HINTS = (".atlasv1.",)
    denylist = (re.compile(r"[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=-]{60,70}"),)


class DigitalOceanTokenDetector(PrefixedDetector):
    """dop_v1_ (personal), doo_v1_ (OAuth), dor_v1_ (refresh) + 64 hex digits."""

    secret_type = "DigitalOcean Token"
    HINTS = ("_v1_",)
    denylist = (re.compile(r"do[opr]_v1_[a-f0-9]{64}"),)


class DatabricksTokenDetector(PrefixedDetector):
    secret_type = "Databricks Token"
    HINTS = ("dapi",)
    denylist = (re.compile(r"(?<![A-Za-z0-9])dapi[a-f0-9]{32}(?:-\d)?(?![A-Za-z0-9])"),)


class AlibabaAccessKeyDetector(PrefixedDetector):
    secret_type = "Alibaba Cloud AccessKey ID"
    HINTS = ("LTAI",)
    denylist = (re.compile(r"(?<![A-Za-z0-9])LTAI[A-Za-z0-9]{20}(?![A-Za-z0-9])"),)


class AzureClientSecretDetector(PrefixedDetector):
    """Entra ID (Azure AD) app client secrets: 3 chars, a digit, "Q~", 31-34 chars."""

    secret_type = "Azure AD Client Secret"
    HINTS = ("Q~",)
    denylist = (
        re.compile(r"(?<![A-Za-z0-9_~.-])[A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.-]{31,34}(?![\w~.-])"),
    )


class AgeSecretKeyDetector(PrefixedDetector):
    """age X25519 identities (bech32, 58 characters after the "1")."""

    secret_type = "age Secret Key"
    HINTS = ("AGE-SECRET-KEY-1",)
    denylist = (re.compile(r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}"),)


class DatadogKeyDetector(PrefixedDetector):
    """Datadog API (32 hex) and application (40 hex) keys: no prefix, so only next to a name
    that says Datadog (DD_API_KEY, datadog_app_key, ...)."""

    secret_type = "Datadog Key"
    FOLDED_HINTS = CONTEXT_HINTS
    MIN_WORD = 0
    denylist = (
        re.compile(
            r"(?i:datadog|dd)[\w-]{0,20}?(?i:api|app(?:lication)?)[_-]?(?i:key)[\"']?\s*[:=]+>?\s*"
            r"[\"']?([a-f0-9]{40}|[a-f0-9]{32})(?![A-Za-z0-9])"
        ),
    )
