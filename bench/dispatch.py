"""Benchmark the follow-up dispatcher against the strict Bot API sandbox.

The sandbox enforces Telegram's published limits to the letter (no more than 30 messages in
any one-second window, one a second per chat, a flood wait after a violation). Each phase
queues N follow-ups (through ``enqueue_for_assignments``) for N new respondents and prints,
beside the 30 msg/s limit, the rate sustained while sending (target >= 95%), the 429s the
sandbox issued (target 0), duplicates (chats with two copies, target 0) and lost rows (not
sent and not uncertain at the end, target 0):

1. steady: one pass sends them all;
2. pauses and restarts: passes stopped every few seconds, a pause, a new dispatcher;
3. SIGKILL: ``psychograph followups dispatch`` killed mid-run, then a new one after its
   leases expire (rows in flight at the kill end uncertain: may have been delivered).

``--unlimited`` adds the earlier phase: the limit lifted, dispatcher msg/s beside a bare loop
of python-telegram-bot ``send_message`` calls on the same sandbox.

    .venv/bin/python bench/dispatch.py               # 2,250 items a phase: ~4 minutes
    .venv/bin/python bench/dispatch.py --quick       # 450 items a phase
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("PTB_TIMEDELTA", "1")

from sqlalchemy import update
from sqlmodel import col, select
from telegram import Bot
from telegram.request import HTTPXRequest

from backend.followups import (
    Assignment,
    DispatchConfig,
    Dispatcher,
    DispatchReport,
    SegmentView,
    SendRules,
    enqueue_for_assignments,
    import_pack,
    load_content,
)
from backend.storage.engine import make_engine, session_scope
from backend.storage.followup_tables import FollowupMessage, FollowupStatus
from backend.storage.migrate import upgrade
from backend.storage.models import Respondent
from backend.storage.types import utcnow
from bot.delivery import TelegramSender
from bot.sandbox import DEFAULT_TOKEN, SandboxClient

PACK = """\
id: bench
questionnaire: bench
title: Bench
items:
  - id: hello
    target: {default: true}
    text: "Hello {{ first_name }}, welcome to {{ segment_name }}."
    buttons: [{text: More, url: "https://example.com/more"}]
