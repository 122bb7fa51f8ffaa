"""gitgate.git.settle: a reader waits for a push's mirror upkeep in this process, no longer."""

from __future__ import annotations

import threading

from gitgate.git.settle import Settling


def test_nothing_running_means_no_wait() -> None:
    assert Settling().wait("acme/app", timeout=0) is True


def test_a_reader_waits_until_the_upkeep_of_its_repo_ends() -> None:
    settling = Settling()
    inside, release = threading.Event(), threading.Event()

    def upkeep() -> None:
        with settling.running("acme/app"):
            inside.set()
            release.wait(10)

    worker = threading.Thread(target=upkeep)
    worker.start()
    assert inside.wait(10)
    assert settling.wait("acme/app", timeout=0.05) is False  # still running: the reader waits
    assert settling.wait("acme/other", timeout=0) is True  # another repo's reader does not
    release.set()
    assert settling.wait("acme/app", timeout=10) is True
    worker.join(10)


def test_two_upkeeps_of_one_repo_both_end_before_readers_go_on() -> None:
    settling = Settling()
    first, second = settling.running("acme/app"), settling.running("acme/app")
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert settling.wait("acme/app", timeout=0) is False
    second.__exit__(None, None, None)
    assert settling.wait("acme/app", timeout=0) is True


def test_a_reader_does_not_wait_for_upkeep_that_started_after_it() -> None:
    """Many agents on one repo: some upkeep nearly always runs; a push waits only for
    what was running when it arrived."""
    settling = Settling()
    earlier = settling.running("acme/app")
    earlier.__enter__()
    mark = settling.now()  # a push arrives
    later = settling.running("acme/app")
    later.__enter__()
    assert settling.wait_since(mark, "acme/app", timeout=0) is False  # `earlier` runs
    earlier.__exit__(None, None, None)
    assert settling.wait_since(mark, "acme/app", timeout=0) is True  # `later` is not waited for
    assert settling.wait("acme/app", timeout=0) is False  # a push arriving now waits for it
    later.__exit__(None, None, None)
    assert settling.wait("acme/app", timeout=0) is True
