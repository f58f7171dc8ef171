"""The questionnaire definition: one schema for YAML and JSON files.

These models check the shape of a definition (keys, types, ranges of single fields); the
cross-references (ids, conditions, scoring keys) are checked in :mod:`validation`.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

IDENTIFIER_PATTERN = r"^[a-z][a-z0-9_]*$"
KEY_PATTERN = r"^[a-z][a-z0-9_-]*$"
LANGUAGE_PATTERN = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$"

Identifier = Annotated[
    str,
    Field(
        pattern=IDENTIFIER_PATTERN,
        min_length=1,
        max_length=32,
        description="lower-case letters, digits and underscores, starting with a letter",
    ),
]
QuestionnaireKey = Annotated[str, Field(pattern=KEY_PATTERN, min_length=2, max_length=48)]
LanguageCode = Annotated[str, Field(pattern=LANGUAGE_PATTERN)]
#: A text: one string, or a map of language code -> string.
Text = str | dict[str, str]


class Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False
    )


# --- conditions ----------------------------------------------------------------------------

Scalar = str | int | float | bool


class AnswerCondition(Strict):
    """A test on one earlier answer; exactly one operator is given."""

    question: Identifier
    equals: Scalar | None = None
    not_equals: Scalar | None = None
    in_: list[Scalar] | None = Field(default=None, alias="in", min_length=1)
    not_in: list[Scalar] | None = Field(default=None, min_length=1)
    includes: Identifier | None = None
    excludes: Identifier | None = None
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None
    answered: bool | None = None

    OPERATORS: ClassVar[tuple[str, ...]] = (
        "equals", "not_equals", "in_", "not_in", "includes", "excludes",
        "gt", "gte", "lt", "lte", "answered",
    )  # fmt: skip

    @property
    def operator(self) -> str | None:
        given = [op for op in self.OPERATORS if getattr(self, op) is not None]
        return given[0] if len(given) == 1 else None

    @property
    def operators_given(self) -> list[str]:
        return [op.rstrip("_") for op in self.OPERATORS if getattr(self, op) is not None]


class AllCondition(Strict):
    all: list[Condition] = Field(min_length=1)


class AnyCondition(Strict):
    any: list[Condition] = Field(min_length=1)


class NotCondition(Strict):
    not_: Condition = Field(alias="not")


def _condition_tag(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return {
            AllCondition: "all", AnyCondition: "any", NotCondition: "not"
        }.get(type(value), "answer")  # fmt: skip
    if not isinstance(value, dict):
        return None
    for tag in ("all", "any", "not"):
        if tag in value:
            return tag
    return "answer"


Condition = Annotated[
    Annotated[AnswerCondition, Tag("answer")]
    | Annotated[AllCondition, Tag("all")]
    | Annotated[AnyCondition, Tag("any")]
    | Annotated[NotCondition, Tag("not")],
    Discriminator(
        _condition_tag,
        custom_error_type="invalid_condition",
        custom_error_message="a condition is a mapping: {question: …, <operator>: …}, "
        "{all: […]}, {any: […]} or {not: …}",
    ),
]


# --- questions -----------------------------------------------------------------------------


class Option(Strict):
    id: Identifier
    text: Text
    #: Keep this option in place when options are shuffled (e.g. "None of these").
    fixed: bool = False


class QuestionBase(Strict):
    id: Identifier
    text: Text
    help: Text | None = None
    required: bool = True
    #: Ask the question only when this holds for earlier answers.
    when: Condition | None = None
    #: After this question is answered, end the quiz when this holds.
    end_if: Condition | None = None


class LikertQuestion(QuestionBase):
    type: Literal["likert"]
    points: int = Field(default=5, description="number of scale points, 2 to 11")
    #: One label per point, lowest first; or only the two end labels.
    labels: list[Text] | None = None
    min_label: Text | None = None
    max_label: Text | None = None


class ChoiceQuestionBase(QuestionBase):
    options: list[Option] = Field(min_length=2)
    shuffle_options: bool = False


class SingleChoiceQuestion(ChoiceQuestionBase):
    type: Literal["single_choice"]


class MultipleChoiceQuestion(ChoiceQuestionBase):
    type: Literal["multiple_choice"]
    min_selected: int = Field(default=1, ge=0)
    max_selected: int | None = Field(default=None, ge=1)


class YesNoQuestion(QuestionBase):
    type: Literal["yes_no"]
    yes_label: Text | None = None
    no_label: Text | None = None


class NumberQuestion(QuestionBase):
    type: Literal["number"]
    min: float | None = None
    max: float | None = None
    integer: bool = False
    unit: Text | None = None


class TextQuestion(QuestionBase):
    type: Literal["text"]
    max_length: int = Field(default=1000, ge=1, le=4000)


Question = Annotated[
    LikertQuestion
    | SingleChoiceQuestion
    | MultipleChoiceQuestion
    | YesNoQuestion
    | NumberQuestion
    | TextQuestion,
    Field(discriminator="type"),
]
CHOICE_TYPES = ("single_choice", "multiple_choice", "yes_no")
YES_NO_OPTIONS = ("yes", "no")


class Section(Strict):
    id: Identifier
    title: Text | None = None
    intro: Text | None = None
    when: Condition | None = None
    #: Ask the questions of this section in an order shuffled per respondent.
    shuffle: bool = False
    questions: list[Question] = Field(min_length=1)


# --- scoring and results -------------------------------------------------------------------


class DimensionItem(Strict):
    """How one question feeds a dimension."""

    question: Identifier
    #: Likert items: score the item reversed (1 <-> points).
    reverse: bool = False
    #: Choice and yes/no items: option id -> contribution between 0 and 1.
    weights: dict[str, float] | None = None


class Band(Strict):
    """An interpretation of scores up to ``up_to`` on the 0–100 scale."""

    up_to: float = 100
    label: Identifier
    text: Text


class Dimension(Strict):
    id: Identifier
    label: Text
    description: Text | None = None
    #: Names for the two poles, used when naming segments ("Curious" / "Conventional").
    high: Text | None = None
    low: Text | None = None
    items: list[DimensionItem]
    bands: list[Band] = Field(default_factory=list)


class Segmentation(Strict):
    """How respondents are segmented; the defaults are :class:`Segmenter`'s own."""

    dimensions: list[Identifier] | None = None
    method: Literal["mixture", "kmeans", "gmm"] = "mixture"
    k_min: int = 2
    k_max: int = 8
    min_share: float = 0.05


