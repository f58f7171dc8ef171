"""The outbox: content packs in the database, queueing after assignments, claiming due rows
with a lease, recording what each send came to, clicks and counts.

Every function takes the session keyword-only and leaves committing to the caller's
``session_scope``.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, func, update
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from backend.followups.content import ContentPack, pack_from_json
from backend.followups.delivery import (
    Blocked,
    Delivered,
    NotSent,
    Outcome,
    OutgoingButton,
    OutgoingMessage,
    RateLimited,
    Rejected,
    Uncertain,
)
from backend.followups.policy import (
    FREQUENCY_CAP,
    QUIET_HOURS,
    capped_until,
    parse_quiet_hours,
    quiet_until,
)
from backend.followups.targeting import SegmentView, TraitView, choose_variant, select_items
from backend.followups.templates import render, render_context
from backend.questionnaire import QuestionnaireDefinition
from backend.storage.followup_tables import (
    ContentPack as ContentPackRow,
)
from backend.storage.followup_tables import (
    ContentPackPublic,
    FollowupClick,
    FollowupMessage,
    FollowupStatus,
)
from backend.storage.models import (
    Questionnaire,
    QuestionnaireVersion,
    Respondent,
    SessionScore,
)
from backend.storage.segment_tables import Segment, SegmentAssignment
from backend.storage.types import utcnow

S = FollowupStatus
CALLBACK_PREFIX = "fu:"
SEGMENT_CHANGED = "segment changed"
#: Rows that count against the frequency cap: sent, or possibly sent.
_CAPPED = (S.SENT, S.UNCERTAIN, S.SENDING)


# --- content packs -------------------------------------------------------------------------


@dataclass(frozen=True)
class PackImport:
    record: ContentPackRow
    outcome: str  # "created", "new_version" or "unchanged"


def import_pack(
    pack: ContentPack,
    *,
    session: Session,
    source_name: str | None = None,
    source_text: str | None = None,
) -> PackImport:
    """Store a validated pack as the current version of its key (unchanged content: no-op)."""
    digest = pack.content_hash()
    record = session.exec(select(ContentPackRow).where(ContentPackRow.key == pack.key)).first()
    if record is not None and record.content_hash == digest:
        return PackImport(record, "unchanged")
    outcome = "created" if record is None else "new_version"
    if record is None:
        record = ContentPackRow(
            key=pack.key,
            questionnaire_key=pack.definition.questionnaire,
            title=pack.definition.title,
            content_hash=digest,
            definition={},
        )
    else:
        record.version += 1
    record.questionnaire_key = pack.definition.questionnaire
    record.title = pack.definition.title
    record.content_hash = digest
    record.definition = pack.definition.model_dump(mode="json")
    record.source_name = source_name
    record.source_text = source_text
    record.imported_at = utcnow()
    session.add(record)
    session.flush()
    return PackImport(record, outcome)


def list_packs(*, session: Session) -> list[ContentPackPublic]:
    """Return every stored pack with its item count."""
    rows = session.exec(select(ContentPackRow).order_by(col(ContentPackRow.key))).all()
    return [
        ContentPackPublic(
            id=row.id or 0,
            key=row.key,
            questionnaire_key=row.questionnaire_key,
            title=row.title,
            version=row.version,
            content_hash=row.content_hash,
            items=len(row.definition.get("items", [])),
            imported_at=row.imported_at,
        )
        for row in rows
    ]


_PACKS: dict[tuple[str, str], ContentPack] = {}


def packs_for(questionnaire_key: str, *, session: Session) -> list[ContentPack]:
    """Return the packs that target a questionnaire's segments."""
    rows = session.exec(
        select(ContentPackRow).where(ContentPackRow.questionnaire_key == questionnaire_key)
    ).all()
    packs = []
    for row in rows:
        cache_key = (row.key, row.content_hash)
        if cache_key not in _PACKS:
            _PACKS[cache_key] = pack_from_json(row.definition)
        packs.append(_PACKS[cache_key])
    return packs


def questionnaire_definition(key: str, *, session: Session) -> QuestionnaireDefinition | None:
    """Return the current definition of questionnaire ``key``, or None when not imported."""
    from backend.services.questionnaires import definition_of

    questionnaire = session.exec(select(Questionnaire).where(Questionnaire.key == key)).first()
    if questionnaire is None or questionnaire.current_version_id is None:
        return None
    version = session.get(QuestionnaireVersion, questionnaire.current_version_id)
    return definition_of(version) if version is not None else None


# --- targeting input from the segment tables ----------------------------------------------


@dataclass(frozen=True)
class Assignment:
    """A respondent entering a segment: what queueing needs, however segments are stored."""

    respondent_id: int
    questionnaire_key: str
    segment: SegmentView
    #: When the respondent entered the segment: the sequence's delays count from here.
    assigned_at: datetime | None = None
    #: The respondent's own 0-100 scores; None reads their latest completed session.
    scores: Mapping[str, float | None] | None = None
    #: How sure the segmentation is of this segment (its probability); None when unknown.
    confidence: float | None = 1.0


