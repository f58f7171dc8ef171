"""The send budget: Telegram's limits as a sliding window, per-chat spacing, priorities."""

from __future__ import annotations

import asyncio
import itertools
import time

from backend.followups.budget import BACKGROUND, URGENT, SendBudget, Slot

Log = list[tuple[float, int, int]]


async def _leave(budget: SendBudget, chat: int) -> Slot:
    """Wait for a slot and until its message may leave."""
    slot = await budget.acquire(chat)
    await budget.depart(slot)
    return slot


async def _send(budget: SendBudget, chat: int, log: Log, **kw: int) -> None:
    slot = await budget.acquire(chat, **kw)  # type: ignore[arg-type]
    await budget.depart(slot)
    log.append((time.monotonic(), chat, slot.priority))  # when the request leaves
    await asyncio.sleep(0.002)  # the request's round trip
    budget.release(slot)


async def test_no_window_ever_holds_more_than_the_limit_even_after_a_pause() -> None:
    budget = SendBudget(limit=5, window=0.2, chat_interval=0.0, margin=0.0)
    log: list[tuple[float, int, int]] = []
    budget_slots: list[Slot] = []
    acquire = budget.acquire

    async def recorded(
        chat_id: int | None, *, priority: int = URGENT, group: bool | None = None
    ) -> Slot:
        slot = await acquire(chat_id, priority=priority, group=group)
        budget_slots.append(slot)
        return slot

    budget.acquire = recorded  # type: ignore[method-assign]
    await asyncio.gather(*(_send(budget, chat, log) for chat in range(1, 21)))
    await asyncio.sleep(0.5)  # a pause: a bucket would have refilled to a burst
    await asyncio.gather(*(_send(budget, chat, log) for chat in range(21, 41)))
    times = [t for t, _, _ in log]
    for start in times:
        assert sum(1 for t in times if start <= t < start + 0.2) <= 5
    # No burst: departures follow the pace; a late timer catches up by at most three. The
    # schedule adds and subtracts spacings, so a slot one spacing later may sit a rounding
    # error short of it: count strictly within one spacing.
    paced = sorted(slot.not_before for slot in budget_slots)
    for start in paced:
        assert sum(1 for t in paced if start <= t < start + 0.2 / 5 - 1e-9) <= 4


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
    slot = await _leave(budget, 1)
    budget.release(slot, retry_after=0.3)
    started = time.monotonic()
    other = await _leave(budget, 2)  # another chat is not held up
    assert time.monotonic() - started < 0.05
    budget.release(other)
    again = await _leave(budget, 1)
    assert time.monotonic() - started >= 0.25
    budget.release(again, retry_after=0.3)
    third = await _leave(budget, 3)
    budget.release(third, retry_after=0.3)  # a second chat refused within the wait: global
    started = time.monotonic()
    budget.release(await _leave(budget, 4))
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


async def test_a_slot_is_granted_ahead_and_leaves_on_time() -> None:
    """The caller's work between grant and departure overlaps the wait for the window."""
    budget = SendBudget(limit=2, window=0.3, chat_interval=0.0, margin=0.0, lead=0.1)
    for chat in (1, 2):
        slot = await _leave(budget, chat)
        budget.release(slot)
    released = time.monotonic()
    slot = await budget.acquire(3)
    granted = time.monotonic()
    await budget.depart(slot)
    left = time.monotonic()
    assert 0.15 <= granted - released < 0.3  # up to ``lead`` before the window frees...
    assert left - released >= 0.3  # ...but it leaves only once it has
    budget.release(slot)
