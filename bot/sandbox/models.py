"""What the control API answers, as typed values for the respondent-side client."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class SandboxUser:
    """A respondent known to the sandbox."""

    id: int
    first_name: str
    username: str | None
    language_code: str | None
    blocked: bool

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SandboxUser:
        """Build from the control API's JSON."""
        return cls(
            id=data["id"],
            first_name=data["first_name"],
            username=data.get("username"),
            language_code=data.get("language_code"),
            blocked=data.get("blocked", False),
        )


@dataclass(frozen=True, slots=True)
class Sent:
    """The result of a respondent action: the update it produced, if the bot will get one."""

    update_id: int | None
    chat_id: int
    seq: int
    message_id: int | None = None
    callback_query_id: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Sent:
        """Build from the control API's JSON."""
        return cls(
            update_id=data.get("update_id"),
            chat_id=data["chat_id"],
            seq=data["seq"],
            message_id=data.get("message_id"),
            callback_query_id=data.get("callback_query_id"),
        )


@dataclass(frozen=True, slots=True)
class Button:
    """An inline button as shown under a message."""

    text: str
    callback_data: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """A message as the respondent sees it (current text after edits)."""

    message_id: int
    from_bot: bool
    kind: str
    text: str | None
    raw_text: str | None
    parse_mode: str | None
    entities: list[dict[str, Any]]
    buttons: list[list[Button]]
    edited: bool
    caption: str | None = None
    reply_to_message_id: int | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChatMessage:
        """Build from the control API's JSON."""
        return cls(
            message_id=data["message_id"],
            from_bot=data["from_bot"],
            kind=data["kind"],
            text=data.get("text"),
            raw_text=data.get("raw_text"),
            parse_mode=data.get("parse_mode"),
            entities=data.get("entities") or [],
            buttons=[
                [Button(b["text"], b.get("callback_data"), b.get("url")) for b in row]
                for row in data.get("buttons") or []
            ],
            edited=data.get("edit_date") is not None,
            caption=data.get("caption"),
            reply_to_message_id=data.get("reply_to_message_id"),
        )

    @property
    def button_texts(self) -> list[str]:
        """Return the texts of all inline buttons, row by row."""
        return [button.text for row in self.buttons for button in row]

    def button(self, text: str) -> Button:
        """Return the button labelled ``text``."""
        for row in self.buttons:
            for button in row:
                if button.text == text:
                    return button
        raise KeyError(f"message {self.message_id} has no button {text!r}: {self.button_texts}")


@dataclass(frozen=True, slots=True)
class Toast:
    """What answerCallbackQuery showed: a toast, or an alert when ``show_alert``."""

    callback_query_id: str
    message_id: int
    data: str
    text: str | None
    show_alert: bool
    url: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Toast:
        """Build from the control API's JSON."""
        return cls(
            callback_query_id=data["callback_query_id"],
            message_id=data["message_id"],
            data=data["data"],
            text=data.get("text"),
            show_alert=data.get("show_alert", False),
            url=data.get("url"),
        )


@dataclass(frozen=True, slots=True)
class ChatEvent:
    """One thing the bot did in a chat: ``message``, ``edit``, ``delete`` or ``toast``."""

    seq: int
    kind: str
    message_id: int
    message: ChatMessage | None = None
    toast: Toast | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChatEvent:
        """Build from the control API's JSON."""
        message = data.get("message")
        toast = data.get("toast")
        return cls(
            seq=data["seq"],
            kind=data["kind"],
            message_id=data["message_id"],
            message=ChatMessage.from_json(message) if message else None,
            toast=Toast.from_json(toast) if toast else None,
        )


@dataclass(frozen=True, slots=True)
class ChatView:
    """A whole chat as the respondent sees it now."""

    chat_id: int
    messages: list[ChatMessage]
    toasts: list[Toast]
    reply_keyboard: list[list[str]] | None
    unanswered_callbacks: list[str]
    blocked: bool
    last_seq: int

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChatView:
        """Build from the control API's JSON."""
        return cls(
            chat_id=data["chat"]["id"],
            messages=[ChatMessage.from_json(m) for m in data["messages"]],
            toasts=[Toast.from_json(t) for t in data["toasts"]],
            reply_keyboard=data.get("reply_keyboard"),
            unanswered_callbacks=data.get("unanswered_callbacks") or [],
            blocked=data.get("blocked", False),
            last_seq=data["last_seq"],
        )

    @property
    def bot_messages(self) -> list[ChatMessage]:
        """Return the bot's messages in order."""
        return [m for m in self.messages if m.from_bot]

    @property
    def last_bot_message(self) -> ChatMessage:
        """Return the bot's latest message still in the chat."""
        bot_messages = self.bot_messages
        if not bot_messages:
            raise LookupError(f"the bot has sent nothing (left) in chat {self.chat_id}")
        return bot_messages[-1]
