"""The bot-side Bot API methods, each with the checks and answers Telegram gives."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.sandbox.errors import ApiError, bad_request, forbidden
from bot.sandbox.formatting import ParsedText, parse_text
from bot.sandbox.limits import RateLimiter, StrictRateLimiter
from bot.sandbox.markup import validate_reply_markup
from bot.sandbox.params import Params
from bot.sandbox.records import Chat, Message
from bot.sandbox.state import World
from bot.sandbox.updates import ALL_UPDATE_TYPES

MAX_TEXT_LENGTH = 4096
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_COMMAND = re.compile(r"[a-z0-9_]{1,32}")
_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")

Method = Callable[[Params], Awaitable[Any]]


class BotApi:
    """The methods a bot calls, by their Bot API names (matched case-insensitively)."""

    def __init__(self, world: World, limiter: RateLimiter | StrictRateLimiter) -> None:
        self.world = world
        self.limiter = limiter
        self._methods: dict[str, Method] = {
            "getme": self.get_me,
            "getupdates": self.get_updates,
            "setwebhook": self.set_webhook,
            "deletewebhook": self.delete_webhook,
            "getwebhookinfo": self.get_webhook_info,
            "sendmessage": self.send_message,
            "editmessagetext": self.edit_message_text,
            "editmessagereplymarkup": self.edit_message_reply_markup,
            "answercallbackquery": self.answer_callback_query,
            "deletemessage": self.delete_message,
            "setmycommands": self.set_my_commands,
            "getmycommands": self.get_my_commands,
            "deletemycommands": self.delete_my_commands,
            "sendchataction": self.send_chat_action,
            "close": self.close,
            "logout": self.close,
        }

    def lookup(self, method: str) -> Method:
        """Return the handler of ``method`` or the 404 Telegram answers for an unknown one."""
        try:
            return self._methods[method.lower()]
        except KeyError:
            raise ApiError(404, "Not Found: method not found") from None

    # -- shared checks ---------------------------------------------------------------------

    def _writable_chat(self, params: Params) -> Chat:
        chat = self.world.chat(params.chat_id())
        if chat.type == "private":
            user = self.world.users.get(chat.user_id or 0)
            if user is not None and user.blocked:
                raise forbidden("bot was blocked by the user")
            if user is not None and not user.started:
                raise forbidden("bot can't initiate conversation with a user")
        return chat

    def _text(self, params: Params) -> tuple[str, ParsedText, str | None]:
        raw = params.req_str("text", missing="message text is empty")
        parse_mode = params.opt_str("parse_mode")
        parsed = parse_text(raw, parse_mode, params.opt_json("entities"))
        if not parsed.text.strip():
            raise bad_request("message text is empty")
        if len(parsed.text) > MAX_TEXT_LENGTH:
            raise bad_request("message is too long")
        return raw, parsed, parse_mode or None

    def _limit(self, chat: Chat) -> None:
        retry_after = self.limiter.acquire(chat.id, group=chat.type != "private")
        if retry_after is not None:
            self.world.stats.rate_limited += 1
            raise ApiError(
                429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after
            )

    def _bot_message(self, params: Params, *, missing: str) -> tuple[Chat, Message]:
        if "inline_message_id" in params and "chat_id" not in params:
            raise bad_request("inline messages are not supported by the sandbox")
        chat = self._writable_chat(params)
        message_id = params.req_int("message_id", missing="message identifier is not specified")
        message = self.world.message(chat, message_id)
        if message is None:
            raise bad_request(missing)
        if not message.from_bot:
            raise bad_request("message can't be edited")
        return chat, message

    # -- methods ---------------------------------------------------------------------------

    async def get_me(self, params: Params) -> Any:
        """Describe the bot."""
        return {
            **self.world.bot_user_json(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def get_updates(self, params: Params) -> Any:
        """Return pending updates, long-polling up to ``timeout`` seconds."""
        offset = params.opt_int("offset")
        limit = params.opt_int("limit") or 100
        timeout = params.opt_float("timeout") or 0.0
        allowed = _allowed_updates(params)
        if not 1 <= limit <= 100:
            limit = min(max(limit, 1), 100)
        if timeout < 0:
            raise bad_request('parameter "timeout" must not be negative')
        if self.world.webhook is None:
            self.world.set_allowed_updates(allowed)
        return await self.world.get_updates(offset=offset, limit=limit, wait=timeout)

    async def set_webhook(self, params: Params) -> Any:
        """Set (or, with an empty url, remove) the webhook."""
        url = params.opt_str("url") or ""
        drop = params.opt_bool("drop_pending_updates")
        if not url:
            self.world.delete_webhook(drop_pending=drop)
            return Described(True, "Webhook was deleted")
        if not url.startswith(("https://", "http://")):
            raise bad_request(
                "bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443"
            )
        if self.world.config.webhook_require_https and not url.startswith("https://"):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.opt_str("secret_token")
        if secret is not None and not _SECRET.fullmatch(secret):
            raise bad_request("secret token contains unallowed characters")
        max_connections = params.opt_int("max_connections") or 40
        if not 1 <= max_connections <= 100:
            raise bad_request('parameter "max_connections" must be between 1 and 100')
        self.world.set_allowed_updates(_allowed_updates(params))
        self.world.set_webhook(
            url, secret_token=secret, max_connections=max_connections, drop_pending=drop
        )
        return Described(True, "Webhook was set")

    async def delete_webhook(self, params: Params) -> Any:
        """Remove the webhook."""
        existed = self.world.webhook is not None
        self.world.delete_webhook(drop_pending=params.opt_bool("drop_pending_updates"))
        return Described(True, "Webhook was deleted" if existed else "Webhook is already deleted")

    async def get_webhook_info(self, params: Params) -> Any:
        """Describe the webhook and how many updates wait."""
        hook = self.world.webhook
        info: dict[str, Any] = {
            "url": hook.url if hook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self.world.pending),
        }
        if hook is not None:
            info["max_connections"] = hook.max_connections
            info["ip_address"] = "127.0.0.1"
            if hook.last_error_date is not None:
                info["last_error_date"] = hook.last_error_date
                info["last_error_message"] = hook.last_error_message
            if self.world.allowed_updates != frozenset():
                info["allowed_updates"] = sorted(self.world.allowed_updates)
        return info

    async def send_message(self, params: Params) -> Any:
        """Send a text message."""
        chat = self._writable_chat(params)
        raw, parsed, parse_mode = self._text(params)
        markup = validate_reply_markup(params.opt_json("reply_markup", what="reply keyboard"))
        reply_to = _reply_to(params)
        if reply_to is not None and self.world.message(chat, reply_to) is None:
            if not _allow_without_reply(params):
                raise bad_request("message to be replied not found")
            reply_to = None
        self._limit(chat)
        message = self.world.bot_send(
            chat,
            parsed,
            raw_text=raw,
            parse_mode=parse_mode,
            reply_markup=markup,
            reply_to=reply_to,
        )
        return self.world.message_json(message)

    async def edit_message_text(self, params: Params) -> Any:
        """Change the text (and inline keyboard) of a message the bot sent."""
        chat, message = self._bot_message(params, missing="message to edit not found")
        raw, parsed, parse_mode = self._text(params)
        markup = validate_reply_markup(
            params.opt_json("reply_markup", what="reply keyboard"), inline_only=True
        )
        if (
            parsed.text == message.text
            and parsed.entities == message.entities
            and markup == message.reply_markup
        ):
            raise bad_request(NOT_MODIFIED)
        if self.world.config.limit_edits:
            self._limit(chat)
        self.world.bot_edit(
            chat, message, parsed=parsed, raw_text=raw, parse_mode=parse_mode, reply_markup=markup
        )
        return self.world.message_json(message)

    async def edit_message_reply_markup(self, params: Params) -> Any:
        """Change (or remove) the inline keyboard of a message the bot sent."""
        chat, message = self._bot_message(params, missing="message to edit not found")
        markup = validate_reply_markup(
            params.opt_json("reply_markup", what="reply keyboard"), inline_only=True
        )
        if markup == message.reply_markup:
            raise bad_request(NOT_MODIFIED)
        if self.world.config.limit_edits:
            self._limit(chat)
        self.world.bot_edit(
            chat, message, parsed=None, raw_text=None, parse_mode=None, reply_markup=markup
        )
        return self.world.message_json(message)

    async def answer_callback_query(self, params: Params) -> Any:
        """Answer a button press with an optional toast or alert."""
        query_id = params.req_str("callback_query_id", missing="query ID is empty")
        query = self.world.callbacks.get(query_id)
        ttl = self.world.config.callback_query_ttl
        if (
            query is None
            or query.answered
            or (ttl is not None and self.world.clock() - query.created > ttl)
        ):
            raise bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        self.world.answer_callback(
            query,
            text=params.opt_str("text"),
            show_alert=params.opt_bool("show_alert"),
            url=params.opt_str("url"),
        )
        return True

    async def delete_message(self, params: Params) -> Any:
        """Delete a message."""
        chat = self.world.chat(params.chat_id())
        message_id = params.req_int("message_id", missing="message identifier is not specified")
        message = self.world.message(chat, message_id)
        if message is None:
            raise bad_request("message to delete not found")
        self.world.bot_delete(chat, message)
        return True

    async def set_my_commands(self, params: Params) -> Any:
        """Set the command list shown in the menu."""
        commands = params.opt_json("commands", what="commands")
        if not isinstance(commands, list):
            raise bad_request('parameter "commands" must be an array of BotCommand')
        if len(commands) > 100:
            raise bad_request("too many commands")
        cleaned = []
        for command in commands:
            if not isinstance(command, dict):
                raise bad_request('parameter "commands" must be an array of BotCommand')
            name = str(command.get("command", "")).removeprefix("/")
            description = str(command.get("description", ""))
            if not _COMMAND.fullmatch(name):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(description) <= 256:
                raise bad_request("command description must be 1-256 characters")
            cleaned.append({"command": name, "description": description})
        self.world.commands[_command_key(params)] = cleaned
        return True

    async def get_my_commands(self, params: Params) -> Any:
        """Return the command list for a scope and language."""
        return self.world.commands.get(_command_key(params), [])

    async def delete_my_commands(self, params: Params) -> Any:
        """Remove the command list for a scope and language."""
        self.world.commands.pop(_command_key(params), None)
        return True

    async def send_chat_action(self, params: Params) -> Any:
        """Show "typing..." and friends; nothing is stored."""
        self._writable_chat(params)
        action = params.req_str("action", missing="action is empty")
        if action not in _CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        self.world.stats.chat_actions += 1
        return True

    async def close(self, params: Params) -> Any:
        """Accept close/logOut; the sandbox has no session to close."""
        return True


@dataclass(frozen=True, slots=True)
class Described:
    """A result that also carries Telegram's human-readable ``description``."""

    result: Any
    description: str


