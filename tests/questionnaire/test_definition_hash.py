"""The content hash depends on the content only: not on format, layout or comments."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from backend.questionnaire import content_hash, load_definition
from backend.questionnaire.loader import parse_definition_text
from backend.questionnaire.schema import LikertQuestion

YAML_TEXT = """\
id: hash-quiz
title: {en: Hash quiz, de: Prüfsummen-Quiz 🙂}
languages: [en, de]
sections:
  - id: main
    shuffle: true
    questions:
      - id: member
        type: yes_no
        text: Member?
      - id: mood
        type: likert
        text: I am happy.
        points: 7
        min_label: No
        max_label: Yes
dimensions:
  - id: happiness
    label: Happiness
    items:
      - {question: mood}
      - {question: member, weights: {"yes": 1}}
"""

REFORMATTED = """\
# The same content, laid out differently and with comments.
id: "hash-quiz"
title:
  de: "Prüfsummen-Quiz 🙂"   # key order differs too
  en: Hash quiz
languages:
  - en
  - de
sections:
- id: main
  shuffle: true
  questions:
  - {id: member, type: yes_no, text: "Member?"}
  - id: mood
    type: likert
    text: >-
      I am happy.
    points: 7
    min_label: 'No'
    max_label: 'Yes'
dimensions:
- id: happiness
  label: Happiness
  items: [{question: mood}, {question: member, weights: {"yes": 1.0}}]
"""


def _hash(text: str, fmt: str = "yaml") -> str:
    return content_hash(load_definition(text, fmt=fmt))


def _as_json(**dump_options: Any) -> str:
    data, _ = parse_definition_text(YAML_TEXT)
    return json.dumps(data, **dump_options)


def test_yes_and_no_stay_strings() -> None:
    definition = load_definition(YAML_TEXT)
    mood = definition.questions()["mood"]
    assert isinstance(mood, LikertQuestion)
    assert (mood.min_label, mood.max_label) == ("No", "Yes")


def test_reformatting_and_comments_keep_the_hash() -> None:
    assert _hash(REFORMATTED) == _hash(YAML_TEXT)


@pytest.mark.parametrize(
    "dump_options",
    [
        pytest.param({"indent": 2, "ensure_ascii": False}, id="indented"),
        pytest.param({"separators": (",", ":"), "ensure_ascii": False}, id="compact"),
        # json.dumps' defaults: non-ASCII text as \\u escapes (the emoji as a surrogate pair).
        pytest.param({}, id="ascii-escaped"),
        pytest.param({"indent": "\t", "ensure_ascii": False}, id="tab-indented"),
    ],
)
def test_json_and_yaml_of_the_same_content_hash_alike(dump_options: dict[str, Any]) -> None:
    assert _hash(_as_json(**dump_options), fmt="json") == _hash(YAML_TEXT)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("text: I am happy.", "text: I am very happy."),
        ("points: 7", "points: 5"),
        ('weights: {"yes": 1}', 'weights: {"yes": 0.5}'),
        ("shuffle: true", "shuffle: false"),
        ("languages: [en, de]", "languages: [de, en]"),
    ],
)
def test_a_content_change_changes_the_hash(old: str, new: str) -> None:
    assert YAML_TEXT.count(old) == 1
    assert _hash(YAML_TEXT.replace(old, new)) != _hash(YAML_TEXT)


def test_a_default_written_out_keeps_the_hash() -> None:
    explicit = YAML_TEXT.replace(
        "        text: Member?\n", "        text: Member?\n        required: true\n"
    )
    assert _hash(explicit) == _hash(YAML_TEXT)


def test_the_documented_yaml_and_json_examples_are_the_same_definition() -> None:
    doc = Path(__file__).resolve().parents[2] / "docs" / "questionnaire-format.md"
    example = doc.read_text(encoding="utf-8").split("## A complete example", 1)[1]
    yaml_text = example.split("```yaml\n", 1)[1].split("```", 1)[0]
    json_text = example.split("```json\n", 1)[1].split("```", 1)[0]
    assert _hash(json_text, fmt="json") == _hash(yaml_text)
