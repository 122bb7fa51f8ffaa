"""GitHub's API with the gate's credential, and the URL rewriting that keeps clients on the gate.

The git credential is `Basic x-access-token:<T>`; the API is sent `token <T>`, which GitHub
and GHES accept for personal and installation tokens alike. Only 401 means the gate's
credential failed: a 403 from the API is an ordinary answer (permissions, rate limit) that the
agent must see as GitHub sent it.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

from gitgate.upstream.http import Credential, Upstream, UpstreamResponse

# Request headers a client may send on; everything else (Authorization above all) stays here.
FORWARD_REQUEST = (
    "accept",
    "content-type",
    "if-none-match",
    "if-modified-since",
    "x-github-api-version",
    "accept-encoding",
)
# Response headers clients use; `link` and `location` are rewritten.
PASS_RESPONSE = (
    "content-type",
    "etag",
    "last-modified",
    "link",
    "location",
    "cache-control",
    "content-encoding",
    "x-github-request-id",
    "x-github-media-type",
    "x-github-api-version-selected",
    "x-oauth-scopes",
    "x-accepted-oauth-scopes",
    "retry-after",
)


class ApiUpstream(Upstream):
    """`upstream.api_url` (https://api.github.com or https://ghe/api/v3)."""

    def __init__(self, api_url: str, credential: Credential | None, timeout: float) -> None:
        super().__init__(api_url, credential, timeout)
        if self.prefix.endswith("/api/v3"):
            self.graphql_path = self.prefix[: -len("/v3")] + "/graphql"
        else:
            self.graphql_path = self.prefix + "/graphql"

    def auth_header(self) -> str | None:
        value = super().auth_header()
        if value and value.startswith("Basic "):
            user, _, token = base64.b64decode(value[6:]).decode().partition(":")
            if user == "x-access-token" and token:
                return f"token {token}"
        return value

    def api(
        self,
        method: str,
        path: str,
        *,
        query: str = "",
        headers: Mapping[str, str] | None = None,
        body: bytes | Iterable[bytes] | None = None,
        content_length: int | None = None,
    ) -> UpstreamResponse:
        """One REST call; `path` is relative to the API root (/repos/...)."""
        full = (self.graphql_path if path == "/graphql" else self.prefix + path) + (
            f"?{query}" if query else ""
        )
        return self.send(
            method,
            full,
            headers=headers,
            body=body,
            content_length=content_length,
            credential_statuses=(401,),
        )

    def json(self, method: str, path: str, payload: Any = None) -> tuple[int, Any]:
        """A small call made by the gate itself (repo info, ref state); the parsed body."""
        body = json.dumps(payload).encode() if payload is not None else None
        hdrs = {"Accept": "application/vnd.github+json"}
        if body is not None:
            hdrs["Content-Type"] = "application/json"
        resp = self.api(method, path, headers=hdrs, body=body)
        data = resp.read()
        try:
            return resp.status, json.loads(data) if data else None
        except ValueError:
            return resp.status, None


class Rewriter:
    """Replace upstream's API base URL by the gate's in URL fields and headers."""

    def __init__(self, upstream_base: str, gate_base: str) -> None:
        self.src = upstream_base.rstrip("/")
        self.dst = gate_base.rstrip("/")
        parsed = urllib.parse.urlsplit(self.src)
        # github.com's uploads host; GHES serves uploads under /api/uploads on its own host
        self.uploads = (
            "https://uploads.github.com"
            if parsed.hostname == "api.github.com"
            else f"{parsed.scheme}://{parsed.netloc}/api/uploads"
        )
        self.uploads_dst = self.dst[: -len("/v3")] + "/uploads" if self.dst.endswith("/v3") else ""

    def url(self, value: str) -> str:
        if (
            value == self.src
            or value.startswith(self.src + "/")
            or value.startswith(self.src + "{")
        ):
            return self.dst + value[len(self.src) :]
        if self.uploads_dst and value.startswith(self.uploads + "/"):
            return self.uploads_dst + value[len(self.uploads) :]
        return value

    def header(self, value: str) -> str:
        return re.sub(r"<([^>]*)>", lambda m: f"<{self.url(m.group(1))}>", value)

    def body(self, data: Any) -> Any:
        """Rewrite `url`, `*_url`, `upload_url` (and `html_url` only when it names the API)."""
        if isinstance(data, list):
            return [self.body(v) for v in data]
        if isinstance(data, dict):
            out = {}
            for key, value in data.items():
                if isinstance(value, str) and (key == "url" or key.endswith("_url")):
                    out[key] = self.url(value)
                else:
                    out[key] = self.body(value)
            return out
        return data
