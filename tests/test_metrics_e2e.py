"""`/metrics` scraped from a real `gitgate serve` (gunicorn, two workers, multiprocess mode)
after a clone, a push that is relayed, and a push that is queued, approved on the review page
and relayed by the gate: every count is what git and the reviewer actually did."""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures.gate import UPSTREAM_TOKEN_ENV, write_config
from tests.fixtures.service import GateProcess, base_env, git_requests, http_get, serve_argv
from tests.fixtures.upstream import UpstreamServer, commit, git, upstream_ref
from tests.test_queue_e2e import queue_rule
from tests.test_queue_hold_service_e2e import start_push
from tests.test_queue_recovery_e2e import wait_for

pytestmark = pytest.mark.slow
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> Samples:
    status, body, headers = http_get(f"{url}/metrics")
    assert status == 200 and headers.get("Content-Type", "").startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def gate(upstream: UpstreamServer, tmp_path: Path) -> Iterator[GateProcess]:
    config = write_config(
        tmp_path / "gate.toml",
        tmp_path / "gate",
        upstream.url,
        queue_rule(),
        # urllib's cookie jar sends no Secure cookie over http (chromium does, to loopback)
        review={"trusted_headers": True, "trusted_proxies": ["127.0.0.1"], "cookie_secure": False},
    )
    env = base_env(**{UPSTREAM_TOKEN_ENV: upstream.token or ""})
    proc = GateProcess(serve_argv(config, workers=2), env).start()
    yield proc
    proc.stop()