def segment_view(segment: Segment, definition: QuestionnaireDefinition | None) -> SegmentView:
    """Describe a stored segment for targeting: 0-100 means and bands from the definition."""
    scores: dict[str, float] = {}
    bands: dict[str, str] = {}
    if definition is not None:
        from backend.scoring import ScoringKey

        key = ScoringKey.from_definition(definition)
        for dim, (low, high) in zip(key.dimensions, key.ranges, strict=True):
            value = segment.centroid.get(dim)
            if value is None or high <= low:
                continue
            score = max(0.0, min(100.0, (float(value) - low) / (high - low) * 100.0))
            scores[dim] = score
            for band in definition.dimension(dim).bands:
                if score <= band.up_to:
                    bands[dim] = band.label
                    break
    traits = tuple(
        TraitView(
            dimension=str(t.get("dimension", "")),
            direction=str(t.get("direction", "high")),
            adjective=str(t.get("adjective", "")),
            label=str(t.get("label", "")),
            z=float(t.get("z", 0.0)),
        )
        for t in segment.traits
    )
    return SegmentView(
        id=str(segment.id),
        name=segment.name,
        description=segment.description,
        z_scores={k: float(v) for k, v in segment.z_scores.items()},
        scores=scores,
        bands=bands,
        traits=traits,
    )


def _from_tables(session: Session, rows: Sequence[SegmentAssignment]) -> list[Assignment]:
    segment_ids = {row.segment_id for row in rows}
    segments = {
        s.id: s for s in session.exec(select(Segment).where(col(Segment.id).in_(segment_ids)))
    }
    keys: dict[int, str] = {}
    views: dict[int, SegmentView] = {}
    out = []
    for row in rows:
        segment = segments.get(row.segment_id)
        if segment is None:
            continue
        if row.segment_id not in views:
            questionnaire = session.get(Questionnaire, segment.questionnaire_id)
            if questionnaire is None:
                continue
            keys[row.segment_id] = questionnaire.key
            definition = questionnaire_definition(questionnaire.key, session=session)
            views[row.segment_id] = segment_view(segment, definition)
        out.append(
            Assignment(
                respondent_id=row.respondent_id,
                questionnaire_key=keys[row.segment_id],
                segment=views[row.segment_id],
                assigned_at=row.assigned_at,
                confidence=row.confidence,
            )
        )
    return out


# --- queueing ------------------------------------------------------------------------------


@dataclass
class EnqueueReport:
    queued: int = 0
    moved: int = 0
    cancelled: int = 0
    already: int = 0
    expired: int = 0
    failed: int = 0


def _latest_scores(
    session: Session, respondent_id: int, questionnaire_key: str
) -> dict[str, float | None]:
    row = session.exec(
        select(SessionScore.scores_100)
        .join(Questionnaire, col(Questionnaire.id) == SessionScore.questionnaire_id)
        .where(SessionScore.respondent_id == respondent_id, Questionnaire.key == questionnaire_key)
        .order_by(col(SessionScore.completed_at).desc())
        .limit(1)
    ).first()
    return dict(row) if row else {}


def _insert_ignoring_duplicates(session: Session, row: FollowupMessage) -> bool:
    values = row.model_dump(exclude={"id"})
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(FollowupMessage).values(**values).on_conflict_do_nothing()
    result = cast(CursorResult[Any], session.execute(stmt))
    return bool(result.rowcount)


def enqueue_for_assignments(
    session: Session,
    assignments: Iterable[Assignment | SegmentAssignment],
    *,
    now: datetime | None = None,
) -> EnqueueReport:
    """Queue the content due to each respondent after an assignment (call in its transaction).

    Accepts :class:`Assignment` values or ``SegmentAssignment`` rows as the segmentation
    stores them. Each (respondent, item) is queued at most once. When a respondent's segment
    changed, their unsent items of the old segment are cancelled (or carried over when the new
    segment's sequence has them too) and the new segment's sequence starts from
    ``assigned_at``. Items whose time is past their expiry are skipped.
    """
    now = now or utcnow()
    given = list(assignments)
    table_rows = [a for a in given if isinstance(a, SegmentAssignment)]
    plain = [a for a in given if isinstance(a, Assignment)]
    plain.extend(_from_tables(session, table_rows))
    report = EnqueueReport()
    packs_by_key: dict[str, list[ContentPack]] = {}
    for assignment in plain:
        key = assignment.questionnaire_key
        if key not in packs_by_key:
            packs_by_key[key] = packs_for(key, session=session)
        if not packs_by_key[key]:
            continue
        respondent = session.get(Respondent, assignment.respondent_id)
        if respondent is None:
            continue
        scores = assignment.scores
        if scores is None:
            scores = _latest_scores(session, assignment.respondent_id, key)
        for pack in packs_by_key[key]:
            _enqueue_one(session, pack, respondent, assignment, scores, now, report)
    return report


