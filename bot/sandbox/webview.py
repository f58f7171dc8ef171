"""The sandbox's chat view: each conversation in the browser, as the respondent saw it.

``GET /sandbox/view/chats`` lists the chats; ``GET /sandbox/view/chats/{chat_id}`` shows one:
the messages in order with their formatting (from the stored entities), inline buttons and
which of them were pressed, the answers those presses got (toasts and alerts), edits with
the earlier wording, deleted messages, and the messages the bot sent on its own (follow-ups).
Plain HTML with no JavaScript; every text is escaped.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

from aiohttp import web

from bot.sandbox.errors import ControlError
from bot.sandbox.instance import SANDBOX
from bot.sandbox.records import CallbackQuery, Chat, Message
from bot.sandbox.state import World

routes = web.RouteTableDef()

#: Chats listed per page of the index.
PAGE_SIZE = 200

_TAGS = {
    "bold": ("<strong>", "</strong>"),
    "italic": ("<em>", "</em>"),
    "underline": ("<u>", "</u>"),
    "strikethrough": ("<s>", "</s>"),
    "code": ("<code>", "</code>"),
    "pre": ("<code class='pre'>", "</code>"),
    "spoiler": ("<span class='spoiler' title='spoiler'>", "</span>"),
    "blockquote": ("<span class='quote'>", "</span>"),
    "expandable_blockquote": ("<span class='quote'>", "</span>"),
    "bot_command": ("<span class='command'>", "</span>"),
    "mention": ("<span class='mention'>", "</span>"),
    "hashtag": ("<span class='mention'>", "</span>"),
}

STYLE = """
body { font-family: system-ui, sans-serif; margin: 0; background: #e6ebee; color: #111; }
header { background: #517da2; color: #fff; padding: .6rem 1rem; display: flex; flex-wrap: wrap;
  gap: .3rem 1rem; align-items: baseline; }
header a { color: #fff; }
main { max-width: 720px; margin: 0 auto; padding: .8rem; }
.msg { max-width: 85%; margin: .45rem 0; padding: .45rem .7rem; border-radius: .7rem;
  background: #fff; box-shadow: 0 1px 1px rgba(0,0,0,.12); overflow-wrap: anywhere; }
.msg.user { margin-left: auto; background: #effdde; }
.msg.deleted { opacity: .55; }
.text { white-space: pre-wrap; }
.meta { font-size: .75rem; color: #6b7b8a; margin-top: .2rem; }
.tag { display: inline-block; font-size: .72rem; background: #fdf1c7; color: #6b5200;
  border-radius: .3rem; padding: 0 .35rem; margin-bottom: .25rem; }
.buttons { display: grid; gap: .25rem; margin-top: .4rem; }
.row { display: flex; flex-wrap: wrap; gap: .25rem; }
.button { flex: 1 1 auto; text-align: center; background: #f1f5f8; border: 1px solid #cfd9e1;
  border-radius: .4rem; padding: .25rem .4rem; font-size: .88rem; color: #2b5278;
  text-decoration: none; }
.button.pressed { background: #d5e8fa; border-color: #5b9bd5; font-weight: 600; }
.toast { font-size: .82rem; color: #3a4a58; background: #eef2f5; border-left: 3px solid #5b9bd5;
  padding: .2rem .45rem; margin-top: .3rem; }
code, .pre { font-family: ui-monospace, monospace; font-size: .9em; background: #f3f3f3; }
.spoiler { background: #ccc; }
.quote { display: block; border-left: 3px solid #5b9bd5; padding-left: .5rem; }
.command, .mention { color: #2b6cb0; }
details { font-size: .82rem; color: #555; margin-top: .3rem; }
table { border-collapse: collapse; background: #fff; width: 100%; }
th, td { border-bottom: 1px solid #dde3e8; padding: .35rem .5rem; text-align: left; }
.muted { color: #6b7b8a; }
.blocked { background: #fbeaea; color: #8a1f1f; padding: .4rem .7rem; border-radius: .4rem; }
"""


def _page(title: str, body: str, *, status: int = 200) -> web.Response:
    html = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{escape(title)} · Telegram sandbox</title>"
        "<link rel='icon' href='data:,'>"
        f"<style>{STYLE}</style></head><body>{body}</body></html>"
    )
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


def _time(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


# --- formatting --------------------------------------------------------------------------


def _utf16_offsets(text: str) -> list[int]:
    """Return the UTF-16 offset of each character of ``text`` (and of its end)."""
    offsets = [0]
    for char in text:
        offsets.append(offsets[-1] + (2 if ord(char) > 0xFFFF else 1))
    return offsets


def _href(entity: dict[str, Any], shown: str) -> str | None:
    url = entity.get("url") if entity.get("type") == "text_link" else shown
    if isinstance(url, str) and url.startswith(("http://", "https://", "tg://")):
        return url
    return None


def formatted(text: str, entities: Sequence[dict[str, Any]]) -> str:
    """Render plain text and its entities (UTF-16 offsets, as Telegram sends them) as HTML.

    The text is cut at every entity boundary and each piece is wrapped in the tags of the
    entities that cover it, so overlapping entities still give well-formed HTML.
    """
    offsets = _utf16_offsets(text)
    index = {offset: i for i, offset in enumerate(offsets)}
    spans = []
    for entity in entities:
        start = int(entity.get("offset", 0))
        end = start + int(entity.get("length", 0))
        if start in index and end in index and end > start:
            spans.append((index[start], index[end], entity))
    cuts = sorted({0, len(text), *(s for s, _, _ in spans), *(e for _, e, _ in spans)})
    out = []
    for a, b in itertools.pairwise(cuts):
        piece = escape(text[a:b])
        for start, end, entity in spans:
            if start <= a and b <= end:
                kind = str(entity.get("type"))
                if kind in ("url", "text_link"):
                    href = _href(entity, text[start:end])
                    if href is not None:
                        piece = (
                            f"<a href='{escape(href)}' rel='noopener noreferrer nofollow'>"
                            f"{piece}</a>"
                        )
                elif kind in _TAGS:
                    opening, closing = _TAGS[kind]
                    piece = f"{opening}{piece}{closing}"
        out.append(piece)
    return "".join(out)


# --- one chat ----------------------------------------------------------------------------


def _edits(chat: Chat) -> dict[int, list[dict[str, Any]]]:
    """Return message id -> the versions it showed, oldest first (from the chat's events)."""
    versions: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for event in chat.events:
        if event.get("kind") in ("message", "edit") and event.get("message"):
            versions[int(event["message_id"])].append(event["message"])
    return versions


def _buttons(
    message: Message,
    presses: Iterable[CallbackQuery],
    toasts: dict[str, dict[str, Any]],
    versions: Sequence[dict[str, Any]],
) -> str:
    presses = list(presses)
    pressed: dict[str, int] = defaultdict(int)
    for query in presses:
        pressed[query.data] += 1
    rows = []
    for row in message.inline_keyboard:
        cells = []
        for button in row:
            text = escape(str(button.get("text", "")))
            if "url" in button:
                cells.append(
                    f"<a class='button' href='{escape(str(button['url']))}' "
                    f"rel='noopener noreferrer nofollow'>{text}{'' if '↗' in text else ' ↗'}</a>"
                )
                continue
            data = str(button.get("callback_data", ""))
            times = pressed.pop(data, 0)
            mark = f" ✓{f' ×{times}' if times > 1 else ''}" if times else ""
            cls = "button pressed" if times else "button"
            title = "pressed" if times else "not pressed"
            cells.append(f"<span class='{cls}' title='{title}'>{text}{mark}</span>")
        rows.append(f"<div class='row'>{''.join(cells)}</div>")
    # Presses of buttons no longer shown: the keyboard changed (or went) after the press.
    earlier = {
        str(button.get("callback_data")): str(button.get("text", ""))
        for version in versions
        for row in version.get("buttons") or []
        for button in row
        if button.get("callback_data") is not None
    }
    gone = "".join(
        f"<div class='toast'>pressed “{escape(earlier[data])}”</div>"
        if data in earlier
        else f"<div class='toast'>pressed a button no longer shown (<code>{escape(data)}</code>)"
        "</div>"
        for data in pressed
    )
    answers = "".join(
        f"<div class='toast'>{'alert' if t.get('show_alert') else 'toast'}: "
        f"{escape(str(t.get('text')))}</div>"
        for q in presses
        if (t := toasts.get(q.id)) is not None and t.get("text")
    )
    body = "".join(rows)
    return (f"<div class='buttons'>{body}</div>" if body else "") + gone + answers


def _message_html(
    message: Message,
    *,
    versions: list[dict[str, Any]],
    presses: list[CallbackQuery],
    toasts: dict[str, dict[str, Any]],
) -> str:
    who = "bot" if message.from_bot else "user"
    classes = f"msg {who}{' deleted' if message.deleted else ''}"
    tags = []
    if message.from_bot and message.unprompted:
        tags.append("sent by the bot on its own (e.g. a follow-up)")
    if message.deleted:
        tags.append("deleted by the bot")
    head = "".join(f"<div class='tag'>{escape(t)}</div>" for t in tags)
    if message.text is not None:
        body = formatted(message.text, message.entities)
    elif message.caption is not None:
        body = f"[{escape(message.kind)}] {escape(message.caption)}"
    else:
        body = f"<span class='muted'>[{escape(message.kind)}]</span>"
    meta = f"#{message.message_id} · {_time(message.date)}"
    if message.edit_date is not None:
        meta += f" · edited {_time(message.edit_date)}"
    history = ""
    earlier = [v for v in versions[:-1] if v.get("text") != message.text]
    if earlier:
        items = "".join(
            f"<li><div class='text'>{formatted(v.get('text') or '', v.get('entities') or [])}"
            "</div></li>"
            for v in earlier
        )
        history = (
            f"<details><summary>{len(earlier)} earlier wording"
            f"{'s' if len(earlier) != 1 else ''}</summary><ol>{items}</ol></details>"
        )
    return (
        f"<div class='{classes}' id='m{message.message_id}'>{head}"
        f"<div class='text'>{body}</div>{_buttons(message, presses, toasts, versions)}{history}"
        f"<div class='meta'>{meta}</div></div>"
    )


def chat_page(world: World, chat_id: int) -> tuple[str, str]:
    """Return the title and body of one chat's page."""
    chat = world.chats.get(chat_id)
    if chat is None:
        raise ControlError(404, f"no chat {chat_id}")
    user = world.users.get(chat.user_id) if chat.user_id is not None else None
    name = chat.title or (user.first_name if user else str(chat.id))
    presses: dict[int, list[CallbackQuery]] = defaultdict(list)
    for query in world.callbacks.values():
        if query.chat_id == chat.id:
            presses[query.message_id].append(query)
    toasts = {str(t["callback_query_id"]): t for t in chat.toasts}
    versions = _edits(chat)
    messages = (
        "".join(
            _message_html(
                m,
                versions=versions.get(m.message_id, []),
                presses=presses[m.message_id],
                toasts=toasts,
            )
            for m in sorted(chat.messages.values(), key=lambda m: m.message_id)
        )
        or "<p class='muted'>Nothing was said in this chat yet.</p>"
    )
    blocked = (
        "<p class='blocked'>This person has blocked the bot: the bot's messages to them are "
        "refused with 403 Forbidden.</p>"
        if user is not None and user.blocked
        else ""
    )
    keyboard = ""
    if chat.reply_keyboard:
        keys = "".join(
            "<div class='row'>"
            + "".join(f"<span class='button'>{escape(k)}</span>" for k in row)
            + "</div>"
            for row in chat.reply_keyboard
        )
        keyboard = f"<p class='muted'>Keyboard shown below the input:</p><div>{keys}</div>"
    body = (
        f"<header><strong>{escape(name)}</strong><span>chat {chat.id} ({escape(chat.type)})"
        f"</span><a href='/sandbox/view/chats'>All chats</a>"
        f"<a href='/sandbox/chats/{chat.id}'>JSON</a></header>"
        f"<main>{blocked}{messages}{keyboard}</main>"
    )
    return f"Chat with {name}", body


def index_page(world: World, *, page: int) -> str:
    """Return the body of the list of chats, newest activity last."""
    chats = sorted(world.chats.values(), key=lambda c: c.id)
    shown = chats[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
    rows = []
    for chat in shown:
        user = world.users.get(chat.user_id) if chat.user_id is not None else None
        name = chat.title or (user.first_name if user else str(chat.id))
        messages = [m for m in chat.messages.values() if not m.deleted]
        unprompted = sum(m.from_bot and m.unprompted for m in messages)
        state = "blocked the bot" if user is not None and user.blocked else ""
        rows.append(
            f"<tr><td><a href='/sandbox/view/chats/{chat.id}'>{escape(name)}</a></td>"
            f"<td>{len(messages)}</td><td>{unprompted}</td><td>{state}</td></tr>"
        )
    pages = ""
    if len(chats) > PAGE_SIZE:
        links = []
        if page > 0:
            links.append(f"<a href='?page={page - 1}'>← previous</a>")
        if (page + 1) * PAGE_SIZE < len(chats):
            links.append(f"<a href='?page={page + 1}'>next →</a>")
        pages = f"<p>{' · '.join(links)}</p>"
    table = (
        "<table><tr><th>Chat</th><th>Messages</th><th>Sent on the bot's own</th>"
        "<th></th></tr>" + "".join(rows) + "</table>"
        if rows
        else "<p class='muted'>No chats yet: chats appear when a user writes to the bot.</p>"
    )
    return (
        "<header><strong>Telegram sandbox</strong>"
        f"<span>{len(chats):,} chats</span></header><main>{table}{pages}</main>"
    )


@routes.get("/sandbox/view/chats")
async def chats_view(request: web.Request) -> web.Response:
    """List every chat, each linking to its view."""
    try:
        page = max(0, int(request.query.get("page", "0")))
    except ValueError:
        raise ControlError(400, "page must be a whole number") from None
    return _page("Chats", index_page(request.app[SANDBOX].world, page=page))


@routes.get("/sandbox/view/chats/{chat_id}")
async def chat_view(request: web.Request) -> web.Response:
    """Show one chat as the respondent saw it."""
    try:
        title, body = chat_page(request.app[SANDBOX].world, int(request.match_info["chat_id"]))
    except (ControlError, ValueError) as exc:
        message = exc.message if isinstance(exc, ControlError) else "not a chat id"
        back = "<a href='/sandbox/view/chats'>All chats</a>"
        return _page(
            "No such chat",
            f"<header><strong>Telegram sandbox</strong>{back}</header>"
            f"<main><p class='blocked'>{escape(message)}</p></main>",
            status=404,
        )
    return _page(title, body)
