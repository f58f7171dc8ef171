"""A local Telegram Bot API: the bot talks to it as to Telegram, tests talk to it as users.

Nothing in Psychograph's tests or demo reaches Telegram. Instead this sandbox, an aiohttp
server, answers the Bot API methods the bot uses (getMe, getUpdates, setWebhook,
deleteWebhook, getWebhookInfo, sendMessage, editMessageText, editMessageReplyMarkup,
answerCallbackQuery, deleteMessage, setMyCommands, getMyCommands, deleteMyCommands,
sendChatAction, close, logOut) at ``/bot{token}/{method}``, so the real
``telegram.ext.Application`` is pointed at it with
``ApplicationBuilder().token(config.token).base_url(f"http://{host}:{port}/bot")``.

It keeps Telegram's rules, so that what works here works on Telegram:

* update ids increase across the sandbox's life; message ids increase per chat;
* getUpdates long-polls (returns at once when updates exist, wakes as soon as one arrives),
  confirms updates below ``offset``, honours ``limit`` and ``allowed_updates``; a second
  getUpdates ends the first with 409, and with a webhook set it answers 409;
* setWebhook makes the sandbox POST updates to the URL with the
  ``X-Telegram-Bot-Api-Secret-Token`` header, in order per chat, retrying failures;
* callback data is 1-64 bytes (``BUTTON_DATA_INVALID``), text is 1-4096 characters after
  HTML/MarkdownV2 parsing, formatting errors are ``can't parse entities``, an edit that
  changes nothing is ``message is not modified``, editMessageText without ``reply_markup``
  removes the inline keyboard, an unknown chat is 400, a user who blocked the bot is 403,
  a wrong token is 401, an unknown method 404, a missing or mistyped parameter a 400 naming it;
* sendMessage is rate-limited as Telegram's Bot FAQ publishes it, strictly: no more than 30
  in any one-second window, one a second per private chat, 20 a minute per group; a
  violation answers 429 ``retry after N`` with ``parameters.retry_after`` and starts a flood
  wait during which every send it concerns is refused (``bot.sandbox.limits``); the lenient
  token buckets of earlier versions are chosen explicitly with ``strict=False``;
* setMyCommands is recorded; the control API shows it at ``/sandbox/commands``.

Faults can be injected (late responses with or without effect, 500/502 failures) to test how
the bot copes with timeouts. The respondent side is the HTTP control API under ``/sandbox/``
(see ``bot.sandbox.control``) and its client ``SandboxClient``. ``run_sandbox`` serves it
alone (``psychograph sandbox``).
"""

from bot.sandbox.client import SandboxClient, SandboxError
from bot.sandbox.config import DEFAULT_TOKEN, FaultConfig, SandboxConfig
from bot.sandbox.instance import SANDBOX, Sandbox
from bot.sandbox.limits import RateLimiter, StrictRateLimiter, TokenBucket
from bot.sandbox.models import (
    Button,
    ChatEvent,
    ChatMessage,
    ChatView,
    SandboxUser,
    Sent,
    Toast,
)
from bot.sandbox.server import create_sandbox_app, run_sandbox
from bot.sandbox.state import World
from bot.sandbox.webhook import SECRET_HEADER

__all__ = [
    "DEFAULT_TOKEN",
    "SANDBOX",
    "SECRET_HEADER",
    "Button",
    "ChatEvent",
    "ChatMessage",
    "ChatView",
    "FaultConfig",
    "RateLimiter",
    "Sandbox",
    "SandboxClient",
    "SandboxConfig",
    "SandboxError",
    "SandboxUser",
    "Sent",
    "StrictRateLimiter",
    "Toast",
    "TokenBucket",
    "World",
    "create_sandbox_app",
    "run_sandbox",
]
