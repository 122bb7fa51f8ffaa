"""AI provider keys agents handle daily (formats from the providers' API documentation)."""

from __future__ import annotations

import re

from gitgate.scanning.detectors.base import PrefixedDetector

_END = r"(?![A-Za-z0-9_-])"


class AnthropicKeyDetector(PrefixedDetector):
    """sk-ant-api03-..., sk-ant-admin01-... (API and Admin API keys), ~100 base64url chars."""

    secret_type = "Anthropic API Key"
    HINTS = ("sk-ant-",)
    denylist = (re.compile(r"sk-ant-[a-z]{2,8}\d{2}-[A-Za-z0-9_-]{32,}" + _END),)


class OpenAIProjectKeyDetector(PrefixedDetector):
    """sk-proj-..., sk-svcacct-..., sk-admin-... (base64url, usually with T3BlbkFJ inside)."""

    secret_type = "OpenAI Project Key"
    HINTS = ("sk-proj-", "sk-svcacct-", "sk-admin-", "T3BlbkFJ")
    denylist = (
        re.compile(r"sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{40,}" + _END),
        re.compile(r"sk-[A-Za-z0-9_-]{16,}T3BlbkFJ[A-Za-z0-9_-]{16,}" + _END),
    )


class HuggingFaceTokenDetector(PrefixedDetector):
    """hf_ user access tokens and api_org_ organisation tokens (34 letters)."""

    secret_type = "Hugging Face Token"
    HINTS = ("hf_", "api_org_")
    denylist = (re.compile(r"(?<![A-Za-z0-9_])(?:hf|api_org)_[A-Za-z0-9]{34}(?![A-Za-z0-9])"),)


class GroqKeyDetector(PrefixedDetector):
    secret_type = "Groq API Key"
    HINTS = ("gsk_",)
    denylist = (re.compile(r"(?<![A-Za-z0-9])gsk_[A-Za-z0-9]{48,56}(?![A-Za-z0-9])"),)


class XaiKeyDetector(PrefixedDetector):
    secret_type = "xAI API Key"
    HINTS = ("xai-",)
    denylist = (re.compile(r"(?<![A-Za-z0-9])xai-[A-Za-z0-9]{70,90}(?![A-Za-z0-9])"),)


class ReplicateTokenDetector(PrefixedDetector):
    secret_type = "Replicate API Token"
    HINTS = ("r8_",)
    denylist = (re.compile(r"(?<![A-Za-z0-9_])r8_[A-Za-z0-9]{37}(?![A-Za-z0-9])"),)


class PerplexityKeyDetector(PrefixedDetector):
    secret_type = "Perplexity API Key"
    HINTS = ("pplx-",)
    denylist = (re.compile(r"(?<![A-Za-z0-9])pplx-[A-Za-z0-9]{48}(?![A-Za-z0-9])"),)


class AiPlatformKeyDetector(PrefixedDetector):
    """Other AI platforms: OpenRouter, LangSmith, Pinecone, ElevenLabs, Tavily, Firecrawl,
    Fireworks."""

    secret_type = "AI Platform Key"
    HINTS = ("sk-or-v1-", "lsv2_", "pcsk_", "tvly-", "fc-", "fw_", "sk_")
    denylist = (
        re.compile(
            r"(?<![A-Za-z0-9_-])(?:sk-or-v1-[a-f0-9]{64}|lsv2_(?:pt|sk)_[a-f0-9]{32}_[a-f0-9]{10}"
            r"|pcsk_[A-Za-z0-9_]{50,}|sk_[a-f0-9]{48}|tvly-(?:dev-|prod-)?[A-Za-z0-9]{32}"
            r"|fc-[a-f0-9]{32}|fw_[A-Za-z0-9]{24})" + _END
        ),
    )
