"""Outcomes of sends: sent, retried with backoff, rate limited, uncertain, failed, blocked;
and the operator's way to settle uncertain rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, update
from sqlmodel import Session, col

from backend.followups.delivery import (
    Blocked,
    Delivered,
    NotSent,
    Outcome,
    RateLimited,
    Rejected,
    Uncertain,
)
from backend.followups.outbox.claims import SendRules
from backend.storage.followup_tables import FollowupMessage
from backend.storage.followup_tables import FollowupStatus as S
from backend.storage.models import Respondent
from backend.storage.types import utcnow


@dataclass
class OutcomeCounts:
    """What sends came to; a batch's counts are added to a pass's (see ``DispatchReport``)."""

    sent: int = 0
    failed: int = 0
    uncertain: int = 0
    retried: int = 0
    rate_limited: int = 0
    blocked: int = 0

    def add(self, other: OutcomeCounts) -> None:
        """Add ``other``'s counts to these."""
        self.sent += other.sent
        self.failed += other.failed
        self.uncertain += other.uncertain
        self.retried += other.retried
        self.rate_limited += other.rate_limited
        self.blocked += other.blocked


@dataclass
class OutcomeReport(OutcomeCounts):
    """The outcomes of one batch, and which rows fall due again when."""

    #: Rows put back to pending, and when they fall due again.
    retry_at: dict[int, datetime] = field(default_factory=dict)


def _backoff(attempts: int, rules: SendRules) -> timedelta:
    return timedelta(seconds=min(rules.backoff_max, rules.backoff_initial * 2 ** (attempts - 1)))


def record_outcomes(
    *,
    session: Session,
    results: Sequence[tuple[int, Outcome]],
    owner: str,
    now: datetime,
    rules: SendRules,
) -> OutcomeReport:
    """Record what each claimed send came to (rows erased meanwhile are skipped)."""
    report = OutcomeReport()
    for row_id, outcome in results:
        row = session.get(FollowupMessage, row_id)
        # A row whose lease expired may already be uncertain: a late answer still settles it.
        if row is None or row.lease_owner != owner or row.status not in (S.SENDING, S.UNCERTAIN):
            continue
        row.lease_until = None
        row.updated_at = now
        if isinstance(outcome, Delivered):
            row.status, row.reason = S.SENT, None
            row.telegram_message_id = outcome.message_id
            report.sent += 1
        elif isinstance(outcome, RateLimited):
            row.status, row.sent_at = S.PENDING, None
            row.attempts -= 1  # Telegram asked to wait: not a failed attempt
            row.not_before = now + timedelta(seconds=outcome.retry_after)
            row.reason = f"rate limited: retry after {outcome.retry_after:g} s"
            report.rate_limited += 1
            report.retry_at[row_id] = row.not_before
        elif isinstance(outcome, NotSent):
            if row.attempts >= rules.max_attempts:
                row.status = S.FAILED
                row.reason = f"gave up after {row.attempts} attempts: {outcome.reason}"
                report.failed += 1
            else:
                row.status, row.sent_at = S.PENDING, None
                row.not_before = now + _backoff(row.attempts, rules)
                row.reason = f"retrying after: {outcome.reason}"
                report.retried += 1
                report.retry_at[row_id] = row.not_before
        elif isinstance(outcome, Uncertain):
            row.status, row.reason = S.UNCERTAIN, outcome.reason
            report.uncertain += 1
        elif isinstance(outcome, Rejected):
            row.status, row.reason = S.FAILED, outcome.reason
            report.failed += 1
        elif isinstance(outcome, Blocked):
            row.status, row.reason = S.FAILED, f"blocked: {outcome.reason}"
            report.failed += 1
            report.blocked += 1
            _mark_unreachable(session, row.respondent_id, now)
        session.add(row)
    return report


def _mark_unreachable(session: Session, respondent_id: int, now: datetime) -> None:
    person = session.get(Respondent, respondent_id)
    if person is not None:
        person.unreachable = True
        session.add(person)
    session.execute(
        update(FollowupMessage)
        .where(
            col(FollowupMessage.respondent_id) == respondent_id,
            col(FollowupMessage.status) == S.PENDING,
        )
        .values(
            status=S.CANCELLED,
            reason="the respondent is unreachable (blocked the bot)",
            updated_at=now,
        )
    )


def release_uncertain(
    *,
    session: Session,
    ids: Sequence[int] | None = None,
    resend: bool = True,
    now: datetime | None = None,
) -> int:
    """Settle uncertain rows: send them again (``resend``) or mark them sent. Returns how many.

    Only an operator should call this: re-sending may deliver a message a second time.
    """
    now = now or utcnow()
    stmt = update(FollowupMessage).where(col(FollowupMessage.status) == S.UNCERTAIN)
    if ids is not None:
        stmt = stmt.where(col(FollowupMessage.id).in_(list(ids)))
    if resend:
        values: dict[str, Any] = {
            "status": S.PENDING,
            "not_before": now,
            "sent_at": None,
            "lease_owner": None,
            "lease_until": None,
            "reason": "released by an operator to be sent again",
        }
    else:
        values = {"status": S.SENT, "reason": "marked sent by an operator"}
    result = cast(CursorResult[Any], session.execute(stmt.values(updated_at=now, **values)))
    return int(result.rowcount or 0)
