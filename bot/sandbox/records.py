"""The records of the sandbox's world: users, chats, messages, updates, webhook, button presses."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any


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