"""
LIMIT = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_for(url: str) -> None:
    for _ in range(600):  # start-up takes seconds on a busy host
        try:
            async with SandboxClient(url) as client:
                await client.stats()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError("the sandbox did not start")


async def create_users(client: SandboxClient, n: int) -> list[int]:
    ids: list[int] = []
    for start in range(0, n, 200):
        batch = await asyncio.gather(
            *(client.create_user(first_name=f"U{i}") for i in range(start, min(n, start + 200)))
        )
        ids.extend(u.id for u in batch)
    return ids


def queue(engine_url: str, chats: list[int]) -> float:
    engine = make_engine(engine_url)
    with session_scope(engine) as session:
        import_pack(session=session, pack=load_content(PACK))  # unchanged after the first time
        people = [Respondent(first_name=f"U{c}", chat_id=c) for c in chats]
        session.add_all(people)
        session.flush()
        ids = [p.id for p in people if p.id is not None]
    segment = SegmentView(id="1", name="Bench segment")
    started = time.perf_counter()
    with session_scope(engine) as session:
        enqueue_for_assignments(
            session=session, assignments=[Assignment(i, "bench", segment, scores={}) for i in ids]
        )
    engine.dispose()
    return time.perf_counter() - started


async def dispatch(
    engine_url: str,
    base_url: str,
    rate: float | None,
    in_flight: int,
    *,
    max_seconds: float | None = None,
    lease: float = 60.0,
) -> DispatchReport:
    engine = make_engine(engine_url)
    sender = TelegramSender.build(DEFAULT_TOKEN, base_url, pool_size=in_flight)
    rules = SendRules(lease=timedelta(seconds=lease))
    config = DispatchConfig(rate=rate, max_in_flight=in_flight, rules=rules)
    async with sender.bot:
        report = await Dispatcher(engine, sender, config).run_once(max_seconds=max_seconds)
    engine.dispose()
    return report


def outcome(engine_url: str, ids: set[int]) -> Counter[str]:
    engine = make_engine(engine_url)
    with session_scope(engine) as session:
        rows = session.exec(
            select(FollowupMessage.status).where(col(FollowupMessage.respondent_id).in_(ids))
        ).all()
    engine.dispose()
    return Counter(str(status) for status in rows)


def respondent_ids(engine_url: str, chats: list[int]) -> set[int]:
    engine = make_engine(engine_url)
    with session_scope(engine) as session:
        found = session.exec(select(Respondent.id).where(col(Respondent.chat_id).in_(chats)))
        ids = {i for i in found if i is not None}
    engine.dispose()
    return ids


async def copies(client: SandboxClient, chats: list[int]) -> Counter[int]:
    """Return how many chats got 0, 1, 2... follow-ups."""
    counts = await asyncio.gather(*(client.chat(c) for c in chats))
    return Counter(len(view.bot_messages) for view in counts)


def requeue(engine_url: str) -> None:
    engine = make_engine(engine_url)
    with session_scope(engine) as session:
        session.execute(
            update(FollowupMessage).values(
                status=FollowupStatus.PENDING, sent_at=None, not_before=utcnow(), attempts=0
            )
        )
    engine.dispose()


async def bare_loop(base_url: str, chats: list[int], concurrency: int) -> float:
    request = HTTPXRequest(connection_pool_size=max(1, concurrency))
    async with Bot(DEFAULT_TOKEN, base_url=base_url, request=request) as bot:
        started = time.perf_counter()
        if concurrency <= 1:
            for chat in chats:
                await bot.send_message(chat, "bare loop")
        else:
            gate = asyncio.Semaphore(concurrency)

            async def one(chat: int) -> None:
                async with gate:
                    await bot.send_message(chat, "bare loop")

            await asyncio.gather(*(one(c) for c in chats))
        return len(chats) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2250, help="follow-ups per phase")
    parser.add_argument("--quick", action="store_true", help="450 follow-ups per phase")
    parser.add_argument("--in-flight", type=int, default=16)
    parser.add_argument("--unlimited", action="store_true", help="also the unlimited phase")
    args = parser.parse_args()
    items = 450 if args.quick else args.items
    port = free_port()
    sandbox = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from backend.cli import main; main()",
            "sandbox",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        asyncio.run(run(items, args.in_flight, f"http://127.0.0.1:{port}", args.unlimited))
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)


def line(  # the rate: requests after the first per second from the first to the last
    name: str,
    sent: int,
    seconds: float,
    got_429: int,
    copies_seen: Counter[int],
    states: Counter[str],
    items: int,
) -> None:
    rate = sent / seconds if seconds else 0.0
    duplicates = sum(n for k, n in copies_seen.items() if k > 1)
    delivered_or_maybe = states["sent"] + states["uncertain"]
    lost = items - delivered_or_maybe
    print(
        f"  {name:22s} {rate:5.2f} msg/s = {rate / LIMIT:6.1%} of the {LIMIT:g} msg/s limit; "
        f"429s {got_429}; duplicates {duplicates}; lost {lost}; "
        f"uncertain {states['uncertain']} (sent {states['sent']} of {items})"
    )  # fmt: skip


async def run(items: int, in_flight: int, root: str, unlimited: bool) -> None:
    base_url = f"{root}/bot"
    await wait_for(root)
    limits = {"strict": True}
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite:///{Path(scratch) / 'bench.db'}"
        upgrade(url)
        async with SandboxClient(root) as client:
            limits = await client.get_limits()
            print(
                f"{items:,} follow-ups a phase, {in_flight} in flight, sandbox limits "
                f"{'strict' if limits['strict'] else 'LENIENT'}; targets: >= 95% of the limit, "
                "0 429s, 0 duplicates, 0 lost"
            )

            async def phase(name: str) -> tuple[list[int], set[int], int]:
                chats = await create_users(client, items)
                queue(url, chats)
                await asyncio.sleep(1.1)  # a quiet second: the windows start empty
                return chats, respondent_ids(url, chats), (await client.stats())["rate_limited"]

            # 1. steady
            chats, ids, before = await phase("steady")
            report = await dispatch(url, base_url, LIMIT, in_flight)
            got = (await client.stats())["rate_limited"] - before
            line("steady", report.requests - 1, report.sending_seconds, got,
                 await copies(client, chats), outcome(url, ids), items)  # fmt: skip

            # 2. pauses and restarts: a new dispatcher every few seconds, after a pause
            chats, ids, before = await phase("pauses")
            sent, active = 0, 0.0
            for _ in range(1000):
                report = await dispatch(url, base_url, LIMIT, in_flight, max_seconds=4.0)
                sent, active = sent + max(0, report.requests - 1), active + report.sending_seconds
                if outcome(url, ids)["pending"] == 0:
                    break
                await asyncio.sleep(1.5)
            got = (await client.stats())["rate_limited"] - before
            line("pauses and restarts", sent, active, got, await copies(client, chats),
                 outcome(url, ids), items)  # fmt: skip

            # 3. SIGKILL mid-run, then a new dispatcher once the dead one's leases expire
            chats, ids, before = await phase("sigkill")
            sent_before = (await client.stats())["messages_sent"]
            lease = 3.0
            env = {**os.environ, "PSYCHOGRAPH_TELEGRAM_BASE_URL": base_url,
                   "PSYCHOGRAPH_DATABASE_URL": url, "PTB_TIMEDELTA": "1"}  # fmt: skip
            env.pop("PSYCHOGRAPH_BOT_TOKEN", None)
            child = await asyncio.create_subprocess_exec(
                sys.executable, "-c", "from backend.cli import main; main()", "followups",
                "dispatch", "--once", "--max-in-flight", str(in_flight), "--lease", str(lease),
                env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
            started = time.perf_counter()
            while (await client.stats())["messages_sent"] - sent_before < items // 3:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            killed_after = time.perf_counter() - started
            child.kill()
            await child.wait()
            by_child = (await client.stats())["messages_sent"] - sent_before
            await asyncio.sleep(lease + 0.5)
            report = await dispatch(url, base_url, LIMIT, in_flight, lease=lease)
            got = (await client.stats())["rate_limited"] - before
            # The child's start-up (imports, migrations check) is not sending time: its rate
            # is not counted; the restarted dispatcher's is.
            line("SIGKILL, restart", report.requests - 1, report.sending_seconds, got,
                 await copies(client, chats), outcome(url, ids), items)  # fmt: skip
            print(
                f"    (killed after {by_child} messages, {killed_after:.1f} s after start; "
                f"{report.recovered_uncertain} rows in flight at the kill left uncertain)"
            )

            if unlimited:
                await client.set_rate_limits(enabled=False, reset=True)
                chats, ids, _ = await phase("unlimited")
                report = await dispatch(url, base_url, None, 32)
                fast = report.sent / report.seconds
                bare_seq = await bare_loop(base_url, chats[: min(len(chats), 2000)], 1)
                bare_par = await bare_loop(base_url, chats, 32)
                print(
                    f"  unlimited: dispatcher {fast:,.0f} msg/s ({report.sent:,} sent, 32 in "
                    f"flight); bare send_message loop {bare_seq:,.0f} msg/s one at a time, "
                    f"{bare_par:,.0f} msg/s 32 concurrent"
                )


if __name__ == "__main__":
    main()
