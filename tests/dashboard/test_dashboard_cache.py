"""The dashboard's cache: a page never waits long for a first count."""

from __future__ import annotations

import threading
import time

from backend.api.dashboard import queries


def test_a_slow_first_count_is_finished_in_the_background() -> None:
    release = threading.Event()
    calls: list[int] = []

    def slow() -> int:
        calls.append(1)
        release.wait(5)
        return 42

    key = ("test-slow", time.monotonic())
    started = time.monotonic()
    assert queries.cached_within(key, slow, wait=0.1) is None
    assert time.monotonic() - started < 1.0
    # a second page view while counting neither blocks nor starts a second count
    assert queries.cached_within(key, slow, wait=0.05) is None
    release.set()
    for _ in range(100):
        value = queries.cached_within(key, slow, wait=0.05)
        if value is not None:
            break
        time.sleep(0.02)
    assert value == 42
    assert len(calls) == 1


def test_a_fast_first_count_is_served_at_once() -> None:
    key = ("test-fast", time.monotonic())
    assert queries.cached_within(key, lambda: "ready", wait=1.0) == "ready"
    assert queries.cached(key, lambda: "again") == "ready"  # fresh: not recounted
