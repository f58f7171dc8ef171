"""Telegram's limits: every message and button of a definition fits, in every language."""

from __future__ import annotations

import html

from backend.questionnaire import schema as s
from backend.questionnaire.errors import Path
from backend.questionnaire.validation.checker import Checker

#: Telegram's limit on one message, in characters of the formatted (HTML) text.
MESSAGE_CHARS = 4096
#: Characters of a button label the bot never cuts: 64, less the 2 of the "● " mark.
BUTTON_CHARS = 62
#: Telegram's limit on a button's callback data, in bytes.
CALLBACK_BYTES = 64
#: Callback data around the value: action, session (up to 2**63 in base 36), question index
#: and signature, with their four separators (see ``bot.callbacks``).
CALLBACK_OVERHEAD_BYTES = 1 + 13 + 11 + 4
#: Characters a question message adds around the question's own texts: a notice, the
#: progress line, the answer hint and the formatting tags.
QUESTION_CHROME_CHARS = 300
#: The column that stores a questionnaire's title.
TITLE_CHARS = 256
#: Pole names (``high``/``low``) are joined into segment names, stored in 256 characters.
POLE_CHARS = 32
#: Questions, options and other counts: enough for any real questionnaire, and bounded.
MAX_QUESTIONS = 500
MAX_OPTIONS = 50


def _html_length(text: str) -> int:
    return len(html.escape(text, quote=False))


def _b36_length(number: int) -> int:
    length = 1
    while number >= 36:
        number //= 36
        length += 1
    return length


class TelegramChecker:
    """Every message and button of the definition fits Telegram, in every language."""

    def __init__(self, checker: Checker) -> None:
        self.c = checker
        self.d = checker.d

    def texts(self, value: s.Text | None) -> list[tuple[str | None, str]]:
        if value is None:
            return []
        if isinstance(value, str):
            return [(None, value)]
        return list(value.items())

    def text_in(self, value: s.Text | None, language: str) -> str:
        return self.d.text(value, language)

    def run(self) -> None:
        self.check_title()
        self.check_intro()
        order = 0
        for si, section in enumerate(self.d.sections):
            for qi, question in enumerate(section.questions):
                path: Path = ("sections", si, "questions", qi)
                opens = qi == 0 or section.shuffle
                self.check_question(question, path, section if opens else None, order)
                order += 1
        self.check_result()

    def check_counts(self) -> None:
        total = sum(len(section.questions) for section in self.d.sections)
        if total > MAX_QUESTIONS:
            self.c.add(
                ("sections",), f"{total:,} questions; at most {MAX_QUESTIONS:,} are allowed"
            )
        for si, section in enumerate(self.d.sections):
            for qi, q in enumerate(section.questions):
                if isinstance(q, s.ChoiceQuestionBase) and len(q.options) > MAX_OPTIONS:
                    self.c.add(
                        ("sections", si, "questions", qi, "options"),
                        f"{len(q.options)} options; at most {MAX_OPTIONS} fit as buttons",
                    )

    def check_title(self) -> None:
        for language, title in self.texts(self.d.title):
            if len(title) > TITLE_CHARS:
                path: Path = ("title", language) if language else ("title",)
                self.c.add(
                    path,
                    f"the title is {len(title):,} characters; at most {TITLE_CHARS} are kept",
                )

    def too_long(self, path: Path, what: str, size: int, language: str) -> None:
        where = f" ({language})" if len(self.d.languages) > 1 else ""
        self.c.add(
            path,
            f"{what}{where} would be {size:,} characters once formatted for Telegram, over its "
            f"{MESSAGE_CHARS:,}: shorten it by {size - MESSAGE_CHARS:,}",
        )

    def check_intro(self) -> None:
        for language in self.d.languages:
            size = QUESTION_CHROME_CHARS + sum(
                _html_length(self.text_in(value, language)) + 1
                for value in (self.d.title, self.d.description, self.d.intro)
            )
            if size > MESSAGE_CHARS:
                path: Path = ("intro",) if self.d.intro else ("description",)
                self.too_long(path, "the introduction message", size, language)
                return

    def check_question(
        self, q: s.Question, path: Path, section: s.Section | None, order: int
    ) -> None:
        for language in self.d.languages:
            size = QUESTION_CHROME_CHARS + sum(
                _html_length(self.text_in(value, language)) + 8 for value in (q.text, q.help)
            )
            if section is not None:
                size += sum(
                    _html_length(self.text_in(value, language)) + 8
                    for value in (section.title, section.intro)
                )
            if isinstance(q, s.LikertQuestion) and q.labels is None:
                size += sum(
                    _html_length(self.text_in(value, language))
                    for value in (q.min_label, q.max_label)
                )
            if isinstance(q, s.NumberQuestion):
                size += _html_length(self.text_in(q.unit, language))
            if size > MESSAGE_CHARS:
                self.too_long((*path, "text"), "the question's message", size, language)
                break
        for label_path, label in self.buttons(q, path):
            for lang, text in self.texts(label):
                if len(text) > BUTTON_CHARS:
                    where = f" ({lang})" if lang and len(self.d.languages) > 1 else ""
                    self.c.add(
                        label_path,
                        f"the button text{where} is {len(text)} characters; a button shows at "
                        f"most {BUTTON_CHARS}",
                    )
                    break
        for value_path, value in self.callback_values(q, path):
            size = CALLBACK_OVERHEAD_BYTES + _b36_length(order) + len(value.encode())
            if size > CALLBACK_BYTES:
                self.c.add(
                    value_path,
                    f"the button's callback data would be {size} bytes, over Telegram's "
                    f"{CALLBACK_BYTES}: use a shorter id",
                )

    def buttons(self, q: s.Question, path: Path) -> list[tuple[Path, s.Text]]:
        found: list[tuple[Path, s.Text]] = []
        if isinstance(q, s.ChoiceQuestionBase):
            found += [((*path, "options", i, "text"), o.text) for i, o in enumerate(q.options)]
        if isinstance(q, s.LikertQuestion) and q.labels:
            found += [((*path, "labels", i), label) for i, label in enumerate(q.labels)]
        if isinstance(q, s.YesNoQuestion):
            found += [
                ((*path, key), label)
                for key, label in (("yes_label", q.yes_label), ("no_label", q.no_label))
                if label is not None
            ]
        return found

    def callback_values(self, q: s.Question, path: Path) -> list[tuple[Path, str]]:
        if isinstance(q, s.ChoiceQuestionBase):
            return [((*path, "options", i, "id"), o.id) for i, o in enumerate(q.options)]
        return []

    def check_result(self) -> None:
        """Each paragraph of the result message must fit one message on its own."""
        for di, dim in enumerate(self.d.dimensions):
            for pole in ("high", "low"):
                for language, text in self.texts(getattr(dim, pole)):
                    if len(text) > POLE_CHARS:
                        path: Path = ("dimensions", di, pole, *([language] if language else []))
                        self.c.add(
                            path,
                            f"{pole} is {len(text)} characters; at most {POLE_CHARS} (it "
                            "becomes part of segment names)",
                        )
            for bi, band in enumerate(dim.bands):
                for language in self.d.languages:
                    size = _html_length(self.text_in(band.text, language))
                    if size > MESSAGE_CHARS:
                        self.too_long(
                            ("dimensions", di, "bands", bi, "text"),
                            "the band text",
                            size,
                            language,
                        )
                        break
        for language in self.d.languages:
            size = _html_length(self.text_in(self.d.outro, language))
            if size > MESSAGE_CHARS:
                self.too_long(("outro",), "the closing text", size, language)
                break
