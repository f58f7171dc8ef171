"""Users, chats and their messages: the Bot API's JSON of them and the respondent's view."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

from bot.sandbox.config import SandboxConfig
from bot.sandbox.errors import ControlError, bad_request
from bot.sandbox.records import CallbackQuery, Chat, Message, User
from bot.sandbox.updates import UpdateQueue


class ChatDirectory(UpdateQueue):
    """The users and chats of the sandbox, their messages, and what a respondent sees."""

    def __init__(self, config: SandboxConfig, *, clock: Callable[[], float] = time.time) -> None:
        self._message_ids: dict[int, int] = {}
        super().__init__(config, clock=clock)

    def _init_world(self) -> None:
        super()._init_world()
        self.users: dict[int, User] = {}
        self.chats: dict[int, Chat] = {}
        self.callbacks: dict[str, CallbackQuery] = {}

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
