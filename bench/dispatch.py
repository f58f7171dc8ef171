"""Benchmark the follow-up dispatcher against the Bot API sandbox.

1. Queue N follow-ups (through ``enqueue_for_assignments``) and dispatch them with the sandbox
   enforcing Telegram's 30 messages/s: print the achieved rate as a share of the limit (target
   >= 95%) and the 429s the sandbox issued (target 0).
2. Lift the limit (paid broadcasts allow up to 1,000/s) and dispatch N more: print msg/s beside
   a bare loop of python-telegram-bot ``send_message`` calls on the same sandbox (one at a time,
   and with the dispatcher's concurrency).

    .venv/bin/python bench/dispatch.py               # 10,000 items: phase 1 takes ~6 minutes
    .venv/bin/python bench/dispatch.py --items 1500  # quicker
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("PTB_TIMEDELTA", "1")

from sqlalchemy import update
from telegram import Bot
from telegram.request import HTTPXRequest

from backend.followups import (
    Assignment,
    DispatchConfig,
    Dispatcher,
    SegmentView,
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
    for _ in range(100):
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
        import_pack(load_content(PACK), session=session)
        people = [Respondent(first_name=f"U{c}", chat_id=c) for c in chats]
        session.add_all(people)
        session.flush()
        ids = [p.id for p in people if p.id is not None]
    segment = SegmentView(id="1", name="Bench segment")
    started = time.perf_counter()
    with session_scope(engine) as session:
        enqueue_for_assignments(session, [Assignment(i, "bench", segment, scores={}) for i in ids])
    engine.dispose()
    return time.perf_counter() - started


async def dispatch(engine_url: str, base_url: str, rate: float | None, in_flight: int) -> tuple:
    engine = make_engine(engine_url)
    sender = TelegramSender.build(DEFAULT_TOKEN, base_url, pool_size=in_flight)
    async with sender.bot:
        dispatcher = Dispatcher(engine, sender, DispatchConfig(rate=rate, max_in_flight=in_flight))
        report = await dispatcher.run_once()
    engine.dispose()
    return report


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
    parser.add_argument("--items", type=int, default=10_000, help="follow-ups per phase")
    parser.add_argument("--in-flight", type=int, default=32)
    args = parser.parse_args()
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
        asyncio.run(run(args.items, args.in_flight, f"http://127.0.0.1:{port}"))
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)


async def run(items: int, in_flight: int, root: str) -> None:
    base_url = f"{root}/bot"
    await wait_for(root)
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite:///{Path(scratch) / 'bench.db'}"
        upgrade(url)
        async with SandboxClient(root) as client:
            chats = await create_users(client, items)
            queued_in = queue(url, chats)
            print(
                f"queued {items:,} follow-ups in {queued_in:.1f} s "
                f"({items / queued_in:,.0f}/s, enqueue_for_assignments on SQLite)"
            )

            await client.set_rate_limits(enabled=True, reset=True)
            before = (await client.stats())["rate_limited"]
            report = await dispatch(url, base_url, LIMIT, in_flight)
            got_429 = (await client.stats())["rate_limited"] - before
            rate = report.sent / report.seconds
            print(
                f"limited: {report.sent:,} sent in {report.seconds:.1f} s = {rate:.2f} msg/s "
                f"= {rate / LIMIT:.1%} of the {LIMIT:g} msg/s limit (target >= 95%); "
                f"429s from the sandbox: {got_429}; failed {report.failed}, "
                f"uncertain {report.uncertain}"
            )

            await client.set_rate_limits(enabled=False, reset=True)
            requeue(url)
            report = await dispatch(url, base_url, None, in_flight)
            fast = report.sent / report.seconds
            bare_seq = await bare_loop(base_url, chats[: min(len(chats), 2000)], 1)
            bare_par = await bare_loop(base_url, chats, in_flight)
            print(
                f"unlimited: dispatcher {fast:,.0f} msg/s ({report.sent:,} sent, "
                f"{in_flight} in flight, claims and outcomes committed to SQLite)"
            )
            print(
                f"  baseline, bare send_message loop on the same sandbox: "
                f"{bare_seq:,.0f} msg/s one at a time, {bare_par:,.0f} msg/s "
                f"with {in_flight} concurrent"
            )


if __name__ == "__main__":
    main()
