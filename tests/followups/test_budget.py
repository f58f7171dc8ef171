"""The send budget: Telegram's limits as a sliding window, per-chat spacing, priorities."""

from __future__ import annotations

import asyncio
import itertools
import time

from backend.followups.budget import BACKGROUND, URGENT, SendBudget

Log = list[tuple[float, int, int]]


async def _send(budget: SendBudget, chat: int, log: Log, **kw: int) -> None:
    slot = await budget.acquire(chat, **kw)  # type: ignore[arg-type]
    log.append((time.monotonic(), chat, slot.priority))
    await asyncio.sleep(0.002)  # the request's round trip
    budget.release(slot)


async def test_no_window_ever_holds_more_than_the_limit_even_after_a_pause() -> None:
    budget = SendBudget(limit=5, window=0.2, chat_interval=0.0, margin=0.0)
    log: list[tuple[float, int, int]] = []
    await asyncio.gather(*(_send(budget, chat, log) for chat in range(1, 21)))
    await asyncio.sleep(0.5)  # a pause: a bucket would have refilled to a burst
    await asyncio.gather(*(_send(budget, chat, log) for chat in range(21, 41)))
    times = [t for t, _, _ in log]
    for start in times:
        assert sum(1 for t in times if start <= t < start + 0.2) <= 5
    # No burst: grants follow the pace; a late timer catches up by at most three.
    for start in times:
        assert sum(1 for t in times if start <= t < start + 0.2 / 5) <= 4


async def test_one_chat_gets_one_message_per_interval_measured_from_the_answer() -> None:
    budget = SendBudget(limit=None, chat_interval=0.2, margin=0.05)
    log: list[tuple[float, int, int]] = []
    await asyncio.gather(*(_send(budget, 7, log) for _ in range(3)))
    times = [t for t, _, _ in log]
    assert all(b - a >= 0.25 for a, b in itertools.pairwise(times))


async def test_urgent_goes_first_but_background_keeps_its_reserve() -> None:
    budget = SendBudget(limit=10, window=0.5, chat_interval=0.0, margin=0.0, reserve=0.2)
    log: list[tuple[float, int, int]] = []
    background = [_send(budget, 1000 + i, log, priority=BACKGROUND) for i in range(10)]
    urgent = [_send(budget, i, log, priority=URGENT) for i in range(40)]
    await asyncio.gather(*background, *urgent)
    # The second window, with both waiting all along.
    second = [p for t, _, p in log if log[0][0] + 0.5 <= t < log[0][0] + 1.0]
    assert second.count(URGENT) >= 7  # the waiting respondents go first...
    assert second.count(BACKGROUND) >= 2  # ...but follow-ups still progress


async def test_a_429_in_one_chat_pauses_that_chat_and_two_pause_everything() -> None:
    budget = SendBudget(limit=None, chat_interval=0.0, margin=0.0)
    slot = await budget.acquire(1)
    budget.release(slot, retry_after=0.3)
    started = time.monotonic()
    other = await budget.acquire(2)  # another chat is not held up
    assert time.monotonic() - started < 0.05
    budget.release(other)
    again = await budget.acquire(1)
    assert time.monotonic() - started >= 0.25
    budget.release(again, retry_after=0.3)
    third = await budget.acquire(3)
    budget.release(third, retry_after=0.3)  # a second chat refused within the wait: global
    started = time.monotonic()
    budget.release(await budget.acquire(4))
    assert time.monotonic() - started >= 0.25


async def test_a_429_holds_queued_sends_until_the_flight_settles() -> None:
    budget = SendBudget(limit=None, chat_interval=0.0, margin=0.0)
    first, second = await budget.acquire(1), await budget.acquire(2)
    budget.release(first, retry_after=1.0)
    queued = asyncio.create_task(budget.acquire(3))
    await asyncio.sleep(0.05)
    assert not queued.done()  # nothing leaves while a request in flight may say "flood"
    budget.release(second)  # it went through: the 429 was chat 1's alone
    budget.release(await asyncio.wait_for(queued, 0.1))
