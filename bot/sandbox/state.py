"""The sandbox's in-memory world: users, chats, messages, pending updates and the webhook.

Everything here runs on the event loop without locks: each change is made between two awaits,
so it is atomic. Waiters (long polling, respondents waiting for the bot) sleep on an
``asyncio.Event`` that is replaced and set on every change they care about, so a change wakes
exactly the waiters of that chat or of the update queue, with no polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from bot.sandbox.config import SandboxConfig
from bot.sandbox.errors import ApiError, ControlError, bad_request
from bot.sandbox.formatting import ParsedText, command_entities
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


@dataclass(slots=True)
class User:
    """A respondent: a Telegram user who talks to the bot."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    blocked: bool = False
    started: bool = True

    def to_json(self) -> dict[str, Any]:
        """Return the Bot API ``User`` object."""
        data: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            data["last_name"] = self.last_name
        if self.username:
            data["username"] = self.username
        if self.language_code:
            data["language_code"] = self.language_code
        return data


@dataclass(slots=True)
class Message:
    """One message in a chat, as currently shown (after edits)."""

    message_id: int
    chat_id: int
    date: int
    from_bot: bool
    sender_id: int | None
    kind: str = "text"
    text: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    raw_text: str | None = None
    parse_mode: str | None = None
    reply_markup: dict[str, Any] | None = None
    media: dict[str, Any] = field(default_factory=dict)
    caption: str | None = None
    reply_to: int | None = None
    edit_date: int | None = None
    deleted: bool = False
    #: A bot message sent while no update of the chat awaited an answer (e.g. a follow-up).
    unprompted: bool = False

    @property
    def inline_keyboard(self) -> list[list[dict[str, Any]]]:
        """Return the rows of inline buttons shown under the message."""
        if self.reply_markup and "inline_keyboard" in self.reply_markup:
            rows: list[list[dict[str, Any]]] = self.reply_markup["inline_keyboard"]
            return rows
        return []


@dataclass(slots=True)
class Chat:
    """A private chat, group or channel, with its messages and what the user saw happen."""

    id: int
    type: str
    title: str | None = None
    username: str | None = None
    user_id: int | None = None
    messages: dict[int, Message] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    toasts: list[dict[str, Any]] = field(default_factory=list)
    reply_keyboard: list[list[str]] | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def seq(self) -> int:
        """Return the sequence number of the last event in the chat (0 when none)."""
        return len(self.events)

    def notify(self) -> None:
        """Wake everyone waiting for this chat to change."""
        event, self.changed = self.changed, asyncio.Event()
        event.set()


@dataclass(slots=True)
class PendingUpdate:
    """An update not yet confirmed by getUpdates nor delivered to the webhook."""

    update_id: int
    kind: str
    payload: dict[str, Any]
    chat_key: int
    #: When the bot first received it (getUpdates or webhook), for reply latencies.
    handed_out: float | None = None


@dataclass(slots=True)
class Webhook:
    """The webhook the bot set, and how deliveries to it went."""

    url: str
    secret_token: str | None
    max_connections: int
    generation: int
    last_error_date: int | None = None
    last_error_message: str | None = None


@dataclass(slots=True)
class CallbackQuery:
    """A button press waiting for (or given) its answerCallbackQuery."""

    id: str
    user_id: int
    chat_id: int
    message_id: int
    data: str
    created: float
    answered: bool = False


