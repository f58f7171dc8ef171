"""The dispatcher against the Bot API sandbox, with Telegram's rate limits on."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import col, delete, select

from backend.followups import DispatchConfig, Dispatcher, SendRules
from backend.scheduler.dispatch import DispatchJob
from backend.storage.engine import session_scope
from backend.storage.followup_tables import FollowupMessage, FollowupStatus
from backend.storage.models import Respondent
from bot.delivery import TelegramSender
from bot.sandbox import DEFAULT_TOKEN, SandboxClient, SandboxConfig
from tests.helpers.followups import (
    CURIOUS,
    PLAIN,
    add_pack,
    add_respondents,
    assign,
    plain_audience,
    sandbox_users,
)

S = FollowupStatus
FAST = SendRules(backoff_initial=0.05, backoff_max=0.2)


def statuses(engine: Engine) -> Counter[str]:
    with session_scope(engine) as session:
        return Counter(str(r.status) for r in session.exec(select(FollowupMessage)))


async def chat_texts(client: SandboxClient, chat_ids: list[int]) -> dict[int, list[str | None]]:
    return {c: [m.text for m in (await client.chat(c)).bot_messages] for c in chat_ids}


def dispatcher(
    engine: Engine, base_url: str, *, read_timeout: float = 5.0, **config: object
) -> Dispatcher:
    sender = TelegramSender.build(DEFAULT_TOKEN, base_url, read_timeout=read_timeout)
    return Dispatcher(engine, sender, DispatchConfig(**{"rules": FAST, **config}))  # type: ignore[arg-type]


@pytest.mark.parametrize("sandbox_config", [SandboxConfig(global_limit=10)])
async def test_every_due_item_is_delivered_once_and_429s_are_waited_out(
    sqlite_engine: Engine, bot_base_url: str, respondent: SandboxClient
) -> None:
    # The dispatcher is told it may send 100/s; the sandbox allows 10/s: it must get 429s.
    chats = await sandbox_users(respondent, 60)
    add_pack(sqlite_engine)
    ids = add_respondents(sqlite_engine, chats)
    assign(sqlite_engine, ids[:30], CURIOUS)  # curious_now due now, curious_later in 2 days
    assign(sqlite_engine, ids[30:], PLAIN)
    d = dispatcher(sqlite_engine, bot_base_url, rate=100.0, max_in_flight=60)
    async with d.sender.bot:  # type: ignore[attr-defined]
        report = await d.run_once(max_seconds=30)
    stats = await respondent.stats()
    assert stats["rate_limited"] > 0
    assert report.rate_limited > 0
    assert report.sent == 60
    assert report.failed == 0
    assert report.uncertain == 0
    assert statuses(sqlite_engine) == {"sent": 60, "pending": 30}  # the 2-day items wait
    texts = await chat_texts(respondent, chats)
    assert all(len(t) == 1 for t in texts.values())
    assert texts[chats[0]] == [f"Hi R{chats[0]} from Curious"]


async def test_within_the_limit_no_429_is_provoked(
    sqlite_engine: Engine, bot_base_url: str, respondent: SandboxClient
) -> None:
    await plain_audience(sqlite_engine, respondent, 45)
    d = dispatcher(sqlite_engine, bot_base_url)  # the defaults: 30/s, 1/s per chat
    async with d.sender.bot:  # type: ignore[attr-defined]
        report = await d.run_once(max_seconds=30)
    assert report.sent == 45
    assert (await respondent.stats())["rate_limited"] == 0


@pytest.mark.parametrize("delivers", [True, False], ids=["late-answer", "lost"])
async def test_timed_out_requests_end_uncertain_and_are_never_resent(
    sqlite_engine: Engine, bot_base_url: str, respondent: SandboxClient, delivers: bool
) -> None:
    chats = await plain_audience(sqlite_engine, respondent, 10)
    await respondent.set_faults(hang_next=3, hang_seconds=1.5, hang_delivers=delivers)
    d = dispatcher(sqlite_engine, bot_base_url, read_timeout=0.3)
    async with d.sender.bot:  # type: ignore[attr-defined]
        report = await d.run_once(max_seconds=20)
        again = await d.run_once(max_seconds=5)
    assert (report.uncertain, report.sent) == (3, 7)
    assert again.requests == 0
    assert statuses(sqlite_engine) == {"sent": 7, "uncertain": 3}
    texts = await chat_texts(respondent, chats)
    assert all(len(t) <= 1 for t in texts.values())
    assert sum(len(t) for t in texts.values()) == (10 if delivers else 7)


async def test_server_errors_are_retried_with_backoff(
    sqlite_engine: Engine, bot_base_url: str, respondent: SandboxClient
) -> None:
    chats = await plain_audience(sqlite_engine, respondent, 4)
    await respondent.set_faults(fail_next=3, fail_status=500, chat_id=chats[0])
    d = dispatcher(sqlite_engine, bot_base_url)
    async with d.sender.bot:  # type: ignore[attr-defined]
        report = await d.run_once(max_seconds=20)
    assert report.retried == 3
    assert report.sent == 4
    assert all(len(t) == 1 for t in (await chat_texts(respondent, chats)).values())


async def test_retries_give_up_after_the_limit(
    sqlite_engine: Engine, bot_base_url: str, respondent: SandboxClient
) -> None:
    (chat,) = await sandbox_users(respondent, 1)
    add_pack(sqlite_engine)
    assign(sqlite_engine, add_respondents(sqlite_engine, [chat]), PLAIN)
    await respondent.set_faults(fail_next=10, fail_status=502)
    rules = SendRules(max_attempts=3, backoff_initial=0.05, backoff_max=0.1)
    d = dispatcher(sqlite_engine, bot_base_url, rules=rules)
    async with d.sender.bot:  # type: ignore[attr-defined]
        report = await d.run_once(max_seconds=20)
    assert report.failed == 1
    with session_scope(sqlite_engine) as session:
        row = session.exec(select(FollowupMessage)).one()
    assert row.status == S.FAILED
    assert "gave up after 3 attempts" in (row.reason or "")


async def test_blocked_opted_out_erased_and_unknown_chat(
    engine: Engine, bot_base_url: str, respondent: SandboxClient
) -> None:
    blocked, opted, erased, fine = await sandbox_users(respondent, 4)
    await respondent.block(blocked)
    add_pack(engine)
    ids = add_respondents(engine, [blocked, opted, erased, fine, 999_999])
    assign(engine, ids, CURIOUS, assigned_at=datetime.now(UTC) - timedelta(days=2))
    with session_scope(engine) as session:
        person = session.get(Respondent, ids[1])
        assert person is not None
        person.opted_out = True
        session.add(person)
        session.exec(delete(Respondent).where(col(Respondent.id) == ids[2]))
    d = dispatcher(engine, bot_base_url)
    async with d.sender.bot:  # type: ignore[attr-defined]
        report = await d.run_once(max_seconds=20)
    assert report.blocked == 1
    with session_scope(engine) as session:
        rows = {(r.respondent_id, r.item_id): r for r in session.exec(select(FollowupMessage))}
        blocked_person = session.get(Respondent, ids[0])
    assert blocked_person is not None
    assert blocked_person.unreachable
    # The blocked respondent's first send failed with 403; their second item was cancelled.
    assert {r.status for (rid, _), r in rows.items() if rid == ids[0]} == {S.FAILED, S.CANCELLED}
    assert {r.status for (rid, _), r in rows.items() if rid == ids[1]} == {S.CANCELLED}
    assert not any(rid == ids[2] for rid, _ in rows)
    assert {r.status for (rid, _), r in rows.items() if rid == ids[3]} == {S.SENT}
    assert {r.status for (rid, _), r in rows.items() if rid == ids[4]} == {S.FAILED}  # 400
    texts = await chat_texts(respondent, [opted, erased, fine])
    assert (len(texts[opted]), len(texts[erased]), len(texts[fine])) == (0, 0, 2)


async def test_frequency_cap_and_quiet_hours_defer_instead_of_dropping(
    sqlite_engine: Engine, bot_base_url: str, respondent: SandboxClient
) -> None:
    night = datetime(2026, 1, 15, 22, 30, tzinfo=UTC)  # 22:30 in London, 17:30 in New York
    london, new_york, unknown, capped = await sandbox_users(respondent, 4)
    add_pack(sqlite_engine)
    ids = add_respondents(sqlite_engine, [london], timezone="Europe/London")
    ids += add_respondents(sqlite_engine, [new_york], timezone="America/New_York")
    ids += add_respondents(sqlite_engine, [unknown, capped])
    assign(sqlite_engine, ids, PLAIN, now=night)
    with session_scope(sqlite_engine) as session:  # three already sent to `capped` this week
        for day in (1, 2, 3):
            session.add(
                FollowupMessage(
                    respondent_id=ids[3], pack_key="earlier", item_id=f"i{day}", segment_key="0",
                    status=S.SENT, expires_at=night, text="x", token=f"t{day}",
                    sent_at=night - timedelta(days=day),
                )
            )  # fmt: skip
    d = dispatcher(sqlite_engine, bot_base_url)
    d.clock = lambda: night
    async with d.sender.bot:  # type: ignore[attr-defined]
        report = await d.run_once(max_seconds=20)
    assert (report.sent, report.deferred) == (2, 2)
    with session_scope(sqlite_engine) as session:
        rows = {
            r.respondent_id: r
            for r in session.exec(
                select(FollowupMessage).where(FollowupMessage.pack_key == "test-pack")
            )
        }
    assert rows[ids[0]].status == S.PENDING
    assert rows[ids[0]].not_before == datetime(2026, 1, 16, 9, tzinfo=UTC)
    assert rows[ids[3]].status == S.PENDING
    assert rows[ids[3]].not_before == night - timedelta(days=3) + timedelta(days=7)
    assert rows[ids[1]].status == rows[ids[2]].status == S.SENT


async def test_segment_change_mid_sequence(
    sqlite_engine: Engine, bot_base_url: str, respondent: SandboxClient
) -> None:
    (chat,) = await sandbox_users(respondent, 1)
    add_pack(sqlite_engine)
    (rid,) = add_respondents(sqlite_engine, [chat])
    start = datetime.now(UTC) - timedelta(days=1)
    assign(sqlite_engine, [rid], CURIOUS, assigned_at=start)
    d = dispatcher(sqlite_engine, bot_base_url)
    async with d.sender.bot:  # type: ignore[attr-defined]
        await d.run_once(max_seconds=10)  # curious_now; curious_later is a day away
        assign(sqlite_engine, [rid], PLAIN)  # re-clustering moves them
        await d.run_once(max_seconds=10)
    texts = (await chat_texts(respondent, [chat]))[chat]
    assert texts == [f"Hi R{chat} from Curious", f"Welcome R{chat}"]
    with session_scope(sqlite_engine) as session:
        later = session.exec(
            select(FollowupMessage).where(FollowupMessage.item_id == "curious_later")
        ).one()
    assert later.status == S.CANCELLED


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(seed=7)


async def test_a_stopped_pass_finishes_its_sends_and_claims_no_more(
    sqlite_engine: Engine, bot_base_url: str, respondent: SandboxClient
) -> None:
    """A shutdown mid-pass: what went to Telegram is recorded sent, the rest stays pending."""
    chats = await plain_audience(sqlite_engine, respondent, 40)
    d = dispatcher(sqlite_engine, bot_base_url, rate=20.0, max_in_flight=10)
    stop = asyncio.Event()
    async with d.sender.bot:  # type: ignore[attr-defined]
        running = asyncio.create_task(d.run_once(max_seconds=30, stop=stop))
        await asyncio.sleep(0.5)
        stop.set()
        report = await asyncio.wait_for(running, 5)
    delivered = sum(len(t) for t in (await chat_texts(respondent, chats)).values())
    assert 0 < report.sent < 40
    assert report.uncertain == 0
    assert delivered == report.sent
    assert statuses(sqlite_engine) == {"sent": report.sent, "pending": 40 - report.sent}


async def test_the_dispatch_job_stops_gracefully_and_starts_no_new_pass(
    sqlite_engine: Engine, bot_base_url: str, respondent: SandboxClient
) -> None:
    await plain_audience(sqlite_engine, respondent, 40)
    sender = TelegramSender.build(DEFAULT_TOKEN, bot_base_url)
    job = DispatchJob(sqlite_engine, sender, DispatchConfig(rules=FAST, rate=20.0), 30)
    async with sender.bot:
        running = asyncio.create_task(job.run())
        await asyncio.sleep(0.5)
        await asyncio.wait_for(job.stop(), 5)
        assert running.done()
        report = running.result()
        assert await job.run() is None  # stopped: no new pass
    assert report is not None
    assert report.uncertain == 0
    assert statuses(sqlite_engine)["sending"] == 0
