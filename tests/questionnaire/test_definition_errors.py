"""A rejected definition reports every problem as ``file:line: path: message``."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.questionnaire import DefinitionError, load_definition, load_definition_file

BROKEN = """\
id: broken
title: Broken
sections:
  - id: main
    questions:
      - id: mood
        type: likert
        text: I am happy.
        points: 1
      - id: sport
        type: single_choice
        text: Sport
        options:
          - {id: run, text: Running}
          - {id: run, text: Jogging}
        when: {question: weather, answered: true}
dimensions:
  - id: happiness
    label: Happiness
    items: []
"""


def test_every_issue_is_listed_with_file_line_path_and_message() -> None:
    with pytest.raises(DefinitionError) as info:
        load_definition(BROKEN, source="broken.yaml")
    assert str(info.value).splitlines() == [
        "broken.yaml: 4 problems",
        "broken.yaml:9: sections[0].questions[0].points: a Likert scale needs 2 to 11 points, "
        "got 1",
        "broken.yaml:15: sections[0].questions[1].options[1].id: duplicate option id 'run'",
        "broken.yaml:16: sections[0].questions[1].when.question: question 'sport' refers to "
        "unknown question 'weather'",
        "broken.yaml:20: dimensions[0].items: dimension 'happiness' has no items",
    ]
    assert [issue.line for issue in info.value.issues] == [9, 15, 16, 20]


def test_shape_errors_are_all_reported_at_once() -> None:
    text = BROKEN.replace("points: 1", "points: one").replace("label: Happiness", "colour: red")
    with pytest.raises(DefinitionError) as info:
        load_definition(text, source="broken.yaml")
    assert str(info.value).splitlines() == [
        "broken.yaml: 3 problems",
        "broken.yaml:9: sections[0].questions[0].points: Input should be a valid integer, "
        "unable to parse string as an integer",
        "broken.yaml:18: dimensions[0].label: missing required field 'label'",
        "broken.yaml:19: dimensions[0].colour: unknown key 'colour'",
    ]


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "quiz.yaml"
    path.write_text("id: quiz\ntitle: [unclosed\n", encoding="utf-8")
    with pytest.raises(DefinitionError) as info:
        load_definition_file(path)
    assert str(info.value).splitlines()[1].startswith(f"{path}:")
    assert "YAML syntax error" in str(info.value)


def test_a_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match="cannot read the file"):
        load_definition_file(tmp_path / "missing.yaml")


def test_json_file_errors_carry_the_json_line(tmp_path: Path) -> None:
    path = tmp_path / "quiz.json"
    path.write_text(
        '{\n  "id": "quiz",\n  "title": "Quiz",\n  "colour": "red",\n  "sections": []\n}\n',
        encoding="utf-8",
    )
    with pytest.raises(DefinitionError) as info:
        load_definition_file(path)
    lines = str(info.value).splitlines()
    assert f"{path}:4: colour: unknown key 'colour'" in lines
    assert any(line.startswith(f"{path}:5: sections: ") for line in lines)
