"""The bounded cache registry: LRU order, size bound, time to live, prefix invalidation."""

from __future__ import annotations

import threading

import pytest

from backend import caches
from backend.caches import BoundedCache


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_get_returns_none_on_miss() -> None:
    cache: BoundedCache[str] = BoundedCache("test.miss", maxsize=2)
    assert cache.get(("absent",)) is None


def test_put_then_get_returns_value() -> None:
    cache: BoundedCache[str] = BoundedCache("test.hit", maxsize=2)
    cache.put(("a", 1), "one")
    assert cache.get(("a", 1)) == "one"


def test_maxsize_drops_least_recently_used() -> None:
    cache: BoundedCache[int] = BoundedCache("test.lru", maxsize=2)
    cache.put(("a",), 1)
    cache.put(("b",), 2)
    assert cache.get(("a",)) == 1  # "a" is now the most recently used
    cache.put(("c",), 3)
    assert cache.get(("b",)) is None
    assert cache.get(("a",)) == 1
    assert cache.get(("c",)) == 3
    assert len(cache) == 2


def test_put_existing_key_refreshes_order_and_value() -> None:
    cache: BoundedCache[int] = BoundedCache("test.refresh", maxsize=2)
    cache.put(("a",), 1)
    cache.put(("b",), 2)
    cache.put(("a",), 10)
    cache.put(("c",), 3)
    assert cache.get(("a",)) == 10
    assert cache.get(("b",)) is None


def test_ttl_expires_entries_with_injected_clock() -> None:
    clock = FakeClock()
    cache: BoundedCache[str] = BoundedCache("test.ttl", maxsize=4, ttl=10.0, clock=clock)
    cache.put(("k",), "v")
    clock.now += 9.9
    assert cache.get(("k",)) == "v"
    clock.now += 0.1
    assert cache.get(("k",)) is None
    assert len(cache) == 0


def test_ttl_uses_monotonic_time_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [50.0]
    monkeypatch.setattr(caches.time, "monotonic", lambda: now[0])
    cache: BoundedCache[str] = BoundedCache("test.monotonic", maxsize=4, ttl=5.0)
    cache.put(("k",), "v")
    now[0] = 54.0
    assert cache.get(("k",)) == "v"
    now[0] = 56.0
    assert cache.get(("k",)) is None


def test_without_ttl_entries_do_not_expire() -> None:
    clock = FakeClock()
    cache: BoundedCache[str] = BoundedCache("test.nottl", maxsize=4, clock=clock)
    cache.put(("k",), "v")
    clock.now += 1e9
    assert cache.get(("k",)) == "v"


def test_invalidate_prefix_drops_only_matching_keys() -> None:
    cache: BoundedCache[int] = BoundedCache("test.prefix", maxsize=10)
    cache.put(("q1", "v1", "a"), 1)
    cache.put(("q1", "v2", "a"), 2)
    cache.put(("q2", "v1", "a"), 3)
    cache.put(("q1",), 4)
    cache.invalidate(("q1", "v1"))
    assert cache.get(("q1", "v1", "a")) is None
    assert cache.get(("q1", "v2", "a")) == 2
    assert cache.get(("q1",)) == 4
    cache.invalidate(("q1",))
    assert cache.get(("q1", "v2", "a")) is None
    assert cache.get(("q1",)) is None
    assert cache.get(("q2", "v1", "a")) == 3


def test_invalidate_without_prefix_drops_everything() -> None:
    cache: BoundedCache[int] = BoundedCache("test.all", maxsize=10)
    cache.put(("a",), 1)
    cache.put(("b",), 2)
    cache.invalidate()
    assert len(cache) == 0


def test_clear_all_empties_every_registered_cache() -> None:
    first: BoundedCache[int] = BoundedCache("test.reg.first", maxsize=3)
    second: BoundedCache[int] = BoundedCache("test.reg.second", maxsize=3)
    first.put(("a",), 1)
    second.put(("b",), 2)
    assert first in caches.registered()
    assert second in caches.registered()
    caches.clear_all()
    assert first.get(("a",)) is None
    assert second.get(("b",)) is None


@pytest.mark.parametrize(("maxsize", "ttl"), [(0, None), (3, 0.0), (3, -1.0)])
def test_invalid_bounds_are_rejected(maxsize: int, ttl: float | None) -> None:
    with pytest.raises(ValueError, match="test-bad"):
        BoundedCache("test-bad", maxsize=maxsize, ttl=ttl)


def test_concurrent_use_keeps_the_bound() -> None:
    cache: BoundedCache[int] = BoundedCache("test.threads", maxsize=50)
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(2000):
                key = (worker, i % 80)
                cache.put(key, i)
                cache.get((worker, (i * 7) % 80))
                if i % 250 == 0:
                    cache.invalidate((worker,))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(cache) <= 50
