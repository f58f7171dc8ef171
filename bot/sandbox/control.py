"""The respondent-side control API under ``/sandbox/``: act as users and read their chats.

All bodies and answers are JSON. A refused action answers ``{"error": "..."}`` with a 4xx
status that says why (404 unknown user or chat, 409 the action is not possible as the chat is
shown now, 400 a malformed request).
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot.sandbox.errors import ControlError
from bot.sandbox.instance import SANDBOX, Sandbox
from bot.sandbox.records import User

routes = web.RouteTableDef()
_file_ids = itertools.count(1)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def control_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer a refused control action with its status and a readable reason."""
    try:
        return await handler(request)
    except ControlError as exc:
        return web.json_response({"error": exc.message}, status=exc.status)


def _sandbox(request: web.Request) -> Sandbox:
    return request.app[SANDBOX]


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise ControlError(400, "the request body must be a JSON object") from None
    if not isinstance(body, dict):
        raise ControlError(400, "the request body must be a JSON object")
    return body


def _int(data: dict[str, Any], name: str, *, required: bool = False) -> int | None:
    value = data.get(name)
    if value is None:
        if required:
            raise ControlError(400, f'field "{name}" is required')
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ControlError(400, f'field "{name}" must be an integer, got {value!r}')
    try:
        return int(value)
    except ValueError:
        raise ControlError(400, f'field "{name}" must be an integer, got {value!r}') from None


def _req_int(data: dict[str, Any], name: str) -> int:
    value = _int(data, name, required=True)
    assert value is not None
    return value


