"""The API side's pure parts: route classification (unknown = refused) and URL rewriting."""

from __future__ import annotations

import pytest

from gitgate.api.classify import classify
from gitgate.api.service import bearer
from gitgate.api.upstream import Rewriter


@pytest.mark.parametrize(
    ("method", "path", "kind"),
    [
        ("GET", "/repos/acme/app", "read"),
        ("GET", "/repos/acme/app/contents/a/b.txt", "read"),
        ("PUT", "/repos/acme/app/contents/a/b.txt", "content"),
        ("DELETE", "/repos/acme/app/contents/a", "content"),
        ("POST", "/repos/acme/app/git/blobs", "object"),
        ("PATCH", "/repos/acme/app/git/refs/heads/feature/x", "ref"),
        ("PUT", "/repos/acme/app/pulls/3/merge", "merge"),
        ("POST", "/repos/acme/app/merges", "merge"),
        ("DELETE", "/repos/acme/app", "admin"),
        ("PATCH", "/repos/acme/app", "admin"),
        ("PUT", "/repos/acme/app/branches/main/protection/required_status_checks", "admin"),
        ("PUT", "/repos/acme/app/actions/secrets/TOKEN", "admin"),
        ("POST", "/repos/acme/app/hooks", "admin"),
        ("POST", "/repos/acme/app/releases", "publish"),
        ("POST", "/user/repos", "publish"),
        ("POST", "/repos/acme/app/actions/workflows/ci.yml/dispatches", "publish"),
        ("POST", "/repos/acme/app/issues", "text"),
        ("PATCH", "/repos/acme/app/pulls/3", "text"),
        ("GET", "/user", "read"),
        # unknown shapes and methods are refused
        ("POST", "/repos/acme/app/frobnicate", "unknown"),
        ("PUT", "/repos/acme/app/git/blobs", "unknown"),
        ("GET", "/search/code", "unknown"),
        ("GET", "/gists", "unknown"),
        ("TRACE", "/repos/acme/app", "unknown"),
    ],
)
def test_classify(method: str, path: str, kind: str) -> None:
    assert classify(method, path).kind == kind


def test_route_names_the_template_and_repo() -> None:
    route = classify("PUT", "/repos/acme/app/contents/src/a.py")
    assert route.template == "/repos/{owner}/{repo}/contents/{path+}"
    assert (route.owner, route.name, route.param("path")) == ("acme", "app", "src/a.py")


def test_rewriter_github_com() -> None:
    rw = Rewriter("https://api.github.com", "https://gate.example/api/v3")
    body = {
        "url": "https://api.github.com/repos/a/b",
        "issues_url": "https://api.github.com/repos/a/b/issues{/number}",
        "html_url": "https://github.com/a/b",
        "upload_url": "https://uploads.github.com/repos/a/b/releases/1/assets{?name,label}",
        "nested": [{"commits_url": "https://api.github.com/repos/a/b/commits{/sha}"}],
        "body": "see https://api.github.com/repos/a/b",  # text, not a URL field
    }
    out = rw.body(body)
    assert out["url"] == "https://gate.example/api/v3/repos/a/b"
    assert out["issues_url"] == "https://gate.example/api/v3/repos/a/b/issues{/number}"
    assert out["html_url"] == "https://github.com/a/b"
    assert out["upload_url"].startswith("https://gate.example/api/uploads/repos/a/b/releases/")
    assert out["nested"][0]["commits_url"].startswith("https://gate.example/api/v3/")
    assert out["body"] == body["body"]
    link = '<https://api.github.com/repos/a/b/issues?page=2>; rel="next"'
    assert rw.header(link) == '<https://gate.example/api/v3/repos/a/b/issues?page=2>; rel="next"'
    # a look-alike host is not the API
    assert (
        rw.url("https://api.github.com.evil.example/x") == "https://api.github.com.evil.example/x"
    )


def test_rewriter_ghes() -> None:
    rw = Rewriter("https://ghe.example/api/v3", "https://gate.example/api/v3")
    assert rw.url("https://ghe.example/api/v3/repos/a/b") == "https://gate.example/api/v3/repos/a/b"
    assert rw.url("https://ghe.example/a/b") == "https://ghe.example/a/b"  # html, not the API


def test_token_scheme_is_accepted_as_bearer() -> None:
    assert bearer("token abc") == "Bearer abc"
    assert bearer("Token abc") == "Bearer abc"
    assert bearer("Bearer abc") == "Bearer abc"
    assert bearer(None) is None


def test_tls_served_by_the_gate_is_not_reported_as_tls_off() -> None:
    from gitgate import config as config_mod
    from gitgate.onboard.advice import advice

    plain = config_mod.load(overrides={"server": {"bind": "0.0.0.0:8418"}})
    assert any("TLS is off" in line for line in advice(plain))
    tls = config_mod.load(
        overrides={"server": {"bind": "0.0.0.0:8418", "tls_cert": "/c.pem", "tls_key": "/k.pem"}}
    )
    assert not any("TLS is off" in line for line in advice(tls))
