"""What happened to each follow-up item, per variant and segment, counted in SQL."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, text
from sqlmodel import Session

from backend.api.dashboard.queries.cache import PAGE_WAIT_SECONDS, cached_within
from backend.api.dashboard.queries.sql import dialect_of
from backend.api.db import read_only
from backend.followups.policy import FREQUENCY_CAP, QUIET_HOURS
from backend.storage.followup_tables import FollowupStatus


@dataclass
class FollowupCounts:
    """What happened to one item (and variant) for one segment's respondents."""

    pack_key: str
    item_id: str
    variant: str | None
    segment_key: str
    queued: int = 0
    #: Still pending, moved later by quiet hours or the frequency cap.
    deferred: int = 0
    #: Still pending and not deferred: due later or right now.
    waiting: int = 0
    #: Requests made (delivered or uncertain).
    sent: int = 0
    delivered: int = 0
    clicked: int = 0
    #: Respondents whose last delivered follow-up this was when they opted out (/stop).
    opted_out_after: int = 0
    #: Sends Telegram refused because the person had blocked the bot (403).
    blocked: int = 0
    expired: int = 0
    failed: int = 0
    cancelled: int = 0
    deferred_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def click_rate(self) -> float | None:
        return self.clicked / self.delivered if self.delivered else None


#: The outbox's ``deferred_reason`` as a marketer reads it.
DEFERRED_LABELS = {QUIET_HOURS: "quiet hours", FREQUENCY_CAP: "frequency cap"}
BLOCKED_PREFIX = "blocked: "


def _in_state(session: Session, status: str) -> str:
    """SQL of the outbox rows in one state, found through the state index (few rows)."""
    # SQLite would merge the subquery into the outer GROUP BY and scan the whole table in
    # the statistics index's order; a LIMIT keeps it apart. PostgreSQL plans this well.
    limit = " LIMIT -1" if dialect_of(session) == "sqlite" else ""
    return (
        "SELECT pack_key, item_id, variant, segment_key, reason, deferred_reason "
        "FROM followupmessage "
        f"WHERE status = '{FollowupStatus(status).value}'{limit}"
    )


def deferred_reasons(
    *, session: Session
) -> dict[tuple[str, str, str | None, str], dict[str, int]]:
    """Return (pack, item, variant, segment key) -> why its pending rows wait -> count."""
    rows = session.execute(
        text(
            "SELECT f.pack_key, f.item_id, f.variant, f.segment_key, f.deferred_reason, COUNT(*) "
            f"FROM ({_in_state(session, 'pending')}) f WHERE f.deferred_reason IS NOT NULL "
            "GROUP BY f.pack_key, f.item_id, f.variant, f.segment_key, f.deferred_reason"
        )
    )
    out: dict[tuple[str, str, str | None, str], dict[str, int]] = defaultdict(dict)
    for pack, item, variant, segment, why, count in rows:
        out[(pack, item, variant, segment)][DEFERRED_LABELS.get(why, why)] = int(count)
    return dict(out)


def followup_counts(*, session: Session) -> list[FollowupCounts]:
    """Count per item, variant and segment everything the follow-ups page shows, in SQL.

    Rows are keyed by the segment's id, never by the name saved when a row was queued, so
    the page always shows the segment's current name.
    """
    group = "f.pack_key, f.item_id, f.variant, f.segment_key"
    rows: dict[tuple[Any, ...], FollowupCounts] = {}

    def at(key: tuple[Any, ...]) -> FollowupCounts:
        if key not in rows:
            rows[key] = FollowupCounts(*key)
        return rows[key]

    # By state, from the statistics index alone; the reasons are read for the few rows
    # whose state has several (pending: deferred or not; failed: blocked or not).
    # Grouped in the index's own order (the stored name too, merged here): no sort needed.
    for *key, _name, status, count in session.execute(
        text(
            f"SELECT {group}, f.segment_name, f.status, COUNT(*) FROM followupmessage f "
            f"GROUP BY {group}, f.segment_name, f.status"
        )
    ):
        counts = at(tuple(key))
        counts.queued += count
        if status in ("sent", "uncertain"):
            counts.sent += count
        if status == "sent":
            counts.delivered += count
        elif status in ("pending", "sending"):
            counts.waiting += count
        elif status == "failed":
            counts.failed += count
        elif status == "expired":
            counts.expired += count
        elif status == "cancelled":
            counts.cancelled += count
    for *key, count in session.execute(
        text(
            f"SELECT {group}, COUNT(*) FROM ({_in_state(session, 'failed')}) f "
            f"WHERE f.reason LIKE :blocked GROUP BY {group}"
        ),
        {"blocked": BLOCKED_PREFIX + "%"},
    ):
        counts = at(tuple(key))
        counts.blocked += count
        counts.failed -= count
    for *key, count in session.execute(
        text(
            f"SELECT {group}, COUNT(DISTINCT c.message_id) FROM followupclick c "
            f"JOIN followupmessage f ON f.id = c.message_id GROUP BY {group}"
        )
    ):
        at(tuple(key)).clicked = int(count)
    # Last touch: an opt-out counts against the last follow-up the person had received.
    # (Few people opt out: read them first; CROSS JOIN keeps SQLite to that order.)
    for *key, count in session.execute(
        text(
            f"SELECT {group}, COUNT(*) FROM respondent r CROSS JOIN followupmessage f "
            "WHERE f.respondent_id = r.id AND r.opted_out = :yes AND f.status = 'sent' "
            "AND f.sent_at = ("
            "SELECT MAX(l.sent_at) FROM followupmessage l "
            "WHERE l.respondent_id = f.respondent_id AND l.status = 'sent') "
            f"GROUP BY {group}"
        ),
        {"yes": True},
    ):
        at(tuple(key)).opted_out_after = int(count)
    for group_key, reasons in deferred_reasons(session=session).items():
        if group_key in rows:
            deferred = sum(reasons.values())
            rows[group_key].deferred_reasons = reasons
            rows[group_key].deferred += deferred
            rows[group_key].waiting -= deferred
    return sorted(
        rows.values(),
        key=lambda r: (r.segment_key, r.pack_key, r.item_id, r.variant or ""),
    )


def cached_followup_counts(engine: Engine) -> list[FollowupCounts] | None:
    """:func:`followup_counts`, served from the cache like the funnel (None while a first
    count over a large outbox takes longer than a page may wait)."""

    def compute() -> list[FollowupCounts]:
        with read_only(engine) as session:
            return followup_counts(session=session)

    return cached_within(("fc", id(engine)), compute, wait=PAGE_WAIT_SECONDS)
