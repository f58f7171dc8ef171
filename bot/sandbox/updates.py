"""The update queue: allowed_updates, long polling (getUpdates), the webhook setting, listeners.

The base of :class:`bot.sandbox.state.World`: it also holds the sandbox's config, clock, stats
and shutdown flag. Long pollers sleep on an ``asyncio.Event`` replaced and set on every change
of the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable
from typing import Any

from bot.sandbox.config import SandboxConfig
from bot.sandbox.errors import ApiError
from bot.sandbox.records import PendingUpdate, Webhook
from bot.sandbox.stats import Stats

ALL_UPDATE_TYPES = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "business_connection",
        "business_message",
        "edited_business_message",
        "deleted_business_messages",
        "message_reaction",
        "message_reaction_count",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "purchased_paid_media",
        "poll",
        "poll_answer",
        "my_chat_member",
        "chat_member",
        "chat_join_request",
        "chat_boost",
        "removed_chat_boost",
    }
)
# What Telegram sends when allowed_updates was never set or set to an empty list.
DEFAULT_UPDATE_TYPES = ALL_UPDATE_TYPES - {
    "chat_member",
    "message_reaction",
    "message_reaction_count",
}

CONFLICT_WEBHOOK = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
CONFLICT_POLLING = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)


class UpdateQueue:
    """Updates waiting for the bot, and how it takes them: getUpdates or a webhook."""

    def __init__(self, config: SandboxConfig, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        self.stats = Stats()
        self._update_ids = itertools.count(config.first_update_id)
        self._closed = asyncio.Event()
        self._listeners: list[Callable[[], None]] = []
        self._updates_changed = asyncio.Event()
        self._poll_generation = 0
        self._webhook_generation = 0
        self._init_world()

    def _init_world(self) -> None:
        self.pending: dict[int, PendingUpdate] = {}
        #: Chat -> when the bot received the chat's oldest update it has not answered yet.
        self._awaiting_reply: dict[int, float] = {}
        self.allowed_updates: frozenset[str] = DEFAULT_UPDATE_TYPES
        self.webhook: Webhook | None = None

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Return True once the sandbox is shutting down."""
        return self._closed.is_set()

    async def sleep(self, seconds: float) -> None:
        """Sleep, but wake early when the sandbox shuts down."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._closed.wait()

    def add_update_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` whenever updates or the webhook change."""
        self._listeners.append(listener)

    def _fire_listeners(self) -> None:
        for listener in self._listeners:
            listener()

    def now(self) -> int:
        """Return the current Unix time in whole seconds, as Telegram dates are."""
        return int(self.clock())

    # -- updates ---------------------------------------------------------------------------

    def push_update(self, kind: str, body: dict[str, Any], chat_key: int) -> int | None:
        """Queue an update for the bot; return its id, or None when allowed_updates drops it."""
        if kind not in self.allowed_updates:
            self.stats.updates_filtered += 1
            return None
        update_id = next(self._update_ids)
        self.pending[update_id] = PendingUpdate(
            update_id, kind, {"update_id": update_id, kind: body}, chat_key
        )
        self.stats.updates_created += 1
        self._notify_updates()
        self._fire_listeners()
        return update_id

    def _notify_updates(self) -> None:
        event, self._updates_changed = self._updates_changed, asyncio.Event()
        event.set()

    def confirm_below(self, offset: int) -> None:
        """Forget updates with ids below ``offset``; a negative offset keeps the last -offset."""
        if offset < 0:
            keep = set(list(self.pending)[offset:])
            for update_id in [u for u in self.pending if u not in keep]:
                del self.pending[update_id]
            return
        while self.pending:
            first = next(iter(self.pending))
            if first >= offset:
                break
            del self.pending[first]

    def set_allowed_updates(self, allowed: list[str] | None) -> None:
        """Apply allowed_updates from getUpdates or setWebhook (empty list: the default)."""
        if allowed is None:
            return
        self.allowed_updates = frozenset(allowed) if allowed else DEFAULT_UPDATE_TYPES

    async def get_updates(
        self, *, offset: int | None, limit: int, wait: float
    ) -> list[dict[str, Any]]:
        """Long-poll: return pending updates at once, or wait up to ``wait`` seconds for some."""
        if self.webhook is not None:
            raise ApiError(409, CONFLICT_WEBHOOK)
        if offset is not None:
            self.confirm_below(offset)
        self._poll_generation += 1
        generation = self._poll_generation
        self._notify_updates()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(wait, self.config.max_poll_timeout)
        while True:
            changed = self._updates_changed
            if generation != self._poll_generation:
                raise ApiError(409, CONFLICT_POLLING)
            if self.webhook is not None:
                raise ApiError(409, CONFLICT_WEBHOOK)
            handed = list(itertools.islice(self.pending.values(), limit))
            for update in handed:
                self.handed_out(update)
            batch = [u.payload for u in handed]
            remaining = deadline - loop.time()
            if batch or remaining <= 0 or self.closed:
                return batch
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await changed.wait()

    def handed_out(self, update: PendingUpdate) -> None:
        """Note when the bot received an update, the start of its reply latency."""
        if update.handed_out is None:
            update.handed_out = time.monotonic()
            if update.chat_key:
                self._awaiting_reply.setdefault(update.chat_key, update.handed_out)

    def set_webhook(
        self, url: str, *, secret_token: str | None, max_connections: int, drop_pending: bool
    ) -> None:
        """Set the webhook; later and pending updates are POSTed to it."""
        if drop_pending:
            self.pending.clear()
        self._webhook_generation += 1
        self.webhook = Webhook(url, secret_token, max_connections, self._webhook_generation)
        self._notify_updates()
        self._fire_listeners()

    def delete_webhook(self, *, drop_pending: bool) -> None:
        """Remove the webhook; pending updates wait for getUpdates."""
        if drop_pending:
            self.pending.clear()
        self._webhook_generation += 1
        self.webhook = None
        self._fire_listeners()

    def delivered(self, update_id: int) -> None:
        """Forget an update the webhook accepted."""
        self.pending.pop(update_id, None)
