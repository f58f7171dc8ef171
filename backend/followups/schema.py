"""The content pack definition: one schema for YAML and JSON files.

These models check the shape (keys, types, single-field ranges); rules, templates and
cross-references are checked in :mod:`backend.followups.content`.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
)

from backend.followups.policy import parse_quiet_hours
from backend.questionnaire.schema import Identifier, QuestionnaireKey

MAX_TEXT = 4096
MAX_BUTTON_TEXT = 64
#: Items, variants and extra test profiles of one pack: every template is test-rendered for
#: every profile at upload, so these bound the upload's work.
MAX_ITEMS = 200
MAX_VARIANTS = 10
MAX_TEST_PROFILES = 20

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(value: Any) -> timedelta:
    """Read ``0``, ``"now"``, ``"90m"``, ``"12h"``, ``"2d"`` or ``"1w"`` as a duration."""
    if isinstance(value, timedelta):
        return value
    if value == 0 or (isinstance(value, str) and value.strip() in {"0", "now", "at once"}):
        return timedelta(0)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    raise ValueError(
        f"{value!r} is not a duration: write a number and a unit, e.g. '0', '90m', '12h', "
        "'2d' or '1w'"
    )


def _render_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit in ("w", "d", "h", "m"):
        if seconds and seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s" if seconds else "0"


Duration = Annotated[
    timedelta, BeforeValidator(parse_duration), PlainSerializer(_render_duration, return_type=str)
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Button(Strict):
    """A URL button under the message; clicks go through a tracked link."""

    text: str = Field(min_length=1, max_length=MAX_BUTTON_TEXT)
    url: str = Field(pattern=r"^https?://\S+$", max_length=2048)


class Variant(Strict):
    """One wording of an item for an A/B test; respondents are split by ``weight``."""

    id: Identifier
    weight: float = Field(default=1.0, gt=0)
    text: str = Field(min_length=1)
    buttons: list[Button] | None = Field(default=None, max_length=8)


class Target(Strict):
    """Who an item is for: a rule on the segment profile, named segments, or the default."""

    rule: dict[str, Any] | None = None
    segments: list[str | int] | None = Field(default=None, min_length=1)
    default: bool = False


class Item(Strict):
    id: Identifier
    target: Target
    #: Delay after the respondent entered the segment.
    send_after: Duration = timedelta(0)
    #: How long after it falls due an unsent item is still worth sending.
    expires_after: Duration | None = None
    text: str | None = Field(default=None, min_length=1)
    buttons: list[Button] = Field(default_factory=list, max_length=8)
    variants: list[Variant] = Field(default_factory=list, max_length=MAX_VARIANTS)
    #: Only members at least this sure of their segment get the item (overrides the pack's).
    min_confidence: float | None = Field(default=None, ge=0.0, le=1.0)


class Levels(Strict):
    """z-score thresholds of the words ``high`` and ``low`` in rules."""

    high: float = 0.5
    low: float = -0.5


class TestTrait(Strict):
    dimension: str
    direction: str = "high"
    adjective: str = ""
    z: float = 0.0


class TestProfile(Strict):
    """An extra profile every template must render for (besides the generated ones)."""

    first_name: str | None = "Ada"
    segment_id: str = "test"
    segment_name: str = "Test segment"
    segment_description: str = ""
    z_scores: dict[str, float] = Field(default_factory=dict)
    scores: dict[str, float] = Field(default_factory=dict)
    traits: list[TestTrait] = Field(default_factory=list)


class FrequencyCap(Strict):
    """At most ``messages`` follow-ups to one respondent in any ``per``."""

    messages: int = Field(ge=0, le=1000)
    per: Duration


class ContentPackDefinition(Strict):
    id: QuestionnaireKey
    #: The questionnaire whose segments this pack targets.
    questionnaire: QuestionnaireKey
    title: str = Field(min_length=1, max_length=256)
    description: str | None = None
    #: Used for ``first_name`` when a respondent has none.
    fallback_first_name: str = "there"
    levels: Levels = Levels()
    #: Default of ``expires_after`` for items that do not set it.
    expires_after: Duration = timedelta(days=3)
    #: Local time when this pack's items wait ("21:00-09:00", or "off"); None: the service's.
    quiet_hours: str | None = None
    #: How many of this pack's items may reach one respondent in a period; None: the service's.
    frequency_cap: FrequencyCap | None = None
    test_profiles: list[TestProfile] = Field(default_factory=list, max_length=MAX_TEST_PROFILES)
    #: Default ``min_confidence`` of the items that target segments (not default items).
    min_confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    items: list[Item] = Field(min_length=1, max_length=MAX_ITEMS)

    @field_validator("quiet_hours")
    @classmethod
    def _quiet_hours(cls, value: str | None) -> str | None:
        if value is not None:
            parse_quiet_hours(value)
        return value

    def item(self, item_id: str) -> Item:
        """Return the item with ``item_id`` (KeyError when there is none)."""
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(item_id)
