"""Periodic jobs run once a tick across workers, and the counters' fold is one of them."""

from __future__ import annotations

import threading

from sqlalchemy import Engine

from backend.scheduler.counters import fold_once
from backend.scheduler.leader import claim_tick, tick_of
from backend.storage.engine import make_engine


def test_one_of_several_workers_claims_each_tick(engine: Engine) -> None:
    workers = [make_engine(engine.url.render_as_string(hide_password=False)) for _ in range(4)]
    now = 1_000_000.0
    won: list[list[bool]] = [[] for _ in workers]
    start = threading.Barrier(len(workers))

    def worker(index: int) -> None:
        for tick in range(5):
            start.wait()
            won[index].append(claim_tick(workers[index], "job", 10.0, now=now + 10 * tick))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(workers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for w in workers:
        w.dispose()

    assert [sum(column) for column in zip(*won, strict=True)] == [1, 1, 1, 1, 1]
    # A tick already run, or an older one, is never run again.
    assert not claim_tick(engine, "job", 10.0, now=now + 41)
    assert not claim_tick(engine, "job", 10.0, now=now)
    assert claim_tick(engine, "other job", 10.0, now=now)


def test_tick_numbers_follow_the_wall_clock() -> None:
    assert tick_of(10.0, 99.9) == 9
    assert tick_of(10.0, 100.0) == 10


def test_the_fold_runs_once_a_tick(engine: Engine) -> None:
    assert fold_once(engine, tick_seconds=3600.0) == 0
    assert fold_once(engine, tick_seconds=3600.0) is None
