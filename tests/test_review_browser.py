"""The reviewer's page in a real headless browser (Debian's chromium, via Selenium).

A reviewer signs in (OIDC with PKCE against a loopback provider, or through an authenticating
proxy's headers), opens a queued push, sees the protected diff, approves, and the push lands
upstream. The pusher cannot approve its own push; a form posted from another page without the
CSRF token is refused; the page reloads when another reviewer decides. Screenshots of the
queue and of a push's page are saved to test-screenshots/ (git-ignored).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.browser import browser, screenshot  # noqa: F401 - fixture
from tests.fixtures.gate import GateServer
from tests.fixtures.oidc import CLIENT_SECRET, AuthProxy, OidcProvider, StaticSite
from tests.fixtures.upstream import commit, git, upstream_ref

pytestmark = pytest.mark.slow
MakeGate = Callable[..., GateServer]
WAIT_S = 30


def queue_rule(approvals: int = 1) -> list[dict[str, Any]]:
    return [
        {
            "name": "prod-review",
            "protected_paths": ["deploy/**"],
            "reviewers": ["maintainers"],
            "approvals": approvals,
            "actions": {"protected_paths": "queue"},
        }
    ]


def push_queued(gate: GateServer, repo: str, tmp_path: Path) -> str:
    work = tmp_path / "agent"
    git("clone", "-q", gate.remote(repo), str(work))
    tip = commit(
        work,
        {"deploy/prod.yaml": "replicas: 5\nimage: app:<b>2</b>\n", "src/x.py": "x = 5\n"},
        "scale <script>alert(1)</script> up",
    )
    result = git("push", "origin", "HEAD:main", cwd=work, check=False)
    assert "queued for approval as #1" in result.stderr
    return tip


def wait_for(driver: Any, predicate: Callable[[Any], Any]) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_S).until(predicate)


def text_of(driver: Any) -> str:
    """The page's text; the page may be replaced while it is read (the live-update script
    reloads it when another reviewer decides), so a stale body is looked up again."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    for _ in range(50):
        try:
            return str(driver.find_element(By.TAG_NAME, "body").text)
        except StaleElementReferenceException:
            continue
    raise AssertionError("the page kept reloading while it was read")


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> Iterator[OidcProvider]:
    monkeypatch.setenv("GITGATE_TEST_REVIEW_CLIENT_SECRET", CLIENT_SECRET)
    p = OidcProvider().start()
    yield p
    p.stop()


def test_oidc_signin_sees_protected_diff_approves_and_push_lands(
    make_gate: MakeGate,
    seeded: tuple[Path, str],
    tmp_path: Path,
    provider: OidcProvider,
    browser: Any,  # noqa: F811
) -> None:
    from selenium.webdriver.common.by import By

    bare, repo = seeded
    issuer, review = provider.config()
    gate = make_gate(queue_rule(), sections={"auth": {"oidc": [issuer]}, "review": review})
    before = upstream_ref(bare, "refs/heads/main")
    tip = push_queued(gate, repo, tmp_path)

    browser.get(f"{gate.url}/-/review")
    assert "Sign in to review" in text_of(browser)
    browser.find_element(By.ID, "signin").click()
    wait_for(browser, lambda d: "Queued pushes" in text_of(d))
    # the gate used PKCE (S256) and asked for the callback on itself
    (auth,) = provider.authorize_requests
    assert auth["code_challenge_method"] == "S256" and len(auth["code_challenge"]) == 43
    assert auth["redirect_uri"] == f"{gate.url}/-/review/callback"
    assert "code_verifier" in provider.token_requests[0]
    assert "alice" in text_of(browser) and "#1" in text_of(browser)
    screenshot(browser, "queue")

    browser.find_element(By.CSS_SELECTOR, "a[href='/-/review/push/1']").click()
    wait_for(browser, lambda d: "Protected files" in text_of(d))
    page = text_of(browser)
    assert "deploy/prod.yaml" in page and "+replicas: 5" in page
    assert "1 more needed" in page and "prod-review" in page
    # agent-written text is shown, escaped, never executed as markup
    assert "scale <script>alert(1)</script> up" in page
    assert "image: app:<b>2</b>" in page
    assert browser.find_elements(By.CSS_SELECTOR, ".diff .gi")  # highlighted added lines
    screenshot(browser, "push")
    # on a phone the page fits its width (only a long diff line scrolls, inside its box)
    screenshot(browser, "push-phone", width=390)
    overflow = "return document.documentElement.scrollWidth - window.innerWidth"
    assert browser.execute_script(overflow) <= 0
    browser.set_window_size(1000, 1400)

    assert upstream_ref(bare, "refs/heads/main") == before
    browser.find_element(By.ID, "approve").click()
    wait_for(browser, lambda d: "Relay: relayed" in text_of(d))
    assert upstream_ref(bare, "refs/heads/main") == tip
    assert browser.find_element(By.ID, "state").text == "relayed"
    screenshot(browser, "push-relayed")


