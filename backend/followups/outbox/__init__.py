"""The outbox: content packs, queueing after assignments, claims with a lease, outcomes,
clicks and counts.

Every function takes the session keyword-only and leaves committing to the caller's
``session_scope``.
"""

from backend.followups.outbox.claims import (
    Candidate,
    ClaimReport,
    SendRules,
    claim,
    due_candidates,
    expire_leases,
)
from backend.followups.outbox.clicks import CALLBACK_PREFIX, Click, record_click
from backend.followups.outbox.outcomes import (
    OutcomeCounts,
    OutcomeReport,
    record_outcomes,
    release_uncertain,
)
from backend.followups.outbox.packs import (
    PackImport,
    has_packs,
    import_pack,
    list_packs,
    pack_of,
    packs_for,
)
from backend.followups.outbox.queue import (
    SEGMENT_CHANGED,
    Assignment,
    EnqueueReport,
    enqueue_for_assignments,
    segment_view,
)
from backend.followups.outbox.stats import StatsRow, followup_stats, status_counts

__all__ = [
    "CALLBACK_PREFIX",
    "SEGMENT_CHANGED",
    "Assignment",
    "Candidate",
    "ClaimReport",
    "Click",
    "EnqueueReport",
    "OutcomeCounts",
    "OutcomeReport",
    "PackImport",
    "SendRules",
    "StatsRow",
    "claim",
    "due_candidates",
    "enqueue_for_assignments",
    "expire_leases",
    "followup_stats",
    "has_packs",
    "import_pack",
    "list_packs",
    "pack_of",
    "packs_for",
    "record_click",
    "record_outcomes",
    "release_uncertain",
    "segment_view",
    "status_counts",
]
