"""Transport rule for URLs that carry or deliver credentials (JWKS, GitHub API)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

_LOOPBACK_NAMES = frozenset({"localhost"})


def check_transport(url: str, what: str) -> None:
    """Raise ValueError unless ``url`` is https, or plain http to a loopback address.

    APPSEC: a JWKS fetched over plain http lets anyone on the path substitute keys and so mint
    any identity; an app JWT sent over plain http can be replayed. Loopback stays allowed for
    tests and for a local sidecar.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "https" and parts.hostname:
        return
    if scheme == "http" and parts.hostname and _is_loopback(parts.hostname):
        return
    raise ValueError(f"{what}: must be an https:// URL (http:// only to a loopback address)")


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
