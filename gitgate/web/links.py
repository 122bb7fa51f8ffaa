"""Links to a queued push's page, for webhook texts and `gitgate review show`.

The base is ``server.public_url`` (what reviewers' browsers reach). It is set once per process
from the config (the gate's runtime, the CLI), so the queue's notification code, which has no
config at hand, can link to the page.
"""

from __future__ import annotations

_base: dict[str, str] = {}


def configure(public_url: str, enabled: bool = True) -> None:
    if enabled and public_url:
        _base["url"] = public_url.rstrip("/")
    else:
        _base.pop("url", None)


def page_url(push_id: int) -> str | None:
    base = _base.get("url")
    return f"{base}/-/review/push/{push_id}" if base else None
