"""A respondent's chat with the bot in the Bot API sandbox: type, press, read the replies."""

from __future__ import annotations

import random
from typing import Any

from backend.questionnaire.schema import (
    LikertQuestion,
    MultipleChoiceQuestion,
    NumberQuestion,
    Question,
    SingleChoiceQuestion,
    TextQuestion,
    YesNoQuestion,
)
from bot.sandbox import ChatMessage, SandboxClient, Sent


def data_of(message: ChatMessage, label: str) -> str:
    """Return the callback data of the button whose label contains ``label``."""
    for row in message.buttons:
        for button in row:
            if label in button.text:
                assert button.callback_data is not None
                return button.callback_data
    raise AssertionError(
        f"no button {label!r} in {[[b.text for b in r] for r in message.buttons]}"
    )


class Chat:
    """One respondent's private chat: what they send and press, and what the bot said.

    ``last`` is the bot's message read last; ``press`` presses a button on it unless told
    otherwise.
    """

    def __init__(self, client: SandboxClient, user_id: int) -> None:
        self.client = client
        self.user_id = user_id
        self.last: ChatMessage | None = None

    @classmethod
    async def open(
        cls, client: SandboxClient, *, first_name: str = "Ana", language_code: str = "en"
    ) -> Chat:
        """Create a user who started the bot; return their chat."""
        user = await client.create_user(first_name=first_name, language_code=language_code)
        return cls(client, user.id)

    async def command(self, name: str, args: str = "") -> Sent:
        """Send ``/name args``."""
        return await self.client.send_command(self.user_id, name, args)

    async def say(self, text: str) -> Sent:
        """Type ``text``."""
        return await self.client.send_text(self.user_id, text)

    async def press(self, label: str, *, on: ChatMessage | None = None) -> Sent:
        """Press the button labelled ``label`` (a part of its text) on ``on`` or ``last``."""
        message = on or self.last
        assert message is not None, "no message of the bot read yet"
        return await self.client.press(
            self.user_id, message.message_id, data=data_of(message, label)
        )

    async def expect(
        self,
        containing: str | None = None,
        *,
        timeout: float = 5,  # noqa: ASYNC109 - a long poll in the sandbox
    ) -> ChatMessage:
        """Return the bot's next new message, checking that it contains ``containing``."""
        event = await self.client.next_event(self.user_id, timeout=timeout, kinds=("message",))
        assert event.message is not None
        if containing is not None:
            assert containing in (event.message.text or ""), event.message.text
        self.last = event.message
        return event.message

    async def until(
        self,
        containing: str,
        *,
        timeout: float = 10,  # noqa: ASYNC109 - a long poll in the sandbox
    ) -> ChatMessage:
        """Skip the bot's new messages up to the first that contains ``containing``."""
        while True:
            event = await self.client.next_event(self.user_id, timeout=timeout, kinds=("message",))
            assert event.message is not None
            if containing in (event.message.text or ""):
                self.last = event.message
                return event.message

    async def answer(self, text: str) -> ChatMessage:
        """Type ``text`` and return the bot's reply."""
        await self.say(text)
        return await self.expect()

    async def choose(self, label: str) -> ChatMessage:
        """Press ``label`` on the last message and return the bot's next new message."""
        await self.press(label)
        return await self.expect()

    async def edited(self) -> ChatMessage:
        """Return the bot's next new or edited message, as shown then."""
        message = await self.client.wait_for_reply(self.user_id)
        self.last = message
        return message

    async def toast(self) -> str:
        """Return the text of the bot's answer to the last press ("" when it had none)."""
        return await self.client.wait_for_toast(self.user_id) or ""


def random_chooser(seed: int) -> Any:
    """Return a reproducible random answer for each question (for ``ScriptedRespondent``)."""
    rng = random.Random(seed)

    def choose(question: Question) -> Any:
        if not question.required and rng.random() < 0.2:
            return None
        if isinstance(question, LikertQuestion):
            return rng.randint(1, question.points)
        if isinstance(question, YesNoQuestion):
            return rng.choice(["yes", "no"])
        if isinstance(question, SingleChoiceQuestion):
            return rng.choice(question.options).id
        if isinstance(question, MultipleChoiceQuestion):
            top = question.max_selected or len(question.options)
            n = rng.randint(max(question.min_selected, 1), top)
            picked = rng.sample([o.id for o in question.options], n)
            return [o.id for o in question.options if o.id in picked]
        if isinstance(question, NumberQuestion):
            low = int(question.min if question.min is not None else 0)
            high = int(question.max if question.max is not None else 100)
            return rng.randint(max(low, 16), max(high, 16)) if question.integer else low + 0.5
        if isinstance(question, TextQuestion):
            return "I like <b>bold</b> & honest answers"[: question.max_length]
        raise AssertionError(question)

    return choose
