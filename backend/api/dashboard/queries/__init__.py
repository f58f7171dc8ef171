"""Aggregates the dashboard shows, read from counts the database keeps as answers arrive.

Nothing here scans the answers: the funnel and the answer distributions are sums of the
counters kept by triggers (:mod:`backend.storage.counters`), so they are ready at once, also
the first time after a restart; reliability reads a bounded sample of the latest completed
sessions. Results are cached for a few seconds per questionnaire version.
"""

from backend.api.dashboard.queries.cache import (
    CACHE_SECONDS,
    COUNTS,
    PAGE_WAIT_SECONDS,
    cached,
    cached_within,
    forget,
)
from backend.api.dashboard.queries.distributions import (
    Distribution,
    distributions,
    distributions_and_answered,
    scale_labels,
    value_order,
)
from backend.api.dashboard.queries.followups import (
    FollowupCounts,
    cached_followup_counts,
    deferred_reasons,
    followup_counts,
)
from backend.api.dashboard.queries.funnel import Funnel, FunnelStep, answered_counts, funnel
from backend.api.dashboard.queries.reliability import (
    ItemAnalysis,
    Reliability,
    ScaleReliability,
    item_analysis,
    sampled_reliability,
)
from backend.api.dashboard.queries.segments import (
    Confidence,
    answers_by_segment,
    membership_confidence,
    segment_rows,
)
from backend.api.dashboard.queries.versions import VersionStats, version_stats

__all__ = [
    "CACHE_SECONDS",
    "COUNTS",
    "PAGE_WAIT_SECONDS",
    "Confidence",
    "Distribution",
    "FollowupCounts",
    "Funnel",
    "FunnelStep",
    "ItemAnalysis",
    "Reliability",
    "ScaleReliability",
    "VersionStats",
    "answered_counts",
    "answers_by_segment",
    "cached",
    "cached_followup_counts",
    "cached_within",
    "deferred_reasons",
    "distributions",
    "distributions_and_answered",
    "followup_counts",
    "forget",
    "funnel",
    "item_analysis",
    "membership_confidence",
    "sampled_reliability",
    "scale_labels",
    "segment_rows",
    "value_order",
    "version_stats",
]
