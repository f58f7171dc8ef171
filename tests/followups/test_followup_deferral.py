"""Quiet hours and the frequency cap defer follow-ups; a deferral never makes one expire."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from backend.followups import SendRules, followup_stats, load_content
from backend.followups.outbox import claim
from backend.scheduler.dispatch import send_rules
from backend.settings import SettingsError, load_settings
from backend.storage.engine import session_scope
from backend.storage.followup_tables import FollowupMessage, FollowupStatus
from tests.helpers.followups import PACK, PLAIN, add_pack, add_respondents, assign

S = FollowupStatus
NIGHT = datetime(2026, 1, 15, 22, 30, tzinfo=UTC)  # 22:30 in London


def the_row(engine: Engine, respondent_id: int) -> FollowupMessage:
    with session_scope(engine) as session:
        return session.exec(
            select(FollowupMessage).where(
                FollowupMessage.respondent_id == respondent_id,
                FollowupMessage.pack_key == "test-pack",
            )
        ).one()


def sent_before(engine: Engine, respondent_id: int, days: list[int]) -> None:
    with session_scope(engine) as session:
        for day in days:
            session.add(
                FollowupMessage(
                    respondent_id=respondent_id, pack_key="earlier", item_id=f"i{day}",
                    segment_key="0", status=S.SENT, expires_at=NIGHT, text="x",
                    token=f"t{respondent_id}-{day}", sent_at=NIGHT - timedelta(days=day),
                )
            )  # fmt: skip


def claim_at(engine: Engine, row_id: int, now: datetime, rules: SendRules | None = None) -> int:
    with session_scope(engine) as session:
        report = claim(
            session=session, ids=[row_id], owner="t", now=now, rules=rules or SendRules()
        )
        return len(report.claimed)


def test_a_capped_message_is_deferred_past_its_expiry_and_still_sent(engine: Engine) -> None:
    add_pack(engine)  # items expire 3 days after they fall due
    (rid,) = add_respondents(engine, [201])
    assign(engine, [rid], PLAIN, now=NIGHT)
    sent_before(engine, rid, [1, 2, 3])  # the cap (3 a week) is full for four more days
    row = the_row(engine, rid)
    assert claim_at(engine, row.id or 0, NIGHT) == 0
    deferred = the_row(engine, rid)
    assert deferred.status == S.PENDING
    assert deferred.deferred_reason == "frequency_cap"
    assert deferred.not_before == NIGHT + timedelta(days=4)
    # Its three days to expire count from when it could first be sent, not from before.
    assert deferred.expires_at == deferred.not_before + timedelta(days=3)
    with session_scope(engine) as session:
        (stats,) = followup_stats(session=session, pack_key="test-pack")
    assert (stats.pending, stats.deferred_frequency_cap, stats.deferred_quiet_hours) == (1, 1, 0)
    assert claim_at(engine, row.id or 0, deferred.not_before) == 1
    assert the_row(engine, rid).status == S.SENDING


def test_quiet_hours_apply_in_the_respondents_own_zone_only(engine: Engine) -> None:
    add_pack(engine)
    london = add_respondents(engine, [301], timezone="Europe/London")[0]
    unknown = add_respondents(engine, [302])[0]  # never told the bot: nothing is guessed
    assign(engine, [london, unknown], PLAIN, now=NIGHT)
    assert claim_at(engine, the_row(engine, london).id or 0, NIGHT) == 0
    assert claim_at(engine, the_row(engine, unknown).id or 0, NIGHT) == 1
    row = the_row(engine, london)
    assert row.deferred_reason == "quiet_hours"
    assert row.not_before == datetime(2026, 1, 16, 9, tzinfo=UTC)
    assert row.expires_at == row.not_before + timedelta(days=3)


def test_a_content_pack_sets_its_own_quiet_hours_and_cap(engine: Engine) -> None:
    add_pack(
        engine,
        PACK.replace(
            "expires_after: 3d\n",
            "expires_after: 3d\nquiet_hours: 23:00-07:00\nfrequency_cap: {messages: 5, per: 7d}\n",
        ),
    )
    (rid,) = add_respondents(engine, [401], timezone="Europe/London")
    assign(engine, [rid], PLAIN, now=NIGHT)
    sent_before(engine, rid, [1, 2, 3])  # over the service's cap, within the pack's
    assert claim_at(engine, the_row(engine, rid).id or 0, NIGHT) == 1  # 22:30 is not quiet


def test_quiet_hours_and_cap_are_settings() -> None:
    rules = send_rules(
        load_settings(
            followup_quiet_hours="22:00-08:30", followup_frequency_cap=5, followup_cap_days=2
        )
    )
    assert (rules.quiet_start, rules.quiet_end) == (time(22), time(8, 30))
    assert (rules.frequency_cap, rules.cap_window) == (5, timedelta(days=2))
    off = send_rules(load_settings(followup_quiet_hours="off"))
    assert off.quiet_start == off.quiet_end
    with pytest.raises(SettingsError, match="PSYCHOGRAPH_FOLLOWUP_QUIET_HOURS: expected quiet"):
        load_settings(followup_quiet_hours="late")


def test_a_pack_with_malformed_quiet_hours_is_refused_saying_where() -> None:
    with pytest.raises(Exception, match="quiet_hours") as caught:
        load_content(
            PACK.replace("expires_after: 3d\n", "expires_after: 3d\nquiet_hours: 25:00-07:00\n")
        )
    assert "hours 0-23" in str(caught.value)
