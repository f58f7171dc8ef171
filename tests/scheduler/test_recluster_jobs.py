"""Scheduled re-clustering: job options, the completions trigger, and one leader."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine, func
from sqlmodel import select

from backend.scheduler import (
    MISFIRE_GRACE_SECONDS,
    SegmentJobs,
    build_jobs,
    recluster_exclusive,
    recluster_now,
)
from backend.settings import Settings
from backend.storage.engine import make_engine, session_scope
from backend.storage.segment_tables import SegmentationRun
from tests.helpers.lifestyle import seed_respondents


def count_runs(engine: Engine) -> int:
    with session_scope(engine) as session:
        return int(session.exec(select(func.count()).select_from(SegmentationRun)).one())


def test_jobs_coalesce_never_overlap_and_tolerate_late_starts(sqlite_engine: Engine) -> None:
    seed_respondents(sqlite_engine, 50, seed=0)
    settings = Settings(recluster_cron="30 2 * * *", recluster_after_completions=100)
    built = build_jobs(settings, sqlite_engine)
    try:
        jobs = {job.id: job for job in built.scheduler.get_jobs()}
        assert set(jobs) == {"segments:recluster:lifestyle", "segments:check"}
        for job in jobs.values():
            assert job.coalesce is True
            assert job.max_instances == 1
            assert job.misfire_grace_time == MISFIRE_GRACE_SECONDS >= 60
        cron = jobs["segments:recluster:lifestyle"].trigger
        assert isinstance(cron, CronTrigger)
        assert str(cron.fields[cron.FIELD_NAMES.index("hour")]) == "2"
        assert str(cron.fields[cron.FIELD_NAMES.index("minute")]) == "30"
        assert isinstance(jobs["segments:check"].trigger, IntervalTrigger)
    finally:
        built.segments.shutdown()


def test_no_cron_job_without_a_cron(sqlite_engine: Engine) -> None:
    seed_respondents(sqlite_engine, 50, seed=0)
    built = build_jobs(Settings(recluster_cron=""), sqlite_engine)
    try:
        assert [job.id for job in built.scheduler.get_jobs()] == ["segments:check"]
    finally:
        built.segments.shutdown()


async def test_check_reclusters_after_enough_new_completions(sqlite_engine: Engine) -> None:
    jobs = SegmentJobs(Settings(recluster_after_completions=100), sqlite_engine)
    try:
        seed_respondents(sqlite_engine, 300, seed=1)
        first = await jobs.check()
        assert [r.questionnaire for r in first] == ["lifestyle"]
        assert await jobs.check() == []
        seed_respondents(sqlite_engine, 60, seed=2)
        assert await jobs.check() == []
        seed_respondents(sqlite_engine, 60, seed=3)
        second = await jobs.check()
        assert [r.n_respondents for r in second] == [420]
    finally:
        jobs.shutdown()
    assert count_runs(sqlite_engine) == 2


async def test_the_fit_runs_off_the_event_loop(sqlite_engine: Engine) -> None:
    seed_respondents(sqlite_engine, 300, seed=4)
    jobs = SegmentJobs(Settings(), sqlite_engine)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        report = await jobs.recluster("lifestyle")
    finally:
        ticker.cancel()
        jobs.shutdown()
    assert report is not None
    assert report.n_respondents == 300
    # The loop kept running while the fit did: it ticked through most of the run.
    assert ticks >= 0.3 * report.duration_seconds / 0.005


async def test_two_instances_on_one_database_run_the_job_once(migrated_database_url: str) -> None:
    engines = [make_engine(migrated_database_url) for _ in range(2)]
    try:
        seed_respondents(engines[0], 400, seed=5)
        instances = [SegmentJobs(Settings(), engine) for engine in engines]
        barrier = threading.Barrier(2)
        for instance in instances:
            # Both executor threads start the job at the same moment.
            instance.executor.submit(barrier.wait, 10)
        results = await asyncio.gather(*(i.recluster("lifestyle") for i in instances))
        for instance in instances:
            instance.shutdown()
        assert sum(r is not None for r in results) == 1
        assert count_runs(engines[1]) == 1
        # A later firing, past the grace period, runs again on whichever instance leads.
        later = await asyncio.to_thread(
            recluster_exclusive,
            engines[1],
            "lifestyle",
            trigger="schedule",
            min_interval=timedelta(0),
        )
        assert later is not None
        assert count_runs(engines[0]) == 2
    finally:
        for engine in engines:
            engine.dispose()


class CountingExecutor(ThreadPoolExecutor):
    """The scheduler's fit executor, counting what it was given."""

    def __init__(self) -> None:
        super().__init__(1, thread_name_prefix="fit-worker")
        self.calls = 0

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return super().submit(fn, *args, **kwargs)


async def test_a_re_clustering_asked_for_now_fits_where_the_scheduled_ones_do(
    sqlite_engine: Engine,
) -> None:
    """The API's and the dashboard's button use the scheduler's worker, not a thread here."""
    seed_respondents(sqlite_engine, 300, seed=6)
    executor = CountingExecutor()
    jobs = SegmentJobs(Settings(), sqlite_engine, executor=executor)
    try:
        report = await recluster_now(
            sqlite_engine,
            "lifestyle",
            trigger="manual",
            segment_jobs=jobs,
        )
    finally:
        jobs.shutdown()
        executor.shutdown()
    assert report is not None
    assert report.n_respondents == 300
    assert executor.calls == 1
    # Without a scheduler (an API on its own) the run still happens, in a thread.
    assert await recluster_now(sqlite_engine, "lifestyle", trigger="manual") is not None
    assert count_runs(sqlite_engine) == 2


async def test_scheduled_runs_use_the_configured_seed(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Any] = []
    monkeypatch.setattr(
        "backend.scheduler.jobs.recluster_exclusive",
        lambda engine, key, **kwargs: seen.append(kwargs.get("random_state")),
    )
    executor = CountingExecutor()
    for seed in (7, None):
        jobs = SegmentJobs(Settings(segmentation_seed=seed), sqlite_engine, executor=executor)
        await jobs.recluster("lifestyle")
        await jobs.now("lifestyle", "api")
        jobs.shutdown()
    executor.shutdown()
    assert seen == [7, 7, None, None]
    assert Settings().segmentation_seed == 0  # repeatable unless asked otherwise
    monkeypatch.setenv("PSYCHOGRAPH_SEGMENTATION_SEED", "")
    assert Settings().segmentation_seed is None