class QuestionnaireDefinition(Strict):
    """A whole questionnaire definition."""

    id: QuestionnaireKey
    title: Text
    description: Text | None = None
    #: Languages the texts are written in; the first is the fallback.
    languages: list[LanguageCode] = Field(default_factory=lambda: ["en"], min_length=1)
    #: Consent / introduction shown before the first question.
    intro: Text | None = None
    #: Shown with the results at the end.
    outro: Text | None = None
    source: str | None = None
    sections: list[Section] = Field(min_length=1)
    dimensions: list[Dimension] = Field(default_factory=list)
    segmentation: Segmentation | None = None

    @property
    def fallback_language(self) -> str:
        return self.languages[0]

    def questions(self) -> dict[str, Question]:
        """Return every question by id, in definition order."""
        return {q.id: q for s in self.sections for q in s.questions}

    def dimension(self, key: str) -> Dimension:
        return next(d for d in self.dimensions if d.id == key)

    def text(self, value: Text | None, language: str | None = None) -> str:
        """Return ``value`` in ``language``, falling back to the definition's first language."""
        if value is None:
            return ""
        if isinstance(value, str):
            return value
        if language and language in value:
            return value[language]
        short = language.split("-", 1)[0] if language else None
        if short and short in value:
            return value[short]
        return value.get(self.fallback_language) or next(iter(value.values()), "")

    def segmentation_settings(self) -> Segmentation:
        return self.segmentation or Segmentation()

    def segmentation_dimensions(self) -> list[str]:
        configured = self.segmentation_settings().dimensions
        return list(configured) if configured else [d.id for d in self.dimensions]


AllCondition.model_rebuild()
AnyCondition.model_rebuild()
NotCondition.model_rebuild()
