"""The pure quiz engine: branching, early end, back, progress, reproducible order."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.questionnaire import load_definition
from backend.quiz import (
    AnswerInvalid,
    QuizNavigator,
    check_value,
    make_plan,
    parse_typed,
    seed_for,
)
from backend.quiz import profile as profile_of

DEFINITION = load_definition(
    """
id: gym
title: Gym
sections:
  - id: about
    questions:
      - {id: member, type: yes_no, text: "Are you a member?"}
      - id: visits
        type: number
        text: Visits per week
        integer: true
        min: 0
        max: 14
        when: {question: member, equals: "yes"}
      - id: goal
        type: single_choice
        text: Main goal
        shuffle_options: true
        options:
          - {id: shape, text: Shape}
          - {id: weight, text: Weight}
          - {id: sport, text: Sport}
          - {id: none, text: None of these, fixed: true}
        end_if: {question: goal, equals: none}
  - id: attitudes
    shuffle: true
    when: {question: member, equals: "yes"}
    questions:
      - {id: a1, type: likert, text: A1}
      - {id: a2, type: likert, text: A2}
      - {id: a3, type: likert, text: A3, required: false}
  - id: end
    questions:
      - id: sports
        type: multiple_choice
        text: Sports
        min_selected: 1
        max_selected: 2
        options: [{id: run, text: Run}, {id: swim, text: Swim}, {id: lift, text: Lift}]
      - {id: note, type: text, text: "Anything else?", max_length: 20, required: false}
dimensions:
  - id: attitude
    label: Attitude
    items: [{question: a1}, {question: a2, reverse: true}]
    bands:
      - {up_to: 40, label: low, text: Low attitude}
      - {up_to: 70, label: average, text: Average attitude}
      - {label: high, text: High attitude}
