"""Scripted respondents: take a quiz through the sandbox exactly as a person would.

Used by the tests, the benchmark and the demo. A respondent reads the bot's messages,
recognises the question (from the button data, or the question text for typed answers),
and answers with buttons or text like a person in the Telegram app.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from typing import Any

from backend.questionnaire.schema import (
    ChoiceQuestionBase,
    LikertQuestion,
    MultipleChoiceQuestion,
    NumberQuestion,
    Question,
    QuestionnaireDefinition,
    SingleChoiceQuestion,
    TextQuestion,
    YesNoQuestion,
)
from bot.callbacks import Action
from bot.sandbox import ChatMessage, SandboxClient

#: The buttons of a question (their callback data names the question).
QUESTION_BUTTONS = frozenset({Action.ANSWER, Action.TOGGLE, Action.DONE, Action.SKIP, Action.BACK})
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
    #: False when the respondent left part-way (see ``stop_after``).
    completed: bool = True
    #: Seconds from each action leaving the respondent to the bot's next message arriving.
    latencies: list[float] = field(default_factory=list)
    #: Questions that arrived again after they were answered (sent twice after a crash).
    repeats: int = 0


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

    async def _next_message(self, transcript: Transcript, started: float | None) -> ChatMessage:
        event = await self.client.next_event(
            self.user_id, timeout=self.timeout, kinds=("message",)
        )
        if started is not None:
            transcript.latencies.append(time.perf_counter() - started)
        assert event.message is not None
        return event.message

    def _recognise(self, message: ChatMessage) -> Question:
        for row in message.buttons:
            for button in row:
                parts = (button.callback_data or "").split(".")
                if len(parts) == 5 and parts[0] in QUESTION_BUTTONS:
                    index = int(parts[2], 36)
                    if parts[0] != Action.BACK or len(message.buttons) == 1:
                        return self.questions[index]
        text = message.raw_text or message.text or ""
        for question in self.questions:
            shown = escape(self.definition.text(question.text, self.language))
            if f"<b>{shown}</b>" in text:
                return question
        raise SimulationError(f"cannot tell which question this is: {text[:200]!r}")

    def _button(self, message: ChatMessage, action: Action, value: str = "") -> str:
        for row in message.buttons:
            for button in row:
                parts = (button.callback_data or "").split(".")
                if len(parts) == 5 and parts[0] == action and parts[3] == value:
                    return button.callback_data or ""
        raise SimulationError(f"no {action}:{value} button on message {message.message_id}")

    async def take(self, key: str, *, stop_after: int | None = None) -> Transcript:
        """Open questionnaire ``key`` with a deep link and answer until the profile arrives.

        With ``stop_after``, leave the chat after that many answers, as people do.
        """
        transcript = Transcript()
        if self.think is not None:  # people arrive over time, not all in the same instant
            await asyncio.sleep(self.think())
        started = time.perf_counter()
        await self.client.send_command(self.user_id, "start", key)
        message = await self._next_message(transcript, started)
        if (
            message.buttons
            and message.buttons[0][0].callback_data
            and (message.buttons[0][0].callback_data.startswith(f"{Action.BEGIN}."))
        ):
            started = time.perf_counter()
            await self.client.press(
                self.user_id, message.message_id, data=message.buttons[0][0].callback_data
            )
            message = await self._next_message(transcript, started)
        for _ in range(2 * len(self.questions) + 1):
            text = message.text or ""
            if any(marker in text for marker in RESULT_MARKERS):
                transcript.result = text
                return transcript
            question = self._recognise(message)
            if question.id in transcript.answers:
                # A copy of a question already answered: a worker died after sending it
                # and before recording that it had, and the redelivered update sent it
                # again. A person answers the newest message; so does the script.
                transcript.repeats += 1
                message = await self._next_message(transcript, None)
                continue
            if stop_after is not None and len(transcript.answers) >= stop_after:
                transcript.completed = False
                return transcript
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
            await self.client.press(uid, mid, data=self._button(message, Action.SKIP))
            return started
        if isinstance(question, NumberQuestion | TextQuestion):
            started = time.perf_counter()
            await self.client.send_text(uid, str(value))
            return started
        if isinstance(question, MultipleChoiceQuestion):
            ids = [o.id for o in question.options]
            for option in value:
                data = self._button(message, Action.TOGGLE, str(ids.index(option)))
                await self.client.press(uid, mid, data=data)
                # the keyboard is re-drawn with the tick before the next press
                await self.client.next_event(uid, timeout=self.timeout, kinds=("edit",))
            started = time.perf_counter()
            await self.client.press(uid, mid, data=self._button(message, Action.DONE))
            return started
        if isinstance(question, ChoiceQuestionBase):
            raw = str([o.id for o in question.options].index(value))
        else:
            raw = str(value)
        started = time.perf_counter()
        await self.client.press(uid, mid, data=self._button(message, Action.ANSWER, raw))
        return started


def latent_profiles(
    definition: QuestionnaireDefinition, count: int, rng: random.Random
) -> list[dict[str, float]]:
    """Draw ``count`` distinct latent profiles: each dimension high (0.85) or low (0.15)."""
    dimensions = [d.id for d in definition.dimensions]
    patterns: list[tuple[int, ...]] = []
    limit = 2 ** len(dimensions)
    while len(patterns) < min(count, limit):
        pattern = tuple(rng.randint(0, 1) for _ in dimensions)
        # profiles should differ in at least two dimensions to be told apart reliably;
        # with few dimensions there may be no such pattern left, so rarely accept any new one
        distinct = all(sum(a != b for a, b in zip(pattern, p, strict=True)) >= 2 for p in patterns)
        if pattern not in patterns and (distinct or rng.random() < 0.01):
            patterns.append(pattern)
    return [
        {d: 0.85 if bit else 0.15 for d, bit in zip(dimensions, pattern, strict=True)}
        for pattern in patterns
    ]


def latent_chooser(
    definition: QuestionnaireDefinition,
    levels: dict[str, float],
    rng: random.Random,
    *,
    noise: float = 0.12,
) -> Chooser:
    """Answer as a person whose position on each dimension (0..1) is ``levels``.

    Likert items land near the person's level (reverse-keyed ones mirrored), choice options
    that feed a high dimension are picked more often; everything else is random.
    """
    feeds: dict[str, list[tuple[str, bool, dict[str, float]]]] = {}
    for dim in definition.dimensions:
        for item in dim.items:
            feeds.setdefault(item.question, []).append((dim.id, item.reverse, item.weights or {}))

    def level_for(question: Question) -> float | None:
        keyed = feeds.get(question.id)
        if not keyed:
            return None
        dim, reverse, _ = keyed[0]
        level = min(max(levels.get(dim, 0.5) + rng.gauss(0, noise), 0.0), 1.0)
        return 1 - level if reverse else level

    def option_wanted(question: Question, option: str) -> float:
        score = 0.0
        for dim, _, weights in feeds.get(question.id, []):
            score += weights.get(option, 0.0) * levels.get(dim, 0.5)
        return score

    def choose(question: Question) -> Any:
        if isinstance(question, LikertQuestion):
            level = level_for(question)
            if level is None:
                return rng.randint(1, question.points)
            return 1 + round(level * (question.points - 1))
        if isinstance(question, YesNoQuestion):
            wanted = option_wanted(question, "yes") - option_wanted(question, "no")
            return "yes" if rng.random() < 0.5 + wanted * 0.5 else "no"
        if isinstance(question, SingleChoiceQuestion):
            weights = [0.1 + 3 * option_wanted(question, o.id) for o in question.options]
            return rng.choices([o.id for o in question.options], weights=weights)[0]
        if isinstance(question, MultipleChoiceQuestion):
            ids = [o.id for o in question.options]
            ranked = sorted(ids, key=lambda o: option_wanted(question, o) + rng.random() * 0.2)
            top = question.max_selected or len(ids)
            n = max(question.min_selected, 1, min(top, 2))
            chosen = set(ranked[-n:])
            return [o for o in ids if o in chosen]
        if isinstance(question, NumberQuestion):
            low = question.min if question.min is not None else 0
            high = question.max if question.max is not None else low + 100
            low = max(low, min(high, 18))  # adults: branching often ends quizzes for minors
            value = rng.uniform(low, min(high, low + 40))
            return int(value) if question.integer else round(value, 1)
        if isinstance(question, TextQuestion):
            return None if not question.required else "No comment"
        return None

    return choose


@dataclass(frozen=True, slots=True)
class Persona:
    """How one simulated person behaves: whom they resemble and how carefully they answer."""

    #: Index of the latent profile the person resembles.
    profile: int
    #: Where the person stands on each dimension (0..1): the profile, shifted a little.
    levels: dict[str, float]
    #: Spread of their answers around their levels.
    noise: float
    #: Chance of skipping an optional question.
    skip_rate: float
    #: Answers given before leaving part-way; None: they finish.
    stop_after: int | None


def crowd(
    definition: QuestionnaireDefinition,
    profiles: list[dict[str, float]],
    count: int,
    rng: random.Random,
    *,
    drop_out: float = 0.12,
) -> list[Persona]:
    """Draw ``count`` people as a real sample looks: unequal groups, individual differences,
    careless and careful answerers, skips, and some who leave part-way.

    Profiles get shares that fall off (about 40/27/19/14 % for four); each person's levels
    are their profile's plus a personal shift; about ``drop_out`` of them stop early, mostly
    in the first half of the questionnaire.
    """
    weights = [1 / (1 + 0.5 * i) for i in range(len(profiles))]
    questions = len(definition.questions())
    people = []
    for _ in range(count):
        index = rng.choices(range(len(profiles)), weights=weights)[0]
        levels = {d: min(max(v + rng.gauss(0, 0.1), 0.0), 1.0) for d, v in profiles[index].items()}
        stop_after = None
        if questions > 1 and rng.random() < drop_out:
            stop_after = min(int(rng.triangular(1, questions, 2)), questions - 1)
        people.append(
            Persona(
                profile=index,
                levels=levels,
                noise=rng.uniform(0.08, 0.28),
                skip_rate=rng.choice((0.0, 0.0, 0.05, 0.2)),
                stop_after=stop_after,
            )
        )
    return people


def persona_chooser(
    definition: QuestionnaireDefinition, persona: Persona, rng: random.Random
) -> Chooser:
    """Answer as ``persona``: near their levels, with their noise, skipping optional items."""
    answer = latent_chooser(definition, persona.levels, rng, noise=persona.noise)

    def choose(question: Question) -> Any:
        if not question.required and rng.random() < persona.skip_rate:
            return None
        return answer(question)

    return choose