def _str(data: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = data.get(name)
    if value is None:
        if required:
            raise ControlError(400, f'field "{name}" is required')
        return None
    if not isinstance(value, str):
        raise ControlError(400, f'field "{name}" must be a string, got {value!r}')
    return value


def _path_int(request: web.Request, name: str) -> int:
    try:
        return int(request.match_info[name])
    except ValueError:
        raise ControlError(400, f"{name} must be an integer") from None


def _user_json(user: User) -> dict[str, Any]:
    return {**user.to_json(), "blocked": user.blocked, "started": user.started}


def _sent(sandbox: Sandbox, chat_id: int, update_id: int | None, **extra: Any) -> web.Response:
    return web.json_response(
        {
            "update_id": update_id,
            "chat_id": chat_id,
            "seq": sandbox.world.chats[chat_id].seq,
            **extra,
        }
    )


def _file(kind: str) -> dict[str, str]:
    number = next(_file_ids)
    return {"file_id": f"sandbox-{kind}-{number}", "file_unique_id": f"u{kind[:2]}{number}"}


@routes.post("/sandbox/users")
async def create_user(request: web.Request) -> web.Response:
    """Create a user with a private chat with the bot."""
    body = await _body(request)
    user = _sandbox(request).world.create_user(
        _int(body, "id"),
        first_name=_str(body, "first_name") or "Test",
        last_name=_str(body, "last_name"),
        username=_str(body, "username"),
        language_code=_str(body, "language_code") if "language_code" in body else "en",
        started=bool(body.get("started", True)),
    )
    return web.json_response(_user_json(user), status=201)


@routes.get("/sandbox/users/{user_id}")
async def get_user(request: web.Request) -> web.Response:
    """Describe a user."""
    user = _sandbox(request).world.user(_path_int(request, "user_id"))
    return web.json_response(_user_json(user))


@routes.post("/sandbox/users/{user_id}/messages")
async def send_text(request: web.Request) -> web.Response:
    """Type a text message (commands in it get bot_command entities)."""
    sandbox, body = _sandbox(request), await _body(request)
    text = _str(body, "text", required=True) or ""
    if not text.strip():
        raise ControlError(400, "a Telegram client does not send an empty message")
    message, update_id = sandbox.world.user_message(
        _path_int(request, "user_id"),
        chat_id=_int(body, "chat_id"),
        text=text,
        reply_to=_int(body, "reply_to_message_id"),
    )
    return _sent(sandbox, message.chat_id, update_id, message_id=message.message_id)


@routes.post("/sandbox/users/{user_id}/commands")
async def send_command(request: web.Request) -> web.Response:
    """Send ``/command args`` as the user (in a group, addressed ``/command@bot``)."""
    sandbox, body = _sandbox(request), await _body(request)
    command = (_str(body, "command", required=True) or "").removeprefix("/")
    if not command or " " in command:
        raise ControlError(400, 'field "command" must be one word such as "start"')
    chat_id = _int(body, "chat_id")
    chat = sandbox.world.chats.get(chat_id) if chat_id is not None else None
    if chat is not None and chat.type != "private" and "@" not in command:
        command = f"{command}@{sandbox.config.bot_username}"
    args = _str(body, "args") or ""
    text = f"/{command} {args}".rstrip()
    message, update_id = sandbox.world.user_message(
        _path_int(request, "user_id"), chat_id=chat_id, text=text
    )
    return _sent(sandbox, message.chat_id, update_id, message_id=message.message_id)


@routes.post("/sandbox/users/{user_id}/presses")
async def press_button(request: web.Request) -> web.Response:
    """Press an inline button on a message, chosen by callback data or by its text."""
    sandbox, body = _sandbox(request), await _body(request)
    query, update_id = sandbox.world.user_press(
        _path_int(request, "user_id"),
        _req_int(body, "message_id"),
        data=_str(body, "data"),
        text=_str(body, "text"),
        chat_id=_int(body, "chat_id"),
    )
    return _sent(
        sandbox,
        query.chat_id,
        update_id,
        message_id=query.message_id,
        callback_query_id=query.id,
        data=query.data,
    )


@routes.post("/sandbox/users/{user_id}/stickers")
async def send_sticker(request: web.Request) -> web.Response:
    """Send a sticker."""
    sandbox, body = _sandbox(request), await _body(request)
    sticker = {
        **_file("sticker"),
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
        "emoji": _str(body, "emoji") or "👍",
    }
    message, update_id = sandbox.world.user_message(
        _path_int(request, "user_id"), chat_id=_int(body, "chat_id"), media={"sticker": sticker}
    )
    return _sent(sandbox, message.chat_id, update_id, message_id=message.message_id)


@routes.post("/sandbox/users/{user_id}/photos")
async def send_photo(request: web.Request) -> web.Response:
    """Send a photo (two sizes, as Telegram delivers them), optionally with a caption."""
    sandbox, body = _sandbox(request), await _body(request)
    sizes = [
        {**_file("photo"), "width": side, "height": side, "file_size": side * 40}
        for side in (90, 800)
    ]
    message, update_id = sandbox.world.user_message(
        _path_int(request, "user_id"),
        chat_id=_int(body, "chat_id"),
        media={"photo": sizes},
        caption=_str(body, "caption"),
    )
    return _sent(sandbox, message.chat_id, update_id, message_id=message.message_id)


@routes.post("/sandbox/users/{user_id}/voices")
async def send_voice(request: web.Request) -> web.Response:
    """Send a voice message."""
    sandbox, body = _sandbox(request), await _body(request)
    duration = _int(body, "duration") or 3
    voice = {**_file("voice"), "duration": duration, "mime_type": "audio/ogg"}
    message, update_id = sandbox.world.user_message(
        _path_int(request, "user_id"), chat_id=_int(body, "chat_id"), media={"voice": voice}
    )
    return _sent(sandbox, message.chat_id, update_id, message_id=message.message_id)


@routes.post("/sandbox/users/{user_id}/edits")
async def edit_text(request: web.Request) -> web.Response:
    """Edit a text message the user sent earlier."""
    sandbox, body = _sandbox(request), await _body(request)
    message, update_id = sandbox.world.user_edit(
        _path_int(request, "user_id"),
        _req_int(body, "message_id"),
        _str(body, "text", required=True) or "",
        chat_id=_int(body, "chat_id"),
    )
    return _sent(sandbox, message.chat_id, update_id, message_id=message.message_id)


@routes.post("/sandbox/users/{user_id}/block")
async def block(request: web.Request) -> web.Response:
    """Block the bot: its messages to the user now fail with 403."""
    sandbox = _sandbox(request)
    user_id = _path_int(request, "user_id")
    update_id = sandbox.world.set_blocked(user_id, True)
    return _sent(sandbox, user_id, update_id)


@routes.post("/sandbox/users/{user_id}/unblock")
async def unblock(request: web.Request) -> web.Response:
    """Unblock the bot."""
    sandbox = _sandbox(request)
    user_id = _path_int(request, "user_id")
    update_id = sandbox.world.set_blocked(user_id, False)
    return _sent(sandbox, user_id, update_id)


@routes.post("/sandbox/groups")
async def create_group(request: web.Request) -> web.Response:
    """Create a group, supergroup or channel that has the bot in it."""
    sandbox, body = _sandbox(request), await _body(request)
    kind = _str(body, "type") or "group"
    if kind not in ("group", "supergroup", "channel"):
        raise ControlError(400, 'field "type" must be "group", "supergroup" or "channel"')
    chat = sandbox.world.create_group(
        _int(body, "id"), _str(body, "title") or "Sandbox group", kind=kind
    )
    chat.username = _str(body, "username") or chat.username
    return web.json_response(sandbox.world.chat_json(chat), status=201)


@routes.post("/sandbox/channels/{chat_id}/posts")
async def channel_post(request: web.Request) -> web.Response:
    """Post in a channel."""
    sandbox, body = _sandbox(request), await _body(request)
    message, update_id = sandbox.world.channel_post(
        _path_int(request, "chat_id"), _str(body, "text", required=True) or ""
    )
    return _sent(sandbox, message.chat_id, update_id, message_id=message.message_id)


@routes.post("/sandbox/updates")
async def raw_update(request: web.Request) -> web.Response:
    """Queue any update given as Bot API JSON (``update_id`` is assigned here)."""
    sandbox, body = _sandbox(request), await _body(request)
    return web.json_response({"update_id": sandbox.world.raw_update(body)})


@routes.get("/sandbox/chats/{chat_id}")
async def read_chat(request: web.Request) -> web.Response:
    """Show the chat as the user sees it now."""
    return web.json_response(_sandbox(request).world.chat_view(_path_int(request, "chat_id")))


@routes.get("/sandbox/chats/{chat_id}/events")
async def chat_events(request: web.Request) -> web.Response:
    """Return what the bot did in the chat after ``after``, waiting up to ``timeout`` seconds."""
    query = dict(request.query)
    after = _int(query, "after") or 0
    try:
        timeout = min(float(query.get("timeout", "0")), 300.0)
    except ValueError:
        raise ControlError(400, "timeout must be a number of seconds") from None
    world = _sandbox(request).world
    chat_id = _path_int(request, "chat_id")
    events = await world.wait_events(chat_id, after=after, wait=timeout)
    return web.json_response({"events": events, "last_seq": world.control_chat(chat_id).seq})


@routes.get("/sandbox/stats")
async def stats(request: web.Request) -> web.Response:
    """Return the sandbox's counters."""
    world = _sandbox(request).world
    return web.json_response(
        {
            **world.stats.to_json(),
            "pending_updates": len(world.pending),
            "webhook_url": world.webhook.url if world.webhook else None,
        }
    )


@routes.get("/sandbox/faults")
async def get_faults(request: web.Request) -> web.Response:
    """Show the faults in force."""
    return web.json_response(_sandbox(request).faults.to_json())


@routes.post("/sandbox/faults")
async def set_faults(request: web.Request) -> web.Response:
    """Change some fault settings (the fields of ``FaultConfig``)."""
    faults, body = _sandbox(request).faults, await _body(request)
    try:
        faults.update(body)
    except TypeError as exc:
        raise ControlError(400, f"unknown fault setting: {exc}") from None
    return web.json_response(faults.to_json())


@routes.get("/sandbox/limits")
async def get_limits(request: web.Request) -> web.Response:
    """Show whether rate limits are enforced, and whether strictly."""
    limiter = _sandbox(request).limiter
    return web.json_response({"enabled": limiter.enabled, "strict": limiter.strict})


@routes.post("/sandbox/limits")
async def set_limits(request: web.Request) -> web.Response:
    """Switch rate limits on or off (``{"enabled": false}``); ``reset`` forgets past sends."""
    limiter, body = _sandbox(request).limiter, await _body(request)
    if "enabled" in body:
        limiter.enabled = bool(body["enabled"])
    if body.get("reset"):
        limiter.reset()
    return web.json_response({"enabled": limiter.enabled, "strict": limiter.strict})


@routes.get("/sandbox/commands")
async def get_commands(request: web.Request) -> web.Response:
    """Show the command menus the bot set (setMyCommands), by scope and language."""
    commands = _sandbox(request).world.commands
    return web.json_response(
        [
            {"scope": scope, "language_code": language, "commands": listed}
            for (scope, language), listed in sorted(commands.items())
        ]
    )


@routes.post("/sandbox/reset")
async def reset(request: web.Request) -> web.Response:
    """Forget all users, chats, updates and counters; faults and limits return to the config."""
    _sandbox(request).reset()
    return web.json_response({"ok": True})
