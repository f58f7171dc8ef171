"""Scripted respondents: take a quiz through the sandbox exactly as a person would.

Used by the tests, the benchmark and the demo. A respondent reads the bot's messages,
recognises the question (from the button data, or the question text for typed answers),
and answers with buttons or text like a person in the Telegram app.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from typing import Any

from backend.questionnaire.schema import (
    ChoiceQuestionBase,
    MultipleChoiceQuestion,
    NumberQuestion,
    Question,
    QuestionnaireDefinition,
    TextQuestion,
)
from bot.sandbox import ChatMessage, SandboxClient

#: Chooses the answer to a question: a Likert point, an option id, a list of option ids,
#: "yes"/"no", a number, a text, or None to skip an optional question.
Chooser = Callable[[Question], Any]

RESULT_MARKERS = ("Your profile", "Dein Profil")


class SimulationError(AssertionError):
    """The bot did something a respondent could not follow."""


@dataclass
class Transcript:
    answers: dict[str, Any] = field(default_factory=dict)
    result: str = ""
    #: Seconds from each action leaving the respondent to the bot's next message arriving.
    latencies: list[float] = field(default_factory=list)


class ScriptedRespondent:
    """One person in the sandbox answering one questionnaire."""

    def __init__(
        self,
        client: SandboxClient,
        user_id: int,
        definition: QuestionnaireDefinition,
        choose: Chooser,
        *,
        language: str | None = None,
        timeout: float = 10.0,
        think: Callable[[], float] | None = None,
    ) -> None:
        self.client = client
        self.user_id = user_id
        self.definition = definition
        self.choose = choose
        self.language = language
        self.timeout = timeout
        #: Seconds a person takes to read and answer (not counted in latencies).
        self.think = think
        self.questions = list(definition.questions().values())

    async def _next_message(self, transcript: Transcript, started: float) -> ChatMessage:
        event = await self.client.next_event(
            self.user_id, timeout=self.timeout, kinds=("message",)
        )
        transcript.latencies.append(time.perf_counter() - started)
        assert event.message is not None
        return event.message

    def _recognise(self, message: ChatMessage) -> Question:
        for row in message.buttons:
            for button in row:
                parts = (button.callback_data or "").split(".")
                if len(parts) == 5 and parts[0] in {"a", "t", "d", "s", "b"}:
                    index = int(parts[2], 36)
                    if parts[0] != "b" or len(message.buttons) == 1:
                        return self.questions[index]
        text = message.raw_text or message.text or ""
        for question in self.questions:
            shown = escape(self.definition.text(question.text, self.language))
            if f"<b>{shown}</b>" in text:
                return question
        raise SimulationError(f"cannot tell which question this is: {text[:200]!r}")

    def _button(self, message: ChatMessage, action: str, value: str = "") -> str:
        for row in message.buttons:
            for button in row:
                parts = (button.callback_data or "").split(".")
                if len(parts) == 5 and parts[0] == action and parts[3] == value:
                    return button.callback_data or ""
        raise SimulationError(f"no {action}:{value} button on message {message.message_id}")

    async def take(self, key: str) -> Transcript:
        """Open questionnaire ``key`` with a deep link and answer until the profile arrives."""
        transcript = Transcript()
        started = time.perf_counter()
        await self.client.send_command(self.user_id, "start", key)
        message = await self._next_message(transcript, started)
        if (
            message.buttons
            and message.buttons[0][0].callback_data
            and (message.buttons[0][0].callback_data.startswith("g."))
        ):
            started = time.perf_counter()
            await self.client.press(
                self.user_id, message.message_id, data=message.buttons[0][0].callback_data
            )
            message = await self._next_message(transcript, started)
        for _ in range(len(self.questions) + 1):
            text = message.text or ""
            if any(marker in text for marker in RESULT_MARKERS):
                transcript.result = text
                return transcript
            question = self._recognise(message)
            value = self.choose(question)
            if self.think is not None:
                await asyncio.sleep(self.think())
            transcript.answers[question.id] = value
            started = await self._answer(message, question, value)
            message = await self._next_message(transcript, started)
        raise SimulationError("the quiz did not end")

    async def _answer(self, message: ChatMessage, question: Question, value: Any) -> float:
        uid, mid = self.user_id, message.message_id
        if value is None:
            started = time.perf_counter()
            await self.client.press(uid, mid, data=self._button(message, "s"))
            return started
        if isinstance(question, NumberQuestion | TextQuestion):
            started = time.perf_counter()
            await self.client.send_text(uid, str(value))
            return started
        if isinstance(question, MultipleChoiceQuestion):
            ids = [o.id for o in question.options]
            for option in value:
                data = self._button(message, "t", str(ids.index(option)))
                await self.client.press(uid, mid, data=data)
                # the keyboard is re-drawn with the tick before the next press
                await self.client.next_event(uid, timeout=self.timeout, kinds=("edit",))
            started = time.perf_counter()
            await self.client.press(uid, mid, data=self._button(message, "d"))
            return started
        if isinstance(question, ChoiceQuestionBase):
            raw = str([o.id for o in question.options].index(value))
        else:
            raw = str(value)
        started = time.perf_counter()
        await self.client.press(uid, mid, data=self._button(message, "a", raw))
        return started
