"""Re-clusterings started by a marketer, from the API or the dashboard: one per questionnaire."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import Engine

from backend.scheduler import Jobs, recluster_now
from backend.segmentation import SegmentationError

log = logging.getLogger(__name__)


class Reclusters:
    """Start re-clusterings in the background and let them finish before the database closes.

    They fit where the scheduled runs fit (the scheduler's worker process), or in a thread
    when this process runs no scheduler.
    """

    def __init__(self, engine: Engine, jobs: Jobs | None) -> None:
        self.engine = engine
        self.jobs = jobs
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def running(self, questionnaire_key: str) -> bool:
        task = self._tasks.get(questionnaire_key)
        return task is not None and not task.done()

    def start(self, questionnaire_key: str, *, trigger: str) -> bool:
        """Start a re-clustering; False when one of this questionnaire is running already."""
        if self.running(questionnaire_key):
            return False
        self._tasks[questionnaire_key] = asyncio.create_task(self._run(questionnaire_key, trigger))
        return True

    async def _run(self, questionnaire_key: str, trigger: str) -> None:
        try:
            if self.jobs is not None:
                await self.jobs.recluster_now(questionnaire_key, trigger=trigger)
            else:
                await recluster_now(self.engine, questionnaire_key, trigger=trigger)
        except SegmentationError as exc:  # stored as a failed run with its message
            log.warning("re-clustering %s (%s): %s", questionnaire_key, trigger, exc)
        except Exception:
            log.exception("re-clustering %s (%s) failed", questionnaire_key, trigger)

    async def finish(self, *, grace: float) -> None:
        """Wait up to ``grace`` s for running re-clusterings (a fit cannot be interrupted)."""
        running = [task for task in self._tasks.values() if not task.done()]
        if running:
            await asyncio.wait(running, timeout=grace)