def _enqueue_one(
    session: Session,
    pack: ContentPack,
    respondent: Respondent,
    assignment: Assignment,
    scores: Mapping[str, float | None],
    now: datetime,
    report: EnqueueReport,
) -> None:
    assert respondent.id is not None
    segment = assignment.segment
    existing = {
        row.item_id: row
        for row in session.exec(
            select(FollowupMessage).where(
                FollowupMessage.respondent_id == respondent.id,
                FollowupMessage.pack_key == pack.key,
            )
        )
    }
    context = render_context(
        first_name=respondent.first_name or pack.definition.fallback_first_name,
        segment=segment,
        scores=scores,
    )
    anchor = assignment.assigned_at or now
    planned = select_items(pack.definition, pack.rules, segment, confidence=assignment.confidence)
    planned_ids = {p.item.id for p in planned}
    for old in existing.values():
        if old.segment_key != segment.id and old.status == S.PENDING:
            if old.item_id in planned_ids:
                continue  # carried over below, with the new segment's wording and timing
            old.status = S.CANCELLED
            old.reason = f"{SEGMENT_CHANGED} to {segment.name!r} before it was sent"
            old.updated_at = now
            session.add(old)
            report.cancelled += 1
    for step, plan in enumerate(planned):
        due = anchor + plan.send_after
        expires = due + plan.expires_after
        row = existing.get(plan.item.id)
        movable = row is not None and (
            (row.status == S.PENDING and row.segment_key != segment.id)
            or (row.status == S.CANCELLED and (row.reason or "").startswith(SEGMENT_CHANGED))
        )
        if row is not None and not movable:
            report.already += 1
            continue
        if expires <= now:
            report.expired += 1
            continue
        variant = choose_variant(plan.item, respondent.id)
        template = variant.text if variant else plan.item.text or ""
        buttons = variant.buttons if variant and variant.buttons is not None else plan.item.buttons
        status, reason = S.PENDING, None
        try:
            text = render(template, context)
        except Exception as exc:  # a profile the test profiles missed: fail the row, not the run
            text, status, reason = "", S.FAILED, f"template error: {exc}"
        fields: dict[str, Any] = {
            "variant": variant.id if variant else None,
            "segment_key": segment.id,
            "segment_name": segment.name[:256],
            "step": step,
            "status": status,
            "due_at": due,
            "not_before": due,
            "expires_at": expires,
            "text": text,
            "buttons": [b.model_dump() for b in buttons],
            "reason": reason,
            "updated_at": now,
        }
        if row is not None:
            for name, value in fields.items():
                setattr(row, name, value)
            row.attempts = 0
            session.add(row)
            report.moved += 1
            continue
        new = FollowupMessage(
            respondent_id=respondent.id,
            pack_key=pack.key,
            item_id=plan.item.id,
            token=secrets.token_urlsafe(16),
            created_at=now,
            **fields,
        )
        if _insert_ignoring_duplicates(session, new):
            report.failed += status == S.FAILED
            report.queued += status == S.PENDING
        else:
            report.already += 1


# --- dispatching: claims, outcomes, leases -------------------------------------------------


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
        cache_key = (row.key, row.content_hash)
        if cache_key not in _PACKS:
            _PACKS[cache_key] = pack_from_json(row.definition)
        definition = _PACKS[cache_key].definition
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
    ids: Sequence[int], *, session: Session, owner: str, now: datetime, rules: SendRules
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


@dataclass
class OutcomeReport:
    sent: int = 0
    failed: int = 0
    uncertain: int = 0
    retried: int = 0
    rate_limited: int = 0
    blocked: int = 0
    #: Rows put back to pending, and when they fall due again.
    retry_at: dict[int, datetime] = field(default_factory=dict)


def _backoff(attempts: int, rules: SendRules) -> timedelta:
    return timedelta(seconds=min(rules.backoff_max, rules.backoff_initial * 2 ** (attempts - 1)))


def record_outcomes(
    results: Sequence[tuple[int, Outcome]],
    *,
    session: Session,
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


# --- operators: uncertain rows, clicks, counts --------------------------------------------


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


@dataclass(frozen=True)
class Click:
    message_id: int
    url: str


def record_click(session: Session, token: str) -> Click | None:
    """Record a press of a follow-up button; return where it leads, or None if unknown.

    ``token`` is what follows ``fu:`` in the callback data, or the last part of the tracked
    link: ``<row token>.<button index>``.
    """
    token = token.removeprefix(CALLBACK_PREFIX)
    head, _, index_text = token.rpartition(".")
    # Anything else is forged: non-ASCII digits, NUL (refused by PostgreSQL), over-long.
    if not (head.isascii() and head.isprintable() and 0 < len(head) <= 32):
        return None
    if not (index_text.isascii() and index_text.isdigit() and len(index_text) <= 3):
        return None
    row = session.exec(select(FollowupMessage).where(FollowupMessage.token == head)).first()
    index = int(index_text)
    if row is None or row.id is None or index >= len(row.buttons):
        return None
    session.add(FollowupClick(message_id=row.id, button=index))
    return Click(row.id, str(row.buttons[index]["url"]))


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
