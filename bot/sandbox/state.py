"""The sandbox's in-memory world: what the bot does and what the respondents do.

:class:`World` builds on :class:`bot.sandbox.chats.ChatDirectory` (users, chats, messages,
the respondent's view), itself on :class:`bot.sandbox.updates.UpdateQueue` (pending updates,
long polling, the webhook setting). Everything runs on the event loop without locks: each
change is made between two awaits, so it is atomic. Waiters (long polling, respondents waiting
for the bot) sleep on an ``asyncio.Event`` that is replaced and set on every change they care
about, so a change wakes exactly the waiters of that chat or of the update queue, with no
polling.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from bot.sandbox.chats import ChatDirectory
from bot.sandbox.errors import ControlError
from bot.sandbox.formatting import ParsedText, command_entities
from bot.sandbox.records import CallbackQuery, Chat, Message, User
from bot.sandbox.stats import Stats
from bot.sandbox.updates import ALL_UPDATE_TYPES


class World(ChatDirectory):
    """The state of one sandbox: the Bot API's view and the respondents' view of it."""

    def _init_world(self) -> None:
        super()._init_world()
        self.commands: dict[tuple[str, str], list[dict[str, str]]] = {}

    # -- lifecycle -------------------------------------------------------------------------

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
