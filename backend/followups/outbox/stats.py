"""Counts of the outbox: per item, variant and segment, and per state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from backend.followups.policy import FREQUENCY_CAP, QUIET_HOURS
from backend.storage.followup_tables import FollowupClick, FollowupMessage
from backend.storage.followup_tables import FollowupStatus as S


@dataclass
class StatsRow:
    pack_key: str
    item_id: str
    variant: str | None
    segment_key: str
    segment_name: str
    queued: int = 0
    sent: int = 0
    delivered: int = 0
    clicked: int = 0
    pending: int = 0
    failed: int = 0
    uncertain: int = 0
    cancelled: int = 0
    #: Of ``pending``: put off by the respondent's quiet hours or the frequency cap.
    deferred_quiet_hours: int = 0
    deferred_frequency_cap: int = 0

    @property
    def deferred(self) -> int:
        """Return the pending rows waiting out quiet hours or the frequency cap."""
        return self.deferred_quiet_hours + self.deferred_frequency_cap


def followup_stats(*, session: Session, pack_key: str | None = None) -> list[StatsRow]:
    """Count per item, variant and segment: queued, sent (requests made), delivered (confirmed
    by Telegram), clicked (rows with at least one button press), and the rest by state;
    pending rows deferred by quiet hours or the frequency cap are counted by reason too."""
    group = (
        col(FollowupMessage.pack_key),
        col(FollowupMessage.item_id),
        col(FollowupMessage.variant),
        col(FollowupMessage.segment_key),
        col(FollowupMessage.segment_name),
    )
    where = [] if pack_key is None else [col(FollowupMessage.pack_key) == pack_key]
    rows: dict[tuple[Any, ...], StatsRow] = {}
    for *key, status, count in session.execute(
        sa_select(*group, col(FollowupMessage.status), func.count())
        .where(*where)
        .group_by(*group, FollowupMessage.status)
    ):
        stats = rows.setdefault(tuple(key), StatsRow(*key))
        stats.queued += count
        if status in (S.SENT, S.UNCERTAIN):
            stats.sent += count
        if status == S.SENT:
            stats.delivered += count
        elif status in (S.PENDING, S.SENDING):
            stats.pending += count
        elif status == S.FAILED:
            stats.failed += count
        elif status == S.UNCERTAIN:
            stats.uncertain += count
        else:
            stats.cancelled += count
    clicked = (
        sa_select(*group, func.count(func.distinct(FollowupClick.message_id)))
        .join(FollowupClick, col(FollowupClick.message_id) == FollowupMessage.id)
        .where(*where)
        .group_by(*group)
    )
    for *key, count in session.execute(clicked):
        if tuple(key) in rows:
            rows[tuple(key)].clicked = count
    deferred = (
        sa_select(*group, col(FollowupMessage.deferred_reason), func.count())
        .where(
            *where,
            col(FollowupMessage.status) == S.PENDING,
            col(FollowupMessage.deferred_reason).is_not(None),
        )
        .group_by(*group, col(FollowupMessage.deferred_reason))
    )
    for *key, why, count in session.execute(deferred):
        found = rows.get(tuple(key))
        if found is not None and why == QUIET_HOURS:
            found.deferred_quiet_hours = count
        elif found is not None and why == FREQUENCY_CAP:
            found.deferred_frequency_cap = count
    return sorted(
        rows.values(), key=lambda r: (r.pack_key, r.item_id, r.variant or "", r.segment_key)
    )


def status_counts(*, session: Session) -> dict[str, int]:
    """Return the number of outbox rows in each state."""
    result = session.exec(
        select(FollowupMessage.status, func.count()).group_by(FollowupMessage.status)
    )
    return {str(status): count for status, count in result}
