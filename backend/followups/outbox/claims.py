"""Claiming due outbox rows: send-time checks, a lease on each claimed row, expired leases.

A claimed row is ``sending`` with a lease until its outcome is recorded; a lease that runs out
means the sender vanished, and the row becomes uncertain, never pending again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, update
from sqlmodel import Session, col, select

from backend.followups.delivery import OutgoingButton, OutgoingMessage
from backend.followups.outbox.clicks import CALLBACK_PREFIX
from backend.followups.outbox.packs import pack_of
from backend.followups.policy import (
    FREQUENCY_CAP,
    QUIET_HOURS,
    capped_until,
    parse_quiet_hours,
    quiet_until,
)
from backend.storage.followup_tables import ContentPack as ContentPackRow
from backend.storage.followup_tables import FollowupMessage
from backend.storage.followup_tables import FollowupStatus as S
from backend.storage.models import Respondent

#: Rows that count against the frequency cap: sent, or possibly sent.
_CAPPED = (S.SENT, S.UNCERTAIN, S.SENDING)


@dataclass(frozen=True)
class SendRules:
    """The checks made at send time, and how failures are retried.

    Quiet hours and the frequency cap are the service's defaults (settings); a content pack
    may set its own for its items. ``quiet_start == quiet_end`` means no quiet hours.
    """

    frequency_cap: int = 3
    cap_window: timedelta = timedelta(days=7)
    quiet_start: time = time(21, 0)
    quiet_end: time = time(9, 0)
    lease: timedelta = timedelta(seconds=60)
    max_attempts: int = 5
    backoff_initial: float = 2.0
    backoff_max: float = 600.0
    #: Buttons become ``{click_base_url}/{token}.{index}`` links; None: callback buttons.
    click_base_url: str | None = None


@dataclass(frozen=True)
class _Policy:
    quiet_start: time
    quiet_end: time
    cap: int
    window: timedelta


def _pack_policies(session: Session, keys: set[str], rules: SendRules) -> dict[str, _Policy]:
    """Return each pack's quiet hours and cap: its own where it sets them, else the rules'."""
    out = {}
    for row in session.exec(select(ContentPackRow).where(col(ContentPackRow.key).in_(keys))):
        definition = pack_of(row).definition
        start, end = rules.quiet_start, rules.quiet_end
        if definition.quiet_hours is not None:
            span = parse_quiet_hours(definition.quiet_hours)
            start, end = span if span is not None else (time(0), time(0))
        cap, window = rules.frequency_cap, rules.cap_window
        if definition.frequency_cap is not None:
            cap, window = definition.frequency_cap.messages, definition.frequency_cap.per
        out[row.key] = _Policy(start, end, cap, window)
    return out


def _defer(row: FollowupMessage, until: datetime, why: str) -> None:
    """Put a row off until ``until``; its time to expire counts from then, not from before."""
    worth = max(timedelta(0), row.expires_at - row.due_at)
    row.not_before = until
    row.expires_at = max(row.expires_at, until + worth)
    row.deferred_reason = why
    label = "quiet hours" if why == QUIET_HOURS else "frequency cap"
    row.reason = f"deferred: {label} until {until:%Y-%m-%d %H:%M} UTC"


@dataclass(frozen=True)
class Candidate:
    row_id: int
    chat_id: int | None
    not_before: datetime


@dataclass
class ClaimReport:
    claimed: list[OutgoingMessage] = field(default_factory=list)
    deferred: int = 0
    cancelled: int = 0
    expired: int = 0
    failed: int = 0


def due_candidates(*, session: Session, now: datetime, limit: int) -> list[Candidate]:
    """Return pending rows due by ``now``, oldest first (read only; claiming decides)."""
    rows = session.exec(
        select(FollowupMessage.id, Respondent.chat_id, FollowupMessage.not_before)
        .join(Respondent, col(Respondent.id) == FollowupMessage.respondent_id)
        .where(FollowupMessage.status == S.PENDING, col(FollowupMessage.not_before) <= now)
        .order_by(col(FollowupMessage.not_before), col(FollowupMessage.id))
        .limit(limit)
    ).all()
    return [Candidate(row_id, chat_id, nb) for row_id, chat_id, nb in rows if row_id is not None]


def _buttons(row: FollowupMessage, rules: SendRules) -> tuple[OutgoingButton, ...]:
    out = []
    for index, button in enumerate(row.buttons):
        ref = f"{row.token}.{index}"
        if rules.click_base_url:
            out.append(OutgoingButton(button["text"], url=f"{rules.click_base_url}/{ref}"))
        else:
            out.append(OutgoingButton(button["text"], callback_data=f"{CALLBACK_PREFIX}{ref}"))
    return tuple(out)


def claim(
    *, session: Session, ids: Sequence[int], owner: str, now: datetime, rules: SendRules
) -> ClaimReport:
    """Check each row at send time and claim (pending -> sending, with a lease) those to send.

    Opted-out and unreachable respondents' rows are cancelled, late rows expire, rows in the
    respondent's quiet hours or over the frequency cap are deferred (stay pending, later).
    On PostgreSQL rows another dispatcher holds are skipped (``FOR UPDATE SKIP LOCKED``).
    """
    report = ClaimReport()
    stmt = select(FollowupMessage).where(
        col(FollowupMessage.id).in_(ids),
        FollowupMessage.status == S.PENDING,
        col(FollowupMessage.not_before) <= now,
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    rows = list(session.exec(stmt))
    if not rows:
        return report
    people = {row.respondent_id for row in rows}
    respondents = {
        r.id: r for r in session.exec(select(Respondent).where(col(Respondent.id).in_(people)))
    }
    policies = _pack_policies(session, {row.pack_key for row in rows}, rules)
    default = _Policy(rules.quiet_start, rules.quiet_end, rules.frequency_cap, rules.cap_window)
    longest = max([rules.cap_window, *(p.window for p in policies.values())])
    recent: dict[int, list[datetime]] = defaultdict(list)
    for rid, sent_at in session.exec(
        select(FollowupMessage.respondent_id, FollowupMessage.sent_at).where(
            col(FollowupMessage.respondent_id).in_(people),
            col(FollowupMessage.status).in_(_CAPPED),
            col(FollowupMessage.sent_at) > now - longest,
        )
    ):
        if sent_at is not None:
            recent[rid].append(sent_at)
    for row in sorted(rows, key=lambda r: (r.not_before, r.id or 0)):
        person = respondents.get(row.respondent_id)
        policy = policies.get(row.pack_key, default)
        row.updated_at = now
        session.add(row)
        if person is None:
            continue
        if now >= row.expires_at:
            row.status, row.reason = S.EXPIRED, "expired before it could be sent"
            report.expired += 1
        elif person.opted_out:
            row.status, row.reason = S.CANCELLED, "the respondent opted out (/stop)"
            report.cancelled += 1
        elif person.unreachable:
            row.status, row.reason = S.CANCELLED, "the respondent is unreachable (blocked the bot)"
            report.cancelled += 1
        elif person.chat_id is None:
            row.status, row.reason = S.FAILED, "the respondent has no Telegram chat"
            report.failed += 1
        elif later := quiet_until(now, person.timezone, policy.quiet_start, policy.quiet_end):
            _defer(row, later, QUIET_HOURS)
            report.deferred += 1
        elif later := capped_until(now, recent[row.respondent_id], policy.cap, policy.window):
            _defer(row, later, FREQUENCY_CAP)
            report.deferred += 1
        else:
            row.status = S.SENDING
            row.lease_owner = owner
            row.lease_until = now + rules.lease
            row.sent_at = now
            row.attempts += 1
            recent[row.respondent_id].append(now)
            assert row.id is not None
            report.claimed.append(
                OutgoingMessage(row.id, person.chat_id, row.text, _buttons(row, rules))
            )
    return report


def expire_leases(*, session: Session, now: datetime) -> int:
    """Turn rows whose sender vanished (lease expired) into uncertain: never back to pending."""
    result = cast(
        CursorResult[Any],
        session.execute(
            update(FollowupMessage)
            .where(
                col(FollowupMessage.status) == S.SENDING,
                col(FollowupMessage.lease_until) < now,
            )
            .values(
                status=S.UNCERTAIN,
                reason="the dispatcher stopped while sending (lease expired): may be delivered",
                updated_at=now,
            )
        ),
    )
    return int(result.rowcount or 0)