def approve_on_page(url: str, push_id: int, reviewer: str) -> str:
    """What the proxy-authenticated reviewer's browser does: open the page, post the form."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    who = {"X-Forwarded-User": reviewer, "X-Forwarded-Groups": "maintainers"}
    page = f"{url}/-/review/push/{push_id}"
    with opener.open(urllib.request.Request(page, headers=who), timeout=60) as resp:
        html = resp.read().decode()
    (csrf,) = re.findall(r'name="csrf" value="([^"]+)"', html)[:1]
    form = urllib.parse.urlencode({"csrf": csrf, "verdict": "approve"}).encode()
    with opener.open(urllib.request.Request(page, data=form, headers=who), timeout=120) as resp:
        return str(resp.read().decode())


def test_metrics_after_clone_push_and_queue_cycle(
    gate: GateProcess, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    bare, repo = seeded
    trace = tmp_path / "git-trace"
    traced = {"GIT_TRACE_CURL": str(trace), "GIT_TRACE_CURL_NO_DATA": "1"}
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo), str(work), env=traced)
    commit(work, {"src/app.py": "def main():\n    return 2\n"}, "plain change")
    git("push", "-q", "origin", "HEAD:main", cwd=work, env=traced)
    tip = commit(work, {"deploy/prod.yaml": "replicas: 9\n"}, "scale")
    queued = git("push", "origin", "HEAD:main", cwd=work, env=traced, check=False)
    assert "queued for approval as #1" in queued.stderr

    before = scrape(gate.url)
    assert value(before, "gitgate_queue_depth", state="pending") == 1
    assert value(before, "gitgate_queue_oldest_pending_seconds") > 0
    assert value(before, "gitgate_database_up") == 1

    page = approve_on_page(gate.url, 1, "alice")
    assert "Relay: relayed" in page
    assert upstream_ref(bare, "refs/heads/main") == tip

    sent = git_requests(trace)
    info_refs = sum(1 for m, p, _ in sent if m == "GET" and "/info/refs" in p)
    uploads = sum(1 for m, p, _ in sent if m == "POST" and p.endswith("git-upload-pack"))
    receives = sum(
        1 for m, p, probe in sent if m == "POST" and p.endswith("receive-pack") and not probe
    )
    assert (info_refs, receives) == (3, 2) and uploads >= 1, "\n".join(map(str, sent))

    # two workers answer scrapes; each answer sums both workers' files
    for _ in range(3):
        m = scrape(gate.url)
        assert value(m, "gitgate_requests_total", service="info-refs", status="200") == info_refs
        assert value(m, "gitgate_requests_total", service="upload-pack", status="200") == uploads
        assert value(m, "gitgate_requests_total", service="receive-pack", status="200") == receives
        assert value(m, "gitgate_requests_total", service="review", status="200") == 2
        assert value(m, "gitgate_pushes_total", decision="allow", rule="prod-review") == 1
        assert value(m, "gitgate_pushes_total", decision="queue", rule="prod-review") == 1
        assert value(m, "gitgate_relays_total", kind="direct", result="ok") == 1
        assert value(m, "gitgate_relays_total", kind="queued", result="ok") == 1
        assert value(m, "gitgate_review_decisions_total", verdict="approve") == 1
        assert value(m, "gitgate_inspection_seconds_count") == 2
        assert value(m, "gitgate_scan_seconds_count") >= 1
        assert value(m, "gitgate_held_pushes") == 0
        assert value(m, "gitgate_pushes_in_flight") == 0
        assert value(m, "gitgate_scanner_busy") == 0
        assert value(m, "gitgate_upstream_errors_total", kind="http") == 0
        assert value(m, "gitgate_upstream_errors_total", kind="connection") == 0
        assert value(m, "gitgate_queue_depth", state="pending") == 0
        assert value(m, "gitgate_queue_depth", state="relayed") == 1
        assert value(m, "gitgate_queue_oldest_pending_seconds") == 0
    # multiprocess mode: `serve` pointed the workers at per-process files under the data dir
    files = tmp_path / "gate" / "metrics"
    assert list(files.glob("counter_*.db"))

    # a worker that dies: gunicorn's child_exit hook drops its live gauges (pushes in flight,
    # scanner busy) while the counters keep what it did
    live = sorted(files.glob("gauge_livesum_*.db"))
    assert len(live) == 2, live  # one per worker
    victim = int(live[0].stem.rsplit("_", 1)[1])
    booted = sum("Booting worker" in line for line in gate.log_lines())
    os.kill(victim, signal.SIGKILL)
    assert gate.wait_for_log(lambda lines: sum("Booting worker" in x for x in lines) > booted)
    assert not live[0].exists()
    m = scrape(gate.url)
    assert value(m, "gitgate_pushes_total", decision="allow", rule="prod-review") == 1
    assert value(m, "gitgate_relays_total", kind="queued", result="ok") == 1


def test_held_gauge_counts_a_push_held_open_for_review(
    gate: GateProcess, seeded: tuple[Path, str], tmp_path: Path
) -> None:
    """Issue #15: `gitgate_held_pushes` is the pushes held open for review (issue #14's
    `-o gitgate.wait`), `gitgate_pushes_in_flight` every push inside the gate."""
    bare, repo = seeded
    work = tmp_path / "w"
    git("clone", "-q", gate.remote(repo), str(work))
    assert value(scrape(gate.url), "gitgate_held_pushes") == 0
    tip = commit(work, {"deploy/prod.yaml": "replicas: 9\n"}, "scale")
    push = start_push(work, "main", wait="60s")
    try:
        wait_for(lambda: value(scrape(gate.url), "gitgate_held_pushes") == 1, "held gauge at 1")
        m = scrape(gate.url)
        assert value(m, "gitgate_held_pushes") == 1
        assert value(m, "gitgate_pushes_in_flight") == 1  # the held push is still inside
        assert value(m, "gitgate_queue_depth", state="pending") == 1
        assert "Relay: relayed" in approve_on_page(gate.url, 1, "alice")
        _, err = push.communicate(timeout=120)
    finally:
        if push.returncode is None:
            push.kill()
            push.communicate()
    assert push.returncode == 0, err
    assert "HEAD -> main" in err and "waiting for review #1" in err
    assert upstream_ref(bare, "refs/heads/main") == tip
    # the hold ends before the gate writes git's report: the held gauge is 0 once git exits
    assert value(scrape(gate.url), "gitgate_held_pushes") == 0
    wait_for(lambda: value(scrape(gate.url), "gitgate_pushes_in_flight") == 0, "in flight 0")
    m = scrape(gate.url)
    assert (value(m, "gitgate_held_pushes"), value(m, "gitgate_pushes_in_flight")) == (0, 0)
