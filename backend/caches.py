"""One registry of bounded process caches.

Every process-wide cache of data is a :class:`BoundedCache`: a thread-safe LRU with tuple keys
and an optional time to live. Keys hold what the entry depends on, so a write that changes
cached data drops the affected entries with :meth:`BoundedCache.invalidate` by key prefix.
Every instance registers itself; :func:`clear_all` empties them all (used by tests).
Pure functions of immutable input may keep ``functools.lru_cache`` instead.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["BoundedCache", "clear_all", "registered"]

V = TypeVar("V")

Key = tuple[Hashable, ...]

_registry: weakref.WeakSet[BoundedCache[object]] = weakref.WeakSet()
_registry_lock = threading.Lock()


class BoundedCache(Generic[V]):
    """A thread-safe LRU cache with tuple keys, at most ``maxsize`` entries.

    Parameters
    ----------
    name
        Shown by :func:`registered`; names what the cache holds.
    maxsize
        Entries kept; putting one more drops the least recently used.
    ttl
        Seconds an entry stays valid after it is put; ``None`` keeps it until evicted.
    clock
        Time source in seconds; default ``time.monotonic``, looked up on each call.
    """

    def __init__(
        self,
        name: str,
        *,
        maxsize: int,
        ttl: float | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if maxsize < 1:
            raise ValueError(f"cache {name!r}: maxsize must be at least 1, got {maxsize}")
        if ttl is not None and ttl <= 0:
            raise ValueError(f"cache {name!r}: ttl must be positive or None, got {ttl}")
        self.name = name
        self.maxsize = maxsize
        self.ttl = ttl
        self._clock = clock
        self._entries: OrderedDict[Key, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()
        with _registry_lock:
            _registry.add(self)  # type: ignore[arg-type]

    def _now(self) -> float:
        return time.monotonic() if self._clock is None else self._clock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __repr__(self) -> str:
        return f"BoundedCache({self.name!r}, maxsize={self.maxsize}, ttl={self.ttl})"

    def get(self, key: Key) -> V | None:
        """Return the value under ``key`` and mark it recently used; None if missing or expired."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            stored_at, value = entry
            if self.ttl is not None and self._now() - stored_at >= self.ttl:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return value

    def put(self, key: Key, value: V) -> None:
        """Store ``value`` under ``key``, dropping the least recently used entry when full."""
        with self._lock:
            self._entries[key] = (self._now(), value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)

    def invalidate(self, prefix: Key = ()) -> None:
        """Drop every entry whose key starts with ``prefix``; all entries when it is empty."""
        with self._lock:
            if not prefix:
                self._entries.clear()
                return
            n = len(prefix)
            for key in [k for k in self._entries if k[:n] == prefix]:
                del self._entries[key]


def registered() -> list[BoundedCache[object]]:
    """Return the live caches, sorted by name."""
    with _registry_lock:
        caches = list(_registry)
    return sorted(caches, key=lambda cache: cache.name)


def clear_all() -> None:
    """Empty every registered cache."""
    for cache in registered():
        cache.invalidate()
