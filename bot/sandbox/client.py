"""The respondent side of the sandbox, as an async Python client of its control API.

Typical use in a test::

    async with SandboxClient("http://127.0.0.1:8081") as respondent:
        user = await respondent.create_user(first_name="Ada", language_code="en")
        await respondent.send_command(user.id, "start", "big-five")
        question = await respondent.wait_for_reply(user.id)
        await respondent.press(user.id, question.message_id, text="Agree")
        edited = await respondent.wait_for_reply(user.id)

The client remembers, per chat, how far the respondent has read: each action moves that point
to "now", and ``next_event`` / ``wait_for_reply`` return what the bot did after it, waiting
(server-side, without polling) until it happens.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any

import aiohttp

from bot.sandbox.models import ChatEvent, ChatMessage, ChatView, SandboxUser, Sent


def _compact(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if value is not None}


class SandboxError(Exception):
    """The sandbox refused a respondent action; ``status`` and ``message`` say why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class SandboxClient:
    """Act as respondents and read their chats through a sandbox's control API.

    Parameters
    ----------
    base_url
        The sandbox's root, e.g. ``http://127.0.0.1:8081`` (without ``/bot``).
    session
        An aiohttp session to use; by default the client opens (and closes) its own.
    """

    def __init__(self, base_url: str, *, session: aiohttp.ClientSession | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = session
        self._own_session = session is None
        self._cursors: dict[int, int] = {}

    async def __aenter__(self) -> SandboxClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the client's own HTTP session."""
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def _request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        params: dict[str, str] | None = None,
        http_timeout: float = 30.0,
    ) -> Any:
        if self._session is None:
            # Every simulated person may hold a long poll open: no cap on connections.
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        async with self._session.request(
            method,
            f"{self.base_url}{path}",
            json=body if method == "POST" else None,
            params=params,
            timeout=aiohttp.ClientTimeout(total=http_timeout),
        ) as response:
            data = await response.json()
            if response.status >= 400:
                raise SandboxError(response.status, data.get("error", str(data)))
            return data

    async def _act(self, path: str, body: dict[str, Any]) -> Sent:
        sent = Sent.from_json(await self._request("POST", path, _compact(body)))
        self._cursors[sent.chat_id] = sent.seq
        return sent

    # -- users -----------------------------------------------------------------------------

    async def create_user(
        self,
        user_id: int | None = None,
        *,
        first_name: str = "Test",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
        started: bool = True,
    ) -> SandboxUser:
        """Create a user; ``started=False`` makes one the bot cannot write to until they do."""
        data = await self._request(
            "POST",
            "/sandbox/users",
            _compact(
                {
                    "id": user_id,
                    "first_name": first_name,
                    "last_name": last_name,
                    "username": username,
                    "language_code": language_code,
                    "started": started,
                }
            ),
        )
        return SandboxUser.from_json(data)

    async def block(self, user_id: int) -> Sent:
        """Block the bot as this user."""
        return await self._act(f"/sandbox/users/{user_id}/block", {})

    async def unblock(self, user_id: int) -> Sent:
        """Unblock the bot as this user."""
        return await self._act(f"/sandbox/users/{user_id}/unblock", {})

    # -- writing ---------------------------------------------------------------------------

    async def send_text(
        self,
        user_id: int,
        text: str,
        *,
        chat_id: int | None = None,
        reply_to_message_id: int | None = None,
    ) -> Sent:
        """Type ``text`` in the user's private chat (or ``chat_id``, a group)."""
        return await self._act(
            f"/sandbox/users/{user_id}/messages",
            {"text": text, "chat_id": chat_id, "reply_to_message_id": reply_to_message_id},
        )

    async def send_command(
        self, user_id: int, command: str, args: str = "", *, chat_id: int | None = None
    ) -> Sent:
        """Send ``/command args`` (e.g. ``send_command(uid, "start", "big-five")``)."""
        return await self._act(
            f"/sandbox/users/{user_id}/commands",
            {"command": command, "args": args, "chat_id": chat_id},
        )

    async def press(
        self,
        user_id: int,
        message_id: int,
        *,
        data: str | None = None,
        text: str | None = None,
        chat_id: int | None = None,
    ) -> Sent:
        """Press the inline button with callback ``data`` (or labelled ``text``) on a message."""
        return await self._act(
            f"/sandbox/users/{user_id}/presses",
            {"message_id": message_id, "data": data, "text": text, "chat_id": chat_id},
        )

    async def edit_text(
        self, user_id: int, message_id: int, text: str, *, chat_id: int | None = None
    ) -> Sent:
        """Edit a message the user sent, producing an ``edited_message`` update."""
        return await self._act(
            f"/sandbox/users/{user_id}/edits",
            {"message_id": message_id, "text": text, "chat_id": chat_id},
        )

    async def send_sticker(
        self, user_id: int, *, emoji: str = "👍", chat_id: int | None = None
    ) -> Sent:
        """Send a sticker."""
        return await self._act(
            f"/sandbox/users/{user_id}/stickers", {"emoji": emoji, "chat_id": chat_id}
        )

    async def send_photo(
        self, user_id: int, *, caption: str | None = None, chat_id: int | None = None
    ) -> Sent:
        """Send a photo, optionally captioned."""
        return await self._act(
            f"/sandbox/users/{user_id}/photos", {"caption": caption, "chat_id": chat_id}
        )

    async def send_voice(
        self, user_id: int, *, duration: int = 3, chat_id: int | None = None
    ) -> Sent:
        """Send a voice message."""
        return await self._act(
            f"/sandbox/users/{user_id}/voices", {"duration": duration, "chat_id": chat_id}
        )

    async def create_group(
        self,
        title: str,
        *,
        chat_id: int | None = None,
        kind: str = "group",
        username: str | None = None,
    ) -> int:
        """Create a group, supergroup or channel with the bot in it; return its chat id."""
        data = await self._request(
            "POST",
            "/sandbox/groups",
            _compact({"title": title, "id": chat_id, "type": kind, "username": username}),
        )
        chat_id_: int = data["id"]
        return chat_id_

    async def post_in_channel(self, chat_id: int, text: str) -> Sent:
        """Post in a channel, producing a ``channel_post`` update."""
        return await self._act(f"/sandbox/channels/{chat_id}/posts", {"text": text})

    async def send_raw_update(self, update: dict[str, Any]) -> int | None:
        """Queue any update given as Bot API JSON; return its ``update_id``."""
        data = await self._request("POST", "/sandbox/updates", update)
        update_id: int | None = data["update_id"]
        return update_id

    # -- reading ---------------------------------------------------------------------------

    async def chat(self, chat_id: int) -> ChatView:
        """Return the chat as the user sees it now."""
        return ChatView.from_json(await self._request("GET", f"/sandbox/chats/{chat_id}"))

    async def next_event(
        self,
        chat_id: int,
        *,
        # The wait happens in the sandbox (a long poll), so asyncio.timeout cannot replace it.
        timeout: float = 5.0,  # noqa: ASYNC109
        kinds: tuple[str, ...] | None = None,
    ) -> ChatEvent:
        """Return the next thing the bot did in the chat after what was last read.

        Raises ``TimeoutError`` when nothing (of ``kinds``) happens within ``timeout``.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        after = self._cursors.get(chat_id, 0)
        while True:
            remaining = max(deadline - loop.time(), 0.0)
            data = await self._request(
                "GET",
                f"/sandbox/chats/{chat_id}/events",
                params={"after": str(after), "timeout": f"{remaining:.3f}"},
                http_timeout=remaining + 10.0,
            )
            for raw in data["events"]:
                event = ChatEvent.from_json(raw)
                after = event.seq
                if kinds is None or event.kind in kinds:
                    self._cursors[chat_id] = after
                    return event
            self._cursors[chat_id] = after
            if loop.time() >= deadline:
                wanted = "/".join(kinds) if kinds else "event"
                raise TimeoutError(
                    f"no {wanted} from the bot in chat {chat_id} within {timeout:g} s"
                )

    async def wait_for_reply(
        self,
        chat_id: int,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - a long poll in the sandbox, see next_event
    ) -> ChatMessage:
        """Return the bot's next new or edited message in the chat, as shown then."""
        event = await self.next_event(chat_id, timeout=timeout, kinds=("message", "edit"))
        assert event.message is not None
        return event.message

    async def wait_for_toast(
        self,
        chat_id: int,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - a long poll in the sandbox, see next_event
    ) -> str | None:
        """Return the text of the bot's next answer to a button press in the chat."""
        event = await self.next_event(chat_id, timeout=timeout, kinds=("toast",))
        assert event.toast is not None
        return event.toast.text

    def mark_read(self, chat_id: int, seq: int) -> None:
        """Move the read point of a chat (e.g. to ``ChatView.last_seq``)."""
        self._cursors[chat_id] = seq

    # -- the sandbox itself ----------------------------------------------------------------

    async def stats(self) -> dict[str, Any]:
        """Return the sandbox's counters (messages sent, 429s issued, ...)."""
        data: dict[str, Any] = await self._request("GET", "/sandbox/stats")
        return data

    async def set_faults(self, **changes: Any) -> dict[str, Any]:
        """Change injected faults (fields of ``FaultConfig``, e.g. ``hang_next=1``)."""
        if "methods" in changes:
            changes["methods"] = list(changes["methods"])
        data: dict[str, Any] = await self._request("POST", "/sandbox/faults", changes)
        return data

    async def get_limits(self) -> dict[str, Any]:
        """Return whether rate limits are enforced (``enabled``) and how (``strict``)."""
        data: dict[str, Any] = await self._request("GET", "/sandbox/limits")
        return data

    async def set_rate_limits(self, *, enabled: bool, reset: bool = False) -> None:
        """Switch rate limiting on or off; ``reset`` forgets past sends and flood waits."""
        await self._request("POST", "/sandbox/limits", {"enabled": enabled, "reset": reset})

    async def commands(
        self, *, scope: str = "default", language_code: str = ""
    ) -> list[dict[str, str]]:
        """Return the command menu the bot set for a scope and language ([] when none)."""
        menus: list[dict[str, Any]] = await self._request("GET", "/sandbox/commands")
        for menu in menus:
            if menu["scope"] == scope and menu["language_code"] == language_code:
                listed: list[dict[str, str]] = menu["commands"]
                return listed
        return []

    async def reset(self) -> None:
        """Forget all users, chats, updates and counters."""
        await self._request("POST", "/sandbox/reset")
        self._cursors.clear()
