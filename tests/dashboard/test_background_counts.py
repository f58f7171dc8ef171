"""Background counts finish before the database they read from closes."""

from __future__ import annotations

import threading

from backend.api.dashboard.queries.cache import COUNTS, cached_within, finish_counts


def test_shutdown_waits_for_a_background_count_and_keeps_its_value() -> None:
    started, release = threading.Event(), threading.Event()

    def count() -> int:
        started.set()
        release.wait(5)
        return 42

    key = ("test-background-count", id(count))
    assert cached_within(key, count, wait=0.0) is None  # the page says "counting"
    assert started.wait(5)

    assert finish_counts(0.05) is False  # still counting: the caller knows
    release.set()
    assert finish_counts(5) is True
    hit = COUNTS.get(key)
    assert hit is not None
    assert hit[1] == 42


def test_a_failed_background_count_does_not_hold_up_the_shutdown() -> None:
    def count() -> int:
        raise RuntimeError("database gone")

    key = ("test-failed-count", id(count))
    assert cached_within(key, count, wait=0.0) is None
    assert finish_counts(5) is True
    assert COUNTS.get(key) is None