def test_header_signin_pusher_cannot_approve_page_follows_other_reviewers(
    make_gate: MakeGate,
    seeded: tuple[Path, str],
    tmp_path: Path,
    browser: Any,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    from selenium.webdriver.common.by import By

    bare, repo = seeded
    review = {"trusted_headers": True, "trusted_proxies": ["127.0.0.2"]}
    gate = make_gate(queue_rule(approvals=2), sections={"review": review})
    proxy = AuthProxy(gate.server.server_port).start()
    try:
        before = upstream_ref(bare, "refs/heads/main")
        tip = push_queued(gate, repo, tmp_path)

        # identity headers straight from the browser (not the trusted proxy) are ignored
        browser.get(f"{gate.url}/-/review")
        assert "Sign in to review" in text_of(browser)

        proxy.user = ("anonymous", ["maintainers"])  # the pusher (auth is off on this gate)
        browser.get(f"{proxy.url}/-/review/push/1")
        assert "You pushed this: you cannot approve it" in text_of(browser)
        browser.find_element(By.ID, "approve").click()
        wait_for(browser, lambda d: "never approve its own push" in text_of(d))
        assert "0 of 2" in text_of(browser)

        proxy.user = ("bob", ["maintainers"])
        browser.get(f"{proxy.url}/-/review/push/1")
        assert "Protected files" in text_of(browser)
        # another reviewer approves from the CLI: bob's open page notices and reloads
        assert gate.cli("review", "approve", "1", "--as", "carol", "--group", "maintainers") == 0
        capsys.readouterr()
        wait_for(browser, lambda d: "approve by carol" in text_of(d))
        assert "1 of 2" in text_of(browser)
        assert upstream_ref(bare, "refs/heads/main") == before

        browser.find_element(By.ID, "approve").click()
        wait_for(browser, lambda d: "Relay: relayed" in text_of(d))
        assert upstream_ref(bare, "refs/heads/main") == tip
    finally:
        proxy.stop()


def test_forged_form_without_csrf_token_is_refused(
    make_gate: MakeGate,
    seeded: tuple[Path, str],
    tmp_path: Path,
    browser: Any,  # noqa: F811
) -> None:
    from selenium.webdriver.common.by import By

    bare, repo = seeded
    review = {"trusted_headers": True, "trusted_proxies": ["127.0.0.2"]}
    gate = make_gate(queue_rule(), sections={"review": review})
    proxy = AuthProxy(gate.server.server_port).start()
    attacker = StaticSite(
        f'<form method="post" action="{proxy.url}/-/review/push/1">'
        '<input type="hidden" name="verdict" value="approve">'
        '<button id="go" type="submit">win a prize</button></form>'
    ).start()
    try:
        before = upstream_ref(bare, "refs/heads/main")
        push_queued(gate, repo, tmp_path)
        browser.get(f"{proxy.url}/-/review/push/1")  # bob is signed in (has a session)
        assert "Protected files" in text_of(browser)
        browser.get(attacker.url)
        browser.find_element(By.ID, "go").click()
        wait_for(browser, lambda d: "Form refused" in text_of(d))
        assert "missing or wrong CSRF token" in text_of(browser)
        browser.get(f"{proxy.url}/-/review/push/1")
        assert "0 of 1" in text_of(browser)
        assert upstream_ref(bare, "refs/heads/main") == before
    finally:
        attacker.stop()
        proxy.stop()
