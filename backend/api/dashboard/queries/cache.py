"""A cache that serves stale values while it recounts, so a page never waits long."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

#: Seconds an aggregate is reused before it is counted again.
CACHE_SECONDS = 30.0
#: How long a page waits for a first count before it shows "counting" and refreshes itself.
PAGE_WAIT_SECONDS = 0.8

T = TypeVar("T")
log = logging.getLogger(__name__)

_cache: dict[tuple[Any, ...], tuple[float, Any]] = {}
_refreshing: set[tuple[Any, ...]] = set()
_cache_lock = threading.Lock()


def cached(key: tuple[Any, ...], compute: Callable[[], T], *, seconds: float = CACHE_SECONDS) -> T:
    """Return the value under ``key``, computing it in this thread when never counted."""
    value = cached_within(key, compute, seconds=seconds, wait=None)
    assert value is not None
    return value


def cached_within(
    key: tuple[Any, ...],
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
    with _cache_lock:
        hit = _cache.get(key)
        running = key in _refreshing
        if hit is not None or (wait is not None and not running):
            if (hit is None or now - hit[0] >= seconds) and not running:
                _refreshing.add(key)
                threading.Thread(
                    target=_refresh, args=(key, compute), name="dashboard-refresh", daemon=True
                ).start()
            if hit is not None:
                return hit[1]
    if wait is None:
        value = compute()
        _store(key, value)
        return value
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        with _cache_lock:
            hit = _cache.get(key)
            if hit is not None:
                return hit[1]
            if key not in _refreshing:  # the count failed; the next request retries
                return None
        time.sleep(0.02)
    return None


def _store(key: tuple[Any, ...], value: Any) -> None:
    with _cache_lock:
        if len(_cache) > 512:
            _cache.clear()
        _cache[key] = (time.monotonic(), value)


def _refresh(key: tuple[Any, ...], compute: Callable[[], Any]) -> None:
    try:
        _store(key, compute())
    except Exception:  # keep serving the previous value; the next request retries
        log.warning("refreshing the dashboard's %s failed", key, exc_info=True)
    finally:
        with _cache_lock:
            _refreshing.discard(key)


def forget(prefix: tuple[Any, ...]) -> None:
    """Drop cached values whose key starts with ``prefix`` (after an upload or a rename)."""
    with _cache_lock:
        for key in [k for k in _cache if k[: len(prefix)] == prefix]:
            del _cache[key]
