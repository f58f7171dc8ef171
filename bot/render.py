"""Render quiz steps as Telegram messages: HTML text plus an inline keyboard."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from backend.questionnaire.schema import (
    ChoiceQuestionBase,
    LikertQuestion,
    MultipleChoiceQuestion,
    NumberQuestion,
    Question,
    QuestionnaireDefinition,
    TextQuestion,
    YesNoQuestion,
)
from backend.quiz import Step
from bot.callbacks import Action, Callback, CallbackCodec
from bot.texts import t

MAX_MESSAGE_CHARS = 4096
BAR_WIDTH = 10


@dataclass(frozen=True, slots=True)
class Rendered:
    text: str
    keyboard: InlineKeyboardMarkup | None = None


def progress_bar(position: int, total: int) -> str:
    filled = round(BAR_WIDTH * (position - 1) / total) if total else 0
    return "▰" * filled + "▱" * (BAR_WIDTH - filled)


def question_index(definition: QuestionnaireDefinition, question_id: str) -> int:
    return list(definition.questions()).index(question_id)


def split_message(text: str, limit: int = MAX_MESSAGE_CHARS) -> list[str]:
    """Split text at paragraph, then line boundaries so each part fits one message."""
    parts: list[str] = []
    current = ""
    for paragraph in text.split("\n"):
        while len(paragraph) > limit:
            parts.append(paragraph[:limit])
            paragraph = paragraph[limit:]
        candidate = f"{current}\n{paragraph}" if current else paragraph
        if len(candidate) > limit:
            parts.append(current)
            current = paragraph
        else:
            current = candidate
    if current or not parts:
        parts.append(current)
    return parts


class Renderer:
    """Builds the messages of a quiz; buttons carry signed callback data."""

    def __init__(self, codec: CallbackCodec) -> None:
        self.codec = codec

    def _button(
        self, label: str, action: Action, step: Step, value: str = ""
    ) -> InlineKeyboardButton:
        question = question_index(step.definition, step.question.id) if step.question else 0
        data = self.codec.encode(Callback(action, step.session_id, question, value))
        return InlineKeyboardButton(label[:64], callback_data=data)

    # -- intro ----------------------------------------------------------------------------

    def intro(self, step: Step) -> Rendered:
        d, lang = step.definition, step.language
        lines = [f"<b>{escape(d.text(d.title, lang))}</b>"]
        if step.notice:
            lines.insert(0, f"<i>{escape(step.notice)}</i>")
        if d.description:
            lines.append(escape(d.text(d.description, lang)))
        if d.intro:
            lines.append("")
            lines.append(escape(d.text(d.intro, lang)))
        keyboard = InlineKeyboardMarkup([[self._button(t(lang, "begin"), Action.BEGIN, step)]])
        return Rendered("\n".join(lines)[:MAX_MESSAGE_CHARS], keyboard)

    # -- questions ------------------------------------------------------------------------

    def question(self, step: Step) -> Rendered:
        assert step.question is not None
        d, lang, q = step.definition, step.language, step.question
        lines: list[str] = []
        if step.notice:
            lines += [f"<i>{escape(step.notice)}</i>", ""]
        if step.section_intro:
            title, _, intro = step.section_intro.partition("\n")
            lines.append(f"<b>{escape(title)}</b>")
            if intro:
                lines.append(escape(intro))
            lines.append("")
        lines.append(
            f"{t(lang, 'progress', position=step.position, total=step.total)}  "
            f"{progress_bar(step.position, step.total)}"
        )
        lines.append(f"<b>{escape(d.text(q.text, lang))}</b>")
        if q.help:
            lines.append(f"<i>{escape(d.text(q.help, lang))}</i>")
        hint = self._hint(d, q, lang)
        if hint:
            lines.append(escape(hint))
        rows = self._answer_rows(step)
        nav = []
        if step.can_back:
            nav.append(self._button(t(lang, "back"), Action.BACK, step))
        if not q.required:
            nav.append(self._button(t(lang, "skip"), Action.SKIP, step))
        if nav:
            rows.append(nav)
        text = "\n".join(lines)
        return Rendered(text[:MAX_MESSAGE_CHARS], InlineKeyboardMarkup(rows) if rows else None)

    def _hint(self, d: QuestionnaireDefinition, q: Question, lang: str) -> str:
        if isinstance(q, LikertQuestion) and q.labels is None and (q.min_label or q.max_label):
            return t(
                lang,
                "scale_ends",
                low=d.text(q.min_label, lang),
                high=d.text(q.max_label, lang),
                points=q.points,
            )
        if isinstance(q, NumberQuestion):
            parts = []
            if q.min is not None and q.max is not None:
                parts.append(f"{q.min:g}–{q.max:g}")
            elif q.min is not None:
                parts.append(f"≥ {q.min:g}")
            elif q.max is not None:
                parts.append(f"≤ {q.max:g}")
            if q.unit:
                parts.append(d.text(q.unit, lang))
            return t(lang, "type_number", hint=f" ({', '.join(parts)})" if parts else "")
        if isinstance(q, TextQuestion):
            return t(lang, "type_text", max=q.max_length)
        if isinstance(q, MultipleChoiceQuestion):
            high = q.max_selected or len(q.options)
            low = max(q.min_selected, 1 if q.required else 0)
            span = (
                t(lang, "choose_up_to", high=high)
                if low == 0
                else (str(low) if low == high else t(lang, "choose_range", low=low, high=high))
            )
            return t(lang, "choose_many", range=span)
        return ""

    def _answer_rows(self, step: Step) -> list[list[InlineKeyboardButton]]:
        assert step.question is not None
        d, lang, q = step.definition, step.language, step.question
        current = step.current
        mark = "● "
        if isinstance(q, LikertQuestion):
            if q.labels:
                return [
                    [
                        self._button(
                            (mark if current == point else "") + d.text(label, lang),
                            Action.ANSWER,
                            step,
                            str(point),
                        )
                    ]
                    for point, label in enumerate(q.labels, start=1)
                ]
            row = [
                self._button(
                    f"[{point}]" if current == point else str(point),
                    Action.ANSWER,
                    step,
                    str(point),
                )
                for point in range(1, q.points + 1)
            ]
            return [row[:6], row[6:]] if len(row) > 6 else [row]
        if isinstance(q, YesNoQuestion):
            labels = {
                "yes": d.text(q.yes_label, lang) or t(lang, "yes"),
                "no": d.text(q.no_label, lang) or t(lang, "no"),
            }
            return [
                [
                    self._button(
                        (mark if current == v else "") + labels[v], Action.ANSWER, step, v
                    )
                    for v in ("yes", "no")
                ]
            ]
        if isinstance(q, ChoiceQuestionBase):
            by_id = {o.id: (i, o) for i, o in enumerate(q.options)}
            multiple = isinstance(q, MultipleChoiceQuestion)
            ticked = set(current or []) if multiple else set()
            rows = []
            for option_id in step.options or tuple(by_id):
                index, option = by_id[option_id]
                label = d.text(option.text, lang)
                if multiple:
                    label = ("✅ " if option_id in ticked else "▫️ ") + label
                    rows.append([self._button(label, Action.TOGGLE, step, str(index))])
                else:
                    label = (mark if current == option_id else "") + label
                    rows.append([self._button(label, Action.ANSWER, step, str(index))])
            if multiple:
                rows.append([self._button(t(lang, "done"), Action.DONE, step)])
            return rows
        return []

    # -- answered and results -------------------------------------------------------------

    def answer_label(
        self, definition: QuestionnaireDefinition, q: Question, value: Any, lang: str
    ) -> str:
        if value is None:
            return t(lang, "skipped")
        if isinstance(q, LikertQuestion):
            if q.labels:
                return definition.text(q.labels[int(value) - 1], lang)
            return f"{value} / {q.points}"
        if isinstance(q, YesNoQuestion):
            return t(lang, str(value))
        if isinstance(q, ChoiceQuestionBase):
            names = {o.id: definition.text(o.text, lang) for o in q.options}
            values = value if isinstance(value, list) else [value]
            return ", ".join(names.get(v, str(v)) for v in values) or "—"
        if isinstance(q, NumberQuestion):
            return f"{value:g}" if isinstance(value, float) else str(value)
        return str(value)

    def answered(
        self, definition: QuestionnaireDefinition, q: Question, value: Any, lang: str
    ) -> str:
        """The text a question message is edited to once it is answered."""
        question = escape(definition.text(q.text, lang))
        label = escape(self.answer_label(definition, q, value, lang))
        return f"{question}\n✓ <b>{label}</b>"[:MAX_MESSAGE_CHARS]

    def result(self, step: Step) -> list[str]:
        d, lang = step.definition, step.language
        lines = [f"<b>{t(lang, 'your_profile')} · {escape(d.text(d.title, lang))}</b>", ""]
        for dim in step.profile:
            score = "—" if dim.score_100 is None else f"{dim.score_100:.0f}"
            lines.append(f"<b>{escape(dim.label)}</b>  {dim.bar} {score}")
            if dim.interpretation:
                lines.append(escape(dim.interpretation))
            lines.append("")
        if step.segment is not None:
            lines.append(f"{t(lang, 'your_segment')}: <b>{escape(step.segment.name)}</b>")
            if step.segment.description:
                lines.append(escape(step.segment.description))
            lines.append("")
        if d.outro:
            lines.append(escape(d.text(d.outro, lang)))
        else:
            lines.append(t(lang, "thanks"))
        return split_message("\n".join(lines))