def success_body(value: Any) -> dict[str, Any]:
    """Return the success body for a method result."""
    if isinstance(value, Described):
        return {"ok": True, "result": value.result, "description": value.description}
    return {"ok": True, "result": value}


def _allowed_updates(params: Params) -> list[str] | None:
    allowed = params.opt_json("allowed_updates", what="allowed updates")
    if allowed is None:
        return None
    if not isinstance(allowed, list) or not all(isinstance(a, str) for a in allowed):
        raise bad_request('parameter "allowed_updates" must be an array of strings')
    return [a for a in allowed if a in ALL_UPDATE_TYPES]


def _reply_to(params: Params) -> int | None:
    reply = params.opt_json("reply_parameters", what="reply parameters")
    if isinstance(reply, dict) and "message_id" in reply:
        return Params(reply).req_int("message_id")
    return params.opt_int("reply_to_message_id")


def _allow_without_reply(params: Params) -> bool:
    reply = params.opt_json("reply_parameters", what="reply parameters")
    if isinstance(reply, dict):
        return Params(reply).opt_bool("allow_sending_without_reply")
    return params.opt_bool("allow_sending_without_reply")


def _command_key(params: Params) -> tuple[str, str]:
    scope = params.opt_json("scope", what="scope")
    scope_type = scope.get("type", "default") if isinstance(scope, dict) else "default"
    return str(scope_type), params.opt_str("language_code") or ""