class World:
    """The state of one sandbox: the Bot API's view and the respondents' view of it."""

    def __init__(self, config: SandboxConfig, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        self.stats = Stats()
        self._update_ids = itertools.count(config.first_update_id)
        self._message_ids: dict[int, int] = {}
        self._closed = asyncio.Event()
        self._listeners: list[Callable[[], None]] = []
        self._updates_changed = asyncio.Event()
        self._poll_generation = 0
        self._webhook_generation = 0
        self._init_world()

    def _init_world(self) -> None:
        self.users: dict[int, User] = {}
        self.chats: dict[int, Chat] = {}
        self.pending: dict[int, PendingUpdate] = {}
        #: Chat -> when the bot received the chat's oldest update it has not answered yet.
        self._awaiting_reply: dict[int, float] = {}
        self.callbacks: dict[str, CallbackQuery] = {}
        self.commands: dict[tuple[str, str], list[dict[str, str]]] = {}
        self.allowed_updates: frozenset[str] = DEFAULT_UPDATE_TYPES
        self.webhook: Webhook | None = None

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Return True once the sandbox is shutting down."""
        return self._closed.is_set()

    def close(self) -> None:
        """Wake every waiter so that the server can shut down at once."""
        self._closed.set()
        self._notify_updates()
        for chat in self.chats.values():
            chat.notify()

    def reset(self) -> None:
        """Forget users, chats, updates, the webhook and the stats; update ids keep growing."""
        old_chats = list(self.chats.values())
        self._init_world()
        self.stats = Stats()
        self._webhook_generation += 1
        for chat in old_chats:
            chat.notify()
        self._notify_updates()
        self._fire_listeners()

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

    # -- users and chats -------------------------------------------------------------------

    def bot_user_json(self) -> dict[str, Any]:
        """Return the bot's own ``User`` object."""
        return {
            "id": self.config.bot_id,
            "is_bot": True,
            "first_name": self.config.bot_first_name,
            "username": self.config.bot_username,
        }

    def create_user(
        self,
        user_id: int | None = None,
        *,
        first_name: str = "Test",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
        started: bool = True,
    ) -> User:
        """Create (or replace) a user and their private chat with the bot."""
        if user_id is None:
            user_id = max(self.users, default=100_000_000) + 1
        if user_id <= 0:
            raise ControlError(400, f"user id must be positive, got {user_id}")
        user = User(user_id, first_name, last_name, username, language_code, started=started)
        self.users[user_id] = user
        if user_id not in self.chats:
            self.chats[user_id] = Chat(user_id, "private", user_id=user_id)
        return user

    def user(self, user_id: int) -> User:
        """Return a user or refuse with 404."""
        try:
            return self.users[user_id]
        except KeyError:
            raise ControlError(404, f"no user {user_id}; create it first") from None

    def create_group(self, chat_id: int | None, title: str, *, kind: str = "group") -> Chat:
        """Create a group, supergroup or channel the bot is a member of."""
        if chat_id is None:
            base = -1_000_000_000_000 if kind in ("supergroup", "channel") else -1000
            chat_id = min([base, *self.chats]) - 1
        if chat_id >= 0:
            raise ControlError(400, f"group and channel ids are negative, got {chat_id}")
        existing = self.chats.get(chat_id)
        if existing is not None:
            return existing
        chat = Chat(chat_id, kind, title=title)
        self.chats[chat_id] = chat
        return chat

    def chat(self, chat_ref: int | str) -> Chat:
        """Return the chat a Bot API call addresses, or 400 "chat not found"."""
        if isinstance(chat_ref, str):
            name = chat_ref.removeprefix("@").lower()
            for candidate in self.chats.values():
                if candidate.username and candidate.username.lower() == name:
                    return candidate
            raise bad_request("chat not found")
        found = self.chats.get(chat_ref)
        if found is None:
            raise bad_request("chat not found")
        return found

    def control_chat(self, chat_id: int) -> Chat:
        """Return a chat for the control API, or refuse with 404."""
        chat = self.chats.get(chat_id)
        if chat is None:
            raise ControlError(404, f"no chat {chat_id}; create the user or group first")
        return chat

    def chat_json(self, chat: Chat) -> dict[str, Any]:
        """Return the Bot API ``Chat`` object."""
        data: dict[str, Any] = {"id": chat.id, "type": chat.type}
        if chat.type == "private" and chat.user_id is not None:
            user = self.users.get(chat.user_id)
            if user is not None:
                data["first_name"] = user.first_name
                if user.last_name:
                    data["last_name"] = user.last_name
                if user.username:
                    data["username"] = user.username
        else:
            data["title"] = chat.title or ""
            if chat.username:
                data["username"] = chat.username
        return data

    def _new_message(self, chat: Chat, **fields: Any) -> Message:
        message_id = self._message_ids.get(chat.id, 1)
        self._message_ids[chat.id] = message_id + 1
        message = Message(message_id=message_id, chat_id=chat.id, date=self.now(), **fields)
        chat.messages[message_id] = message
        return message

    def message(self, chat: Chat, message_id: int) -> Message | None:
        """Return a message that still exists in the chat."""
        message = chat.messages.get(message_id)
        return None if message is None or message.deleted else message

    def message_json(self, message: Message, *, nested: bool = False) -> dict[str, Any]:
        """Return the Bot API ``Message`` object for a message."""
        chat = self.chats[message.chat_id]
        data: dict[str, Any] = {"message_id": message.message_id, "date": message.date}
        if chat.type == "channel":
            data["sender_chat"] = self.chat_json(chat)
        elif message.from_bot:
            data["from"] = self.bot_user_json()
        elif message.sender_id is not None and message.sender_id in self.users:
            data["from"] = self.users[message.sender_id].to_json()
        data["chat"] = self.chat_json(chat)
        if message.text is not None:
            data["text"] = message.text
            if message.entities:
                data["entities"] = message.entities
        data.update(message.media)
        if message.caption is not None:
            data["caption"] = message.caption
        if message.reply_markup and "inline_keyboard" in message.reply_markup:
            data["reply_markup"] = message.reply_markup
        if message.edit_date is not None:
            data["edit_date"] = message.edit_date
        if not nested and message.reply_to is not None:
            original = self.message(chat, message.reply_to)
            if original is not None:
                data["reply_to_message"] = self.message_json(original, nested=True)
        return data

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

    # -- what the bot does -----------------------------------------------------------------

    def _event(self, chat: Chat, kind: str, **fields: Any) -> None:
        chat.events.append({"seq": chat.seq + 1, "kind": kind, "date": self.now(), **fields})
        chat.notify()

    def bot_send(
        self,
        chat: Chat,
        parsed: ParsedText,
        *,
        raw_text: str,
        parse_mode: str | None,
        reply_markup: dict[str, Any] | None,
        reply_to: int | None,
    ) -> Message:
        """Store a message from the bot and tell the respondent about it."""
        received = self._awaiting_reply.pop(chat.id, None)
        if received is not None:
            self.stats.reply_latencies.append(time.monotonic() - received)
        message = self._new_message(
            chat,
            from_bot=True,
            sender_id=self.config.bot_id,
            text=parsed.text,
            entities=parsed.entities,
            raw_text=raw_text,
            parse_mode=parse_mode,
            reply_markup=reply_markup,
            reply_to=reply_to,
            unprompted=received is None,
        )
        if reply_markup is not None:
            if "keyboard" in reply_markup:
                chat.reply_keyboard = [
                    [b["text"] for b in row] for row in reply_markup["keyboard"]
                ]
            elif reply_markup.get("remove_keyboard"):
                chat.reply_keyboard = None
        self.stats.messages_sent += 1
        self._event(chat, "message", message_id=message.message_id, message=self.view(message))
        return message

    def bot_edit(
        self,
        chat: Chat,
        message: Message,
        *,
        parsed: ParsedText | None,
        raw_text: str | None,
        parse_mode: str | None,
        reply_markup: dict[str, Any] | None,
    ) -> None:
        """Change a bot message's text and/or keyboard and tell the respondent."""
        if parsed is not None:
            message.text = parsed.text
            message.entities = parsed.entities
            message.raw_text = raw_text
            message.parse_mode = parse_mode
        message.reply_markup = reply_markup
        message.edit_date = self.now()
        self.stats.messages_edited += 1
        self._event(chat, "edit", message_id=message.message_id, message=self.view(message))

    def bot_delete(self, chat: Chat, message: Message) -> None:
        """Delete a message from the chat."""
        message.deleted = True
        self.stats.messages_deleted += 1
        self._event(chat, "delete", message_id=message.message_id)

    def answer_callback(
        self, query: CallbackQuery, *, text: str | None, show_alert: bool, url: str | None
    ) -> None:
        """Record the toast or alert the user sees after pressing a button."""
        query.answered = True
        self.stats.callback_answers += 1
        chat = self.chats.get(query.chat_id)
        if chat is None:
            return
        toast = {
            "callback_query_id": query.id,
            "message_id": query.message_id,
            "data": query.data,
            "text": text,
            "show_alert": show_alert,
            "url": url,
        }
        chat.toasts.append(toast)
        self._event(chat, "toast", message_id=query.message_id, toast=toast)

    # -- what the respondent does ----------------------------------------------------------

    def _sender_chat(self, user: User, chat_id: int | None) -> Chat:
        if user.blocked:
            raise ControlError(
                409, f"user {user.id} has blocked the bot; unblock before writing to it"
            )
        chat = self.control_chat(user.id if chat_id is None else chat_id)
        if chat.type == "channel":
            raise ControlError(400, "users cannot write in a channel; post to it instead")
        if chat.type == "private" and chat.id != user.id:
            raise ControlError(403, f"chat {chat.id} is another user's private chat")
        return chat

    def user_message(
        self,
        user_id: int,
        *,
        chat_id: int | None = None,
        text: str | None = None,
        media: dict[str, Any] | None = None,
        caption: str | None = None,
        reply_to: int | None = None,
    ) -> tuple[Message, int | None]:
        """Store a message the user sent and queue its ``message`` update."""
        user = self.user(user_id)
        chat = self._sender_chat(user, chat_id)
        user.started = True
        message = self._new_message(
            chat,
            from_bot=False,
            sender_id=user.id,
            kind=next(iter(media)) if media else "text",
            text=text,
            entities=command_entities(text) if text else [],
            media=media or {},
            caption=caption,
            reply_to=reply_to,
        )
        chat.notify()
        update_id = self.push_update("message", self.message_json(message), chat.id)
        return message, update_id

    def user_edit(
        self, user_id: int, message_id: int, text: str, *, chat_id: int | None = None
    ) -> tuple[Message, int | None]:
        """Edit a message the user sent earlier and queue its ``edited_message`` update."""
        user = self.user(user_id)
        chat = self._sender_chat(user, chat_id)
        message = self.message(chat, message_id)
        if message is None or message.from_bot or message.sender_id != user.id:
            raise ControlError(404, f"user {user_id} sent no message {message_id} in {chat.id}")
        if message.text is None:
            raise ControlError(400, f"message {message_id} has no text to edit")
        message.text = text
        message.entities = command_entities(text)
        message.edit_date = self.now()
        chat.notify()
        update_id = self.push_update("edited_message", self.message_json(message), chat.id)
        return message, update_id

    def user_press(
        self,
        user_id: int,
        message_id: int,
        *,
        data: str | None = None,
        text: str | None = None,
        chat_id: int | None = None,
    ) -> tuple[CallbackQuery, int | None]:
        """Press an inline button shown on a message and queue its ``callback_query``."""
        user = self.user(user_id)
        chat = self._sender_chat(user, chat_id)
        message = self.message(chat, message_id)
        if message is None:
            raise ControlError(404, f"no message {message_id} in chat {chat.id}")
        button = _find_button(message, data=data, text=text)
        if "callback_data" not in button:
            raise ControlError(
                409, f"button {button['text']!r} opens a link; pressing it sends nothing"
            )
        query = CallbackQuery(
            id=str(secrets.randbits(63)),
            user_id=user.id,
            chat_id=chat.id,
            message_id=message_id,
            data=button["callback_data"],
            created=self.clock(),
        )
        self.callbacks[query.id] = query
        body = {
            "id": query.id,
            "from": user.to_json(),
            "message": self.message_json(message),
            "chat_instance": str(chat.id * 7919 % 1_000_000_007),
            "data": query.data,
        }
        return query, self.push_update("callback_query", body, chat.id)

    def set_blocked(self, user_id: int, blocked: bool) -> int | None:
        """Block or unblock the bot and queue the ``my_chat_member`` update Telegram sends."""
        user = self.user(user_id)
        if user.blocked == blocked:
            return None
        user.blocked = blocked
        old, new = ("member", "kicked") if blocked else ("kicked", "member")
        body = {
            "chat": self.chat_json(self.chats[user.id]),
            "from": user.to_json(),
            "date": self.now(),
            "old_chat_member": {"status": old, "user": self.bot_user_json()},
            "new_chat_member": {
                "status": new,
                "user": self.bot_user_json(),
                **({"until_date": 0} if blocked else {}),
            },
        }
        return self.push_update("my_chat_member", body, user.id)

    def channel_post(self, chat_id: int, text: str) -> tuple[Message, int | None]:
        """Post in a channel the bot administers and queue its ``channel_post`` update."""
        chat = self.control_chat(chat_id)
        if chat.type != "channel":
            raise ControlError(400, f"chat {chat_id} is a {chat.type}, not a channel")
        message = self._new_message(
            chat, from_bot=False, sender_id=None, text=text, entities=command_entities(text)
        )
        chat.notify()
        return message, self.push_update("channel_post", self.message_json(message), chat.id)

    def raw_update(self, update: dict[str, Any]) -> int | None:
        """Queue an update given as Bot API JSON (without ``update_id``)."""
        kinds = [key for key in update if key != "update_id"]
        if len(kinds) != 1:
            raise ControlError(400, "a raw update has exactly one field besides update_id")
        kind = kinds[0]
        if kind not in ALL_UPDATE_TYPES:
            raise ControlError(400, f"unknown update type {kind!r}")
        body = update[kind]
        chat_key = 0
        if isinstance(body, dict):
            chat = body.get("chat") or (body.get("message") or {}).get("chat") or {}
            sender = body.get("from") or body.get("user") or {}
            chat_key = int(chat.get("id") or sender.get("id") or 0)
        return self.push_update(kind, body, chat_key)

    # -- what the respondent sees ----------------------------------------------------------

    def view(self, message: Message) -> dict[str, Any]:
        """Return a message as the respondent sees it."""
        return {
            "message_id": message.message_id,
            "chat_id": message.chat_id,
            "from_bot": message.from_bot,
            "sender_id": message.sender_id,
            "date": message.date,
            "kind": message.kind,
            "text": message.text,
            "raw_text": message.raw_text,
            "parse_mode": message.parse_mode,
            "entities": message.entities,
            "caption": message.caption,
            "buttons": [
                [
                    {k: v for k, v in button.items() if k in ("text", "callback_data", "url")}
                    for button in row
                ]
                for row in message.inline_keyboard
            ],
            "reply_to_message_id": message.reply_to,
            "edit_date": message.edit_date,
        }

    def chat_view(self, chat_id: int) -> dict[str, Any]:
        """Return the whole chat as the respondent sees it now."""
        chat = self.control_chat(chat_id)
        user = self.users.get(chat.user_id) if chat.user_id is not None else None
        return {
            "chat": self.chat_json(chat),
            "messages": [self.view(m) for m in _shown(chat)],
            "toasts": list(chat.toasts),
            "reply_keyboard": chat.reply_keyboard,
            "unanswered_callbacks": [
                q.id for q in self.callbacks.values() if q.chat_id == chat.id and not q.answered
            ],
            "blocked": bool(user and user.blocked),
            "last_seq": chat.seq,
        }

    async def wait_events(self, chat_id: int, *, after: int, wait: float) -> list[dict[str, Any]]:
        """Return the chat's events after ``after``, waiting up to ``wait`` seconds for one."""
        chat = self.control_chat(chat_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            changed = chat.changed
            if chat.seq > after:
                return chat.events[max(after, 0) :]
            remaining = deadline - loop.time()
            if remaining <= 0 or self.closed or self.chats.get(chat_id) is not chat:
                return []
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await changed.wait()


def _shown(chat: Chat) -> Iterator[Message]:
    return (m for m in chat.messages.values() if not m.deleted)


def _find_button(message: Message, *, data: str | None, text: str | None) -> dict[str, Any]:
    if data is None and text is None:
        raise ControlError(400, "say which button to press: its callback data or its text")
    for row in message.inline_keyboard:
        for button in row:
            if data is not None and button.get("callback_data") == data:
                return button
            if data is None and button.get("text") == text:
                return button
    shown = [b.get("text") for row in message.inline_keyboard for b in row]
    wanted = f"data {data!r}" if data is not None else f"text {text!r}"
    raise ControlError(
        409, f"message {message.message_id} shows no button with {wanted}; it shows {shown}"
    )
