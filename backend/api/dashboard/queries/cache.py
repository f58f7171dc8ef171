"""The dashboard's counts cache: it serves a stale value while it recounts, so a page never
waits long. Entries are keyed by what they count, e.g. ``("q", questionnaire, version)``."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from backend.caches import BoundedCache

#: Seconds an aggregate is reused before it is counted again.
CACHE_SECONDS = 30.0
#: How long a page waits for a first count before it shows "counting" and refreshes itself.
PAGE_WAIT_SECONDS = 0.8

T = TypeVar("T")
Key = tuple[Hashable, ...]
log = logging.getLogger(__name__)

#: key -> (when it was counted, the value). No ttl: an old value is served while it is
#: recounted (see cached_within), so the age is checked here, not by the cache.
COUNTS: BoundedCache[tuple[float, Any]] = BoundedCache("dashboard counts", maxsize=512)
#: Keys being counted in the background, so one count runs per key at a time, and the
#: thread counting each (joined before the database it reads from is closed).
_refreshing: dict[Key, threading.Thread] = {}
_refreshing_lock = threading.Lock()


def cached(key: Key, compute: Callable[[], T], *, seconds: float = CACHE_SECONDS) -> T:
    """Return the value under ``key``, computing it in this thread when never counted."""
    value = cached_within(key, compute, seconds=seconds, wait=None)
    assert value is not None
    return value


def cached_within(
    key: Key,
    compute: Callable[[], T],
    *,
    seconds: float = CACHE_SECONDS,
    wait: float | None = None,
) -> T | None:
    """Return the value under ``key``, computing it when absent.

    A value older than ``seconds`` is still returned at once while one background thread
    computes a fresh one: a page over a million answers stays fast, at most a refresh old.
    With ``wait``, a value never counted before is computed in the background too, and None
    is returned when it takes longer than ``wait`` seconds (the page says it is counting).
    """
    now = time.monotonic()
    with _refreshing_lock:
        hit = COUNTS.get(key)
        running = key in _refreshing
        if hit is not None or (wait is not None and not running):
            if (hit is None or now - hit[0] >= seconds) and not running:
                thread = threading.Thread(
                    target=_refresh, args=(key, compute), name="dashboard-refresh", daemon=True
                )
                _refreshing[key] = thread
                thread.start()
            if hit is not None:
                value: T = hit[1]
                return value
    if wait is None:
        computed = compute()
        COUNTS.put(key, (time.monotonic(), computed))
        return computed
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        with _refreshing_lock:
            hit = COUNTS.get(key)
            if hit is not None:
                found: T = hit[1]
                return found
            if key not in _refreshing:  # the count failed; the next request retries
                return None
        time.sleep(0.02)
    return None


def _refresh(key: Key, compute: Callable[[], Any]) -> None:
    try:
        COUNTS.put(key, (time.monotonic(), compute()))
    except Exception:  # keep serving the previous value; the next request retries
        log.warning("refreshing the dashboard's %s failed", key, exc_info=True)
    finally:
        with _refreshing_lock:
            _refreshing.pop(key, None)


def finish_counts(timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for the background counts; False if some still run.

    Called before the database closes, so no count is left holding a connection of a
    disposed pool.
    """
    deadline = time.monotonic() + timeout
    with _refreshing_lock:
        running = list(_refreshing.values())
    for thread in running:
        thread.join(max(0.0, deadline - time.monotonic()))
    return not any(thread.is_alive() for thread in running)


def forget(prefix: Key) -> None:
    """Drop counts whose key starts with ``prefix`` (after an upload or a rename)."""
    COUNTS.invalidate(prefix)
