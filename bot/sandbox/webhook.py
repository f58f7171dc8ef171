"""Webhook delivery: POST each pending update to the bot's URL until it is accepted.

Like Telegram, updates of one chat are delivered one at a time and in order (the next one
waits until the previous was answered with 2xx), while different chats are delivered
concurrently up to the webhook's ``max_connections``. A failed delivery (connection error,
timeout, non-2xx) is recorded in getWebhookInfo's ``last_error_*`` and retried with a
doubling back-off.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

import aiohttp

from bot.sandbox.records import PendingUpdate, Webhook
from bot.sandbox.state import World

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class WebhookDispatcher:
    """Deliver the world's pending updates to its webhook, if one is set."""

    def __init__(self, world: World, session: aiohttp.ClientSession) -> None:
        self.world = world
        self.session = session
        self._generation = -1
        self._queues: dict[int, deque[int]] = {}
        self._queued: set[int] = set()
        self._workers: dict[int, asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(40)
        world.add_update_listener(self.kick)

    def kick(self) -> None:
        """Start delivering whatever is pending (called on every new update or webhook change)."""
        hook = self.world.webhook
        if hook is None or hook.generation != self._generation:
            self._restart(hook)
        if hook is None:
            return
        for update in self.world.pending.values():
            if update.update_id in self._queued:
                continue
            self._queued.add(update.update_id)
            self._queues.setdefault(update.chat_key, deque()).append(update.update_id)
        for chat_key, queue in self._queues.items():
            if queue and chat_key not in self._workers:
                self._workers[chat_key] = asyncio.create_task(self._deliver_chat(hook, chat_key))

    def _restart(self, hook: Webhook | None) -> None:
        for task in self._workers.values():
            task.cancel()
        self._workers.clear()
        self._queues.clear()
        self._queued.clear()
        self._generation = hook.generation if hook is not None else -1
        if hook is not None:
            self._slots = asyncio.Semaphore(hook.max_connections)

    async def close(self) -> None:
        """Stop all deliveries."""
        tasks = list(self._workers.values())
        self._restart(None)
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _deliver_chat(self, hook: Webhook, chat_key: int) -> None:
        queue = self._queues[chat_key]
        delay = self.world.config.webhook_retry_initial
        try:
            while queue:
                update = self.world.pending.get(queue[0])
                if update is None:
                    self._queued.discard(queue.popleft())
                    continue
                async with self._slots:
                    self.world.handed_out(update)
                    error = await self._post(hook, update)
                if error is None:
                    self.world.delivered(update.update_id)
                    self.world.stats.webhook_deliveries += 1
                    self._queued.discard(queue.popleft())
                    delay = self.world.config.webhook_retry_initial
                    continue
                self.world.stats.webhook_failures += 1
                hook.last_error_date = self.world.now()
                hook.last_error_message = error
                await self.world.sleep(delay)
                if self.world.closed:
                    return
                delay = min(delay * 2, self.world.config.webhook_retry_max)
        finally:
            if self._workers.get(chat_key) is asyncio.current_task():
                del self._workers[chat_key]

    async def _post(self, hook: Webhook, update: PendingUpdate) -> str | None:
        """POST one update; return None on success or Telegram's description of the error."""
        headers = {SECRET_HEADER: hook.secret_token} if hook.secret_token else {}
        timeout = aiohttp.ClientTimeout(total=self.world.config.webhook_timeout)
        try:
            async with self.session.post(
                hook.url, json=update.payload, headers=headers, timeout=timeout
            ) as response:
                await response.read()
                if 200 <= response.status < 300:
                    return None
                return f"Wrong response from the webhook: {response.status} {response.reason}"
        except TimeoutError:
            return "Read timeout expired"
        except aiohttp.ClientError as exc:
            return f"Connection failed: {exc.__class__.__name__}"
