"""The outbox: queueing after assignments, segment changes, leases, clicks and counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import col, delete, select

from backend.followups import SendRules, followup_stats, record_click
from backend.followups.outbox import claim, expire_leases, release_uncertain
from backend.questionnaire import load_definition_file
from backend.services.questionnaires import import_definition
from backend.services.segments import enqueue_assignments
from backend.storage.engine import session_scope
from backend.storage.followup_tables import FollowupMessage, FollowupStatus
from backend.storage.models import Respondent
from backend.storage.segment_tables import Segment, SegmentAssignment
from tests.helpers.followups import (
    CONTENT_DIR,
    CURIOUS,
    PLAIN,
    SOCIAL,
    add_pack,
    add_respondents,
    assign,
)

NOW = datetime(2026, 1, 15, 12, tzinfo=UTC)


def rows(engine: Engine, respondent_id: int | None = None) -> list[FollowupMessage]:
    with session_scope(engine) as session:
        stmt = select(FollowupMessage).order_by(col(FollowupMessage.id))
        if respondent_id is not None:
            stmt = stmt.where(FollowupMessage.respondent_id == respondent_id)
        return list(session.exec(stmt))


def test_assignment_queues_the_sequence_once(engine: Engine) -> None:
    add_pack(engine)
    (rid,) = add_respondents(engine, [101])
    assign(engine, [rid], CURIOUS, now=NOW)
    assign(engine, [rid], CURIOUS, now=NOW + timedelta(hours=1))  # a re-run: nothing new
    queued = rows(engine, rid)
    assert [(r.item_id, r.status, r.due_at - NOW) for r in queued] == [
        ("curious_now", FollowupStatus.PENDING, timedelta(0)),
        ("curious_later", FollowupStatus.PENDING, timedelta(days=2)),
    ]
    assert queued[0].text == "Hi R101 from Curious"
    assert queued[1].expires_at - queued[1].due_at == timedelta(days=3)


def test_segment_change_cancels_unsent_items_and_starts_the_new_sequence(engine: Engine) -> None:
    add_pack(engine)
    (rid,) = add_respondents(engine, [102])
    assign(engine, [rid], CURIOUS, now=NOW)
    with session_scope(engine) as session:  # the first item went out
        first = session.exec(
            select(FollowupMessage).where(FollowupMessage.item_id == "curious_now")
        ).one()
        first.status = FollowupStatus.SENT
        session.add(first)
    later = NOW + timedelta(days=1)
    assign(engine, [rid], SOCIAL, now=later, assigned_at=later)
    by_item = {r.item_id: r for r in rows(engine, rid)}
    assert by_item["curious_now"].status == FollowupStatus.SENT
    assert by_item["curious_later"].status == FollowupStatus.CANCELLED
    assert "segment changed" in (by_item["curious_later"].reason or "")
    assert by_item["social_now"].status == FollowupStatus.PENDING
    assert by_item["social_now"].due_at == later
    # Moving back revives the cancelled item, but never re-queues the sent one.
    assign(engine, [rid], CURIOUS, now=later, assigned_at=later)
    by_item = {r.item_id: r for r in rows(engine, rid)}
    assert by_item["curious_later"].status == FollowupStatus.PENDING
    assert by_item["curious_now"].status == FollowupStatus.SENT
    assert by_item["social_now"].status == FollowupStatus.CANCELLED
    assert len(by_item) == 3


def test_segment_assignment_rows_from_the_segmentation_are_accepted(engine: Engine) -> None:
    with session_scope(engine) as session:
        definition = load_definition_file(CONTENT_DIR.parent / "big-five-ipip.yaml")
        questionnaire = import_definition(definition, session=session).questionnaire
        assert questionnaire.id is not None
        segment = Segment(
            questionnaire_id=questionnaire.id,
            name="Curious · Outgoing",
            centroid={"openness": 4.2, "extraversion": 3.9},
            z_scores={"openness": 1.1, "extraversion": 0.8},
            traits=[
                {"dimension": "openness", "direction": "high", "adjective": "Curious", "z": 1.1}
            ],
        )
        session.add(segment)
        session.flush()
    add_pack(engine, (CONTENT_DIR / "big-five-ipip.yaml").read_text())
    (rid,) = add_respondents(engine, [103])
    assert segment.id is not None
    with session_scope(engine) as session:
        row = SegmentAssignment(
            questionnaire_id=questionnaire.id, respondent_id=rid, segment_id=segment.id
        )
        session.add(row)
        session.flush()
        report = enqueue_assignments(session=session, rows=[row], now=NOW)
    assert report.queued >= 1
    queued = rows(engine, rid)
    assert queued[0].item_id == "curious_welcome"
    assert queued[0].segment_key == str(segment.id)
    assert "Curious · Outgoing" in queued[0].text


def test_expired_leases_become_uncertain_and_an_operator_releases_them(engine: Engine) -> None:
    add_pack(engine)
    (rid,) = add_respondents(engine, [104])
    assign(engine, [rid], PLAIN, now=NOW)
    (row,) = rows(engine, rid)
    assert row.id is not None
    rules = SendRules(lease=timedelta(seconds=30))
    with session_scope(engine) as session:
        assert (
            len(claim(session=session, ids=[row.id], owner="a", now=NOW, rules=rules).claimed) == 1
        )
    with session_scope(engine) as session:
        assert expire_leases(session=session, now=NOW + timedelta(seconds=10)) == 0
        assert expire_leases(session=session, now=NOW + timedelta(seconds=31)) == 1
    assert rows(engine, rid)[0].status == FollowupStatus.UNCERTAIN
    with session_scope(engine) as session:
        assert release_uncertain(session=session, ids=[row.id], now=NOW) == 1
    assert rows(engine, rid)[0].status == FollowupStatus.PENDING


def test_clicks_and_counts_per_item_variant_and_segment(engine: Engine) -> None:
    add_pack(engine)
    ids = add_respondents(engine, [105, 106, 107])
    assign(engine, ids, CURIOUS, now=NOW)
    with session_scope(engine) as session:
        for row in session.exec(
            select(FollowupMessage).where(FollowupMessage.item_id == "curious_now")
        ):
            row.status = FollowupStatus.SENT
            session.add(row)
    first = next(r for r in rows(engine) if r.item_id == "curious_now")
    with session_scope(engine) as session:
        click = record_click(session=session, token=f"fu:{first.token}.0")
        assert click is not None
        assert click.url == "https://example.com/read"
        record_click(session=session, token=f"{first.token}.0")  # the same person again
        assert record_click(session=session, token="fu:forged.0") is None
        assert record_click(session=session, token=f"fu:{first.token}.5") is None
    with session_scope(engine) as session:
        stats = {s.item_id: s for s in followup_stats(session=session)}
    assert (stats["curious_now"].delivered, stats["curious_now"].clicked) == (3, 1)
    assert (stats["curious_later"].pending, stats["curious_later"].sent) == (3, 0)
    assert stats["curious_now"].segment_name == "Curious"


def test_erasure_removes_the_respondents_rows(engine: Engine) -> None:
    add_pack(engine)
    (rid,) = add_respondents(engine, [108])
    assign(engine, [rid], CURIOUS, now=NOW)
    with session_scope(engine) as session:
        session.exec(delete(Respondent).where(col(Respondent.id) == rid))
    assert rows(engine, rid) == []