"""
)


def walk(nav: QuizNavigator, replies: dict[str, object]) -> list[str]:
    answers: dict[str, object] = {}
    asked = []
    current = nav.first(answers)
    while current is not None:
        asked.append(current)
        answers[current] = replies.get(current)
        current = nav.next_after(current, answers)
    return asked


def test_branching_skips_member_questions_for_non_members() -> None:
    nav = QuizNavigator(DEFINITION, seed=1)
    asked = walk(nav, {"member": "no", "goal": "shape", "sports": ["run"]})
    assert asked == ["member", "goal", "sports", "note"]


def test_members_get_every_question_with_attitudes_in_seeded_order() -> None:
    nav = QuizNavigator(DEFINITION, seed=1)
    replies = {"member": "yes", "visits": 3, "goal": "sport", "a1": 4, "a2": 2, "a3": 3}
    asked = walk(nav, replies | {"sports": ["run"]})
    assert asked[:3] == ["member", "visits", "goal"]
    assert sorted(asked[3:6]) == ["a1", "a2", "a3"]
    assert asked[6:] == ["sports", "note"]


def test_end_if_ends_the_quiz_early() -> None:
    nav = QuizNavigator(DEFINITION, seed=1)
    assert walk(nav, {"member": "yes", "visits": 1, "goal": "none"}) == [
        "member",
        "visits",
        "goal",
    ]


def test_order_is_reproducible_per_seed_and_differs_between_respondents() -> None:
    seeds = [seed_for(f"user{i}", "gym") for i in range(40)]
    assert seeds[0] == seed_for("user0", "gym")
    plans = {make_plan(DEFINITION, s).order for s in seeds}
    assert make_plan(DEFINITION, seeds[3]) == make_plan(DEFINITION, seeds[3])
    assert len(plans) > 1  # 3! orders of the shuffled section over 40 respondents


@given(st.integers(min_value=0, max_value=2**63 - 1))
def test_fixed_options_keep_their_place_and_nothing_is_lost(seed: int) -> None:
    order = make_plan(DEFINITION, seed).option_order["goal"]
    assert order[-1] == "none"
    assert sorted(order) == ["none", "shape", "sport", "weight"]


def test_back_goes_along_the_respondents_path_and_hidden_answers_are_dropped() -> None:
    nav = QuizNavigator(DEFINITION, seed=1)
    answers = {"member": "yes", "visits": 2, "goal": "shape"}
    assert nav.previous("goal", answers) == "visits"
    assert nav.previous("member", answers) is None
    # the question being asked now (unanswered) follows the last answered one
    assert nav.previous("sports", {"member": "no", "goal": "shape"}) == "goal"
    # changing "member" to no hides "visits": it is no longer on the path
    changed = answers | {"member": "no"}
    assert nav.previous("goal", changed) == "member"
    assert nav.kept_answers(changed) == {"member": "no", "goal": "shape"}


def test_progress_counts_the_questions_this_respondent_gets() -> None:
    nav = QuizNavigator(DEFINITION, seed=1)
    assert nav.progress("member", {}) == (1, 4)  # member, goal, sports, note
    assert nav.progress("goal", {"member": "no"})[0] == 2
    position, total = nav.progress("goal", {"member": "yes", "visits": 1})
    assert (position, total) == (3, 8)


@pytest.mark.parametrize(
    ("question", "typed", "expected"),
    [
        ("visits", "3", 3),
        ("visits", " 12 ", 12),
        ("visits", "2,0", 2),
        ("note", "  hello ", "hello"),
    ],
)
def test_typed_answers_are_parsed(question: str, typed: str, expected: object) -> None:
    assert parse_typed(DEFINITION.questions()[question], typed) == expected


@pytest.mark.parametrize(
    ("question", "typed", "reason"),
    [
        ("visits", "three", "Please send a number (a whole number, from 0 to 14)."),
        ("visits", "2.5", "whole number"),
        ("visits", "15", "15 is out of range"),
        ("visits", "-1", "out of range"),
        ("visits", "9" * 400, "out of range"),
        ("note", "x" * 21, "That is 21 characters; please keep it under 20."),
        ("note", "   ", "Please send some text."),
        ("a1", "5", "Please use the buttons"),
    ],
)
def test_wrong_typed_answers_say_why(question: str, typed: str, reason: str) -> None:
    with pytest.raises(AnswerInvalid, match=reason.replace("(", r"\(").replace(")", r"\)")):
        parse_typed(DEFINITION.questions()[question], typed)


@pytest.mark.parametrize(
    ("question", "value", "reason"),
    [
        ("a1", 0, "from 1 to 5"),
        ("a1", 6, "from 1 to 5"),
        ("a1", True, "from 1 to 5"),
        ("goal", "golf", "not part of this question"),
        ("sports", [], "at least 1 option"),
        ("sports", ["run", "swim", "lift"], "at most 2 options"),
        ("sports", ["run", "ski"], "not part of this question"),
        ("member", "maybe", "yes or no"),
    ],
)
def test_wrong_button_values_are_refused(question: str, value: object, reason: str) -> None:
    with pytest.raises(AnswerInvalid, match=reason):
        check_value(DEFINITION.questions()[question], value)


def test_multiple_choice_values_are_normalised_to_definition_order() -> None:
    assert check_value(DEFINITION.questions()["sports"], ["swim", "run", "swim"]) == [
        "run",
        "swim",
    ]


def test_profile_names_the_band_of_each_dimension() -> None:
    [attitude] = profile_of(DEFINITION, {"attitude": 75.0})
    assert (attitude.band, attitude.interpretation) == ("high", "High attitude")
    assert attitude.bar == "▰▰▰▰▰▰▰▰▱▱"
    [edge] = profile_of(DEFINITION, {"attitude": 40.0})
    assert edge.band == "low"  # bands are "up to", inclusive
    [missing] = profile_of(DEFINITION, {"attitude": None})
    assert missing.band is None
    assert "Not enough answers" in missing.interpretation
