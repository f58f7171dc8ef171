"""A dispatcher killed with SIGKILL mid-run, then restarted: no duplicates, nothing lost."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from backend.followups import DispatchConfig, Dispatcher
from backend.storage.engine import session_scope
from backend.storage.followup_tables import FollowupMessage
from bot.delivery import TelegramSender
from bot.sandbox import DEFAULT_TOKEN, SandboxClient
from tests.helpers.followups import (
    plain_audience,
)

MAX_IN_FLIGHT = 8
LEASE = 2.0


def statuses(engine: Engine) -> Counter[str]:
    with session_scope(engine) as session:
        return Counter(str(r.status) for r in session.exec(select(FollowupMessage)))


async def test_sigkill_mid_run_then_restart(
    sqlite_engine: Engine, bot_base_url: str, respondent: SandboxClient
) -> None:
    chats = await plain_audience(sqlite_engine, respondent, 120)
    # Slow answers (delivered at once, answered late) keep requests in flight at the kill.
    await respondent.set_faults(hang_fraction=0.5, hang_seconds=0.5, hang_delivers=True)
    env = {**os.environ, "PSYCHOGRAPH_TELEGRAM_BASE_URL": bot_base_url, "PTB_TIMEDELTA": "1"}
    env.pop("PSYCHOGRAPH_BOT_TOKEN", None)
    command = [
        sys.executable, "-c", "from backend.cli import main; main()",
        "--database-url", sqlite_engine.url.render_as_string(hide_password=False),
        "followups", "dispatch", "--once", "--max-in-flight", str(MAX_IN_FLIGHT),
        "--lease", str(LEASE), "--read-timeout", "5",
    ]  # fmt: skip
    child = await asyncio.create_subprocess_exec(
        *command, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        for _ in range(1200):  # the child's start-up alone takes seconds on a busy machine
            if (await respondent.stats())["messages_sent"] >= 30 or child.returncode is not None:
                break
            await asyncio.sleep(0.05)
        if child.returncode is not None:
            output = await child.stdout.read() if child.stdout else b""
            pytest.fail(f"the dispatcher ended before the kill:\n{output.decode()}")
        os.kill(child.pid, signal.SIGKILL)
        await child.wait()
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()

    at_kill = statuses(sqlite_engine)
    in_flight = at_kill["sending"]
    assert 0 < at_kill["sent"] < 120
    assert 0 < in_flight <= MAX_IN_FLIGHT

    await respondent.set_faults(hang_fraction=0.0)
    await asyncio.sleep(LEASE + 0.2)  # the dead dispatcher's leases run out
    sender = TelegramSender.build(DEFAULT_TOKEN, bot_base_url)
    async with sender.bot:
        report = await Dispatcher(sqlite_engine, sender, DispatchConfig()).run_once(max_seconds=30)
    assert report.recovered_uncertain == in_flight

    final = statuses(sqlite_engine)
    assert set(final) <= {"sent", "uncertain"}
    assert sum(final.values()) == 120
    assert final["uncertain"] == in_flight <= MAX_IN_FLIGHT
    per_chat = [len((await respondent.chat(c)).bot_messages) for c in chats]
    assert max(per_chat) == 1  # zero duplicates
    assert final["sent"] <= sum(per_chat) <= final["sent"] + final["uncertain"]
