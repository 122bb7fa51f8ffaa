"""Links to a queued push's page, for webhook texts and `gitgate review show`.

The base is ``server.public_url`` (what reviewers' browsers reach). The queue's notification
code has no config at hand, so the base travels like the database does (gitgate.db): a gate
activates its own for the current :mod:`contextvars` context (each request, each thread it
starts), and a process with one config and no app (the CLI) sets the process default once.
"""

from __future__ import annotations

import contextvars

_base: dict[str, str] = {}  # the process default: the CLI's config
_active: contextvars.ContextVar[str | None] = contextvars.ContextVar("gitgate_public_url")


def base_url(public_url: str, enabled: bool = True) -> str | None:
    """The base of review links for this config: None when there are no review pages."""
    return public_url.rstrip("/") if enabled and public_url else None


def configure(public_url: str, enabled: bool = True) -> None:
    """Set the process default (the CLI); a gate activates its own with :func:`activate`."""
    base = base_url(public_url, enabled)
    if base:
        _base["url"] = base
    else:
        _base.pop("url", None)


def activate(base: str | None) -> None:
    """Use `base` (see :func:`base_url`; None: no links) in the current context."""
    _active.set(base)


def page_url(push_id: int) -> str | None:
    base = _active.get(_base.get("url"))
    return f"{base}/-/review/push/{push_id}" if base else None
