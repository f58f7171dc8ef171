"""Everything the questionnaire page counts for one version, counted together and cached."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine

from backend.api.dashboard.queries.cache import CACHE_SECONDS, PAGE_WAIT_SECONDS, cached_within
from backend.api.dashboard.queries.distributions import Distribution, distributions_and_answered
from backend.api.dashboard.queries.funnel import Funnel, funnel
from backend.api.dashboard.queries.reliability import Reliability, sampled_reliability
from backend.api.db import read_only
from backend.questionnaire import QuestionnaireDefinition


@dataclass(frozen=True, slots=True)
class VersionStats:
    """Everything the questionnaire page counts, for one version, counted together."""

    funnel: Funnel
    distributions: list[Distribution]
    reliability: Reliability
    counted_at: datetime
    max_age: float


def version_stats(
    engine: Engine, key: str, version_id: int, definition: QuestionnaireDefinition
) -> VersionStats | None:
    """Return the funnel, distributions and reliability of a version (cached, see above);
    None while a first count takes longer than a page may wait."""

    def compute() -> VersionStats:
        with read_only(engine) as session:
            dists, answered = distributions_and_answered(definition, version_id, session=session)
            return VersionStats(
                funnel=funnel(definition, version_id, session=session, answered=answered),
                distributions=dists,
                reliability=sampled_reliability(definition, version_id, session=session),
                counted_at=datetime.now(UTC),
                max_age=CACHE_SECONDS,
            )

    return cached_within(("q", key, version_id, id(engine)), compute, wait=PAGE_WAIT_SECONDS)
