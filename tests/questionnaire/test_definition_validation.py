"""Invalid definitions are rejected with the path, line and reason of the offending node.

Each case is a mutation of ``BASE`` (a small definition that uses every part of the format)
or a literal text. The expected line is given as the line of a marker string, which must
occur exactly once in the case's text, so a reader sees which line is meant.
"""

from __future__ import annotations

from typing import Any

import pytest

from backend.questionnaire import DefinitionError, load_definition

BASE = """\
id: base-quiz
title: {en: Base quiz, de: Basisquiz}
languages: [en, de]
intro: Welcome.
sections:
  - id: intro
    title: About you
    questions:
      - id: member
        type: yes_no
        text: Are you a member?
      - id: sport
        type: single_choice
        text: {en: "Favourite sport?", de: "Lieblingssport?"}
        options:
          - {id: run, text: Running}
          - {id: swim, text: Swimming}
        when: {question: member, equals: "yes"}
      - id: hobbies
        type: multiple_choice
        text: Hobbies?
        min_selected: 1
        max_selected: 2
        options:
          - {id: hiking, text: Hiking}
          - {id: reading, text: Reading}
          - {id: none, text: None of these, fixed: true}
  - id: opinions
    shuffle: true
    questions:
      - id: likes_sport
        type: likert
        text: I like sport.
        points: 5
        min_label: Disagree
        max_label: Agree
      - id: dislikes_sweat
        type: likert
        text: I dislike sweating.
        points: 5
  - id: wrap_up
    questions:
      - id: sessions
        type: number
        text: Sessions per week?
        integer: true
        min: 0
        max: 14
      - id: comment
        type: text
        text: Anything else?
        required: false
        end_if: {question: sessions, lt: 1}
dimensions:
  - id: sportiness
    label: Sportiness
    items:
      - question: likes_sport
      - question: dislikes_sweat
        reverse: true
      - question: sport
        weights: {run: 1, swim: 0.5}
    bands:
      - {up_to: 50, label: low, text: Not sporty.}
      - {up_to: 100, label: high, text: Sporty.}
  - id: outdoors
    label: Outdoors
    items:
      - question: hobbies
        weights: {hiking: 1}
      - question: member
        weights: {"yes": 0.5}
segmentation:
  dimensions: [sportiness, outdoors]
  k_min: 2
  k_max: 4
  min_share: 0.1
"""


def mutate(old: str, new: str) -> str:
    """Return ``BASE`` with ``old`` (which must occur exactly once) replaced by ``new``."""
    count = BASE.count(old)
    assert count == 1, f"{old!r} occurs {count} times in BASE"
    return BASE.replace(old, new)


def line_of(text: str, marker: str) -> int:
    """Return the 1-based line where ``marker`` (unique in ``text``) starts."""
    count = text.count(marker)
    assert count == 1, f"marker {marker!r} occurs {count} times"
    return text[: text.index(marker)].count("\n") + 1


def case(
    name: str, text: str, path: str, line: int | str, fragment: str, fmt: str = "yaml"
) -> Any:
    expected_line = line if isinstance(line, int) else line_of(text, line)
    return pytest.param(text, fmt, path, expected_line, fragment, id=name)


JSON_BASE_LINES = [
    "{",
    '  "id": "base-quiz",',
    '  "title": "Base quiz",',
    '  "sections": [{"id": "intro", "questions": [',
    '    {"id": "member", "type": "yes_no", "text": "Member?"}',
    "  ]}]",
    "}",
]


def json_text(replace: dict[int, str] | None = None) -> str:
    lines = list(JSON_BASE_LINES)
    for index, new in (replace or {}).items():
        lines[index] = new
    return "\n".join(lines) + "\n"


Q_MEMBER = "sections[0].questions[0]"
Q_SPORT = "sections[0].questions[1]"
Q_HOBBIES = "sections[0].questions[2]"
Q_LIKES = "sections[1].questions[0]"
Q_SWEAT = "sections[1].questions[1]"
Q_SESSIONS = "sections[2].questions[0]"
Q_COMMENT = "sections[2].questions[1]"

CASES = [
    # --- syntax and document shape ------------------------------------------------------
    case(
        "yaml-syntax-mapping-in-plain-text",
        mutate("text: Are you a member?", "text: Are you: a member?"),
        "(top level)",
        "text: Are you: a member?",
        "YAML syntax error",
    ),
    case(
        "yaml-syntax-tab-indentation",
        mutate("        text: I dislike sweating.\n", "\ttext: I dislike sweating.\n"),
        "(top level)",
        "\ttext: I dislike",
        "YAML syntax error",
    ),
    case(
        "yaml-duplicate-key",
        mutate("text: Are you a member?", "text: Are you a member?\n        text: Again?"),
        f"{Q_MEMBER}.text",
        "text: Again?",
        "duplicate key 'text'",
    ),
    case(
        "yaml-non-string-key",
        mutate("intro: Welcome.", "intro: Welcome.\n1: one"),
        "(top level)",
        "1: one",
        "key 1 is not a string",
    ),
    # PyYAML reports these while constructing, after parsing succeeded; the line must still
    # be given.
    case(
        "yaml-merge-key",
        mutate("  - id: outdoors\n", "  - <<: {id: outdoors}\n"),
        "(top level)",
        "<<: {id: outdoors}",
        "YAML",
    ),
    case(
        "yaml-unknown-tag",
        mutate("intro: Welcome.", "intro: !include welcome.txt"),
        "(top level)",
        "!include",
        "YAML",
    ),
    case("empty-file", "", "(top level)", 1, "the file is empty"),
    case("comments-only", "# nothing here yet\n", "(top level)", 1, "the file is empty"),
    case(
        "top-level-list",
        "- id: base-quiz\n  title: Quiz\n",
        "(top level)",
        1,
        "a definition is a mapping",
    ),
    case("top-level-scalar", "just some text\n", "(top level)", 1, "a definition is a mapping"),
    case(
        "json-syntax-missing-comma",
        json_text({2: '  "title": "Base quiz"'}),
        "(top level)",
        '"title": "Base quiz"',  # the line that needs the comma, not the next one
        "JSON syntax error",
        fmt="json",
    ),
    case(
        "json-syntax-trailing-comma",
        json_text({5: "  ]}],"}),
        "(top level)",
        6,  # the line with the trailing comma
        "JSON syntax error",
        fmt="json",
    ),
    case(
        "json-duplicate-key",
        json_text({2: '  "title": "Base quiz", "id": "again",'}),
        "id",
        '"id": "again"',
        "duplicate key 'id'",
        fmt="json",
    ),
    case("json-top-level-list", "[1, 2]\n", "(top level)", 1, "a mapping", fmt="json"),
    case("json-empty", "", "(top level)", 1, "the file is empty", fmt="json"),
    # --- unknown keys -------------------------------------------------------------------
    case(
        "unknown-top-level-key",
        mutate("intro: Welcome.", "intro: Welcome.\ncolour: blue"),
        "colour",
        "colour: blue",
        "unknown key 'colour'",
    ),
    case(
        "unknown-question-key-with-hint",
        mutate("text: Are you a member?", "text: Are you a member?\n        requierd: true"),
        f"{Q_MEMBER}.requierd",
        "requierd",
        "did you mean 'required'",
    ),
    case(
        "unknown-condition-key",
        mutate('equals: "yes"}', 'equals: "yes", colour: red}'),
        f"{Q_SPORT}.when.colour",
        "colour: red",
        "unknown key 'colour'",
    ),
    case(
        "unknown-dimension-item-key",
        mutate("- question: likes_sport\n", "- question: likes_sport\n        reversed: true\n"),
        "dimensions[0].items[0].reversed",
        "reversed: true",
        "did you mean 'reverse'",
    ),
    case(
        "known-key-in-the-wrong-place",
        mutate("text: Are you a member?", "text: Are you a member?\n        questions: []"),
        f"{Q_MEMBER}.questions",
        "questions: []",
        "'questions' does not belong here: it is a key of a section",
    ),
    # --- missing fields -----------------------------------------------------------------
    case(
        "missing-title",
        mutate("title: {en: Base quiz, de: Basisquiz}\n", ""),
        "title",
        1,
        "missing required field 'title'",
    ),
    case(
        "missing-question-text",
        mutate("        text: Are you a member?\n", ""),
        f"{Q_MEMBER}.text",
        "- id: member",
        "missing required field 'text'",
    ),
    case(
        "missing-dimension-label",
        mutate("    label: Outdoors\n", ""),
        "dimensions[1].label",
        "- id: outdoors",
        "missing required field 'label'",
    ),
    case(
        "missing-condition-question",
        mutate('when: {question: member, equals: "yes"}', 'when: {equals: "yes"}'),
        f"{Q_SPORT}.when.question",
        'when: {equals: "yes"}',
        "missing required field 'question'",
    ),
    # A missing field is reported at the key that is missing, on the line of its parent.
    case(
        "missing-question-type",
        mutate("        type: yes_no\n", ""),
        f"{Q_MEMBER}.type",
        "- id: member",
        "missing required field 'type'",
    ),
    # --- wrong types and values ---------------------------------------------------------
    case(
        "unknown-question-type",
        mutate("type: yes_no", "type: slider"),
        f"{Q_MEMBER}.type",
        "type: slider",
        "unknown question type 'slider'",
    ),
    case(
        "points-not-a-number",
        mutate("points: 5\n        min_label", "points: five\n        min_label"),
        f"{Q_LIKES}.points",
        "points: five",
        "valid integer",
    ),
    case(
        "required-not-a-boolean",
        mutate("required: false", "required: maybe"),
        f"{Q_COMMENT}.required",
        "required: maybe",
        "valid boolean",
    ),
    case(
        "options-not-a-list",
        mutate(
            "        options:\n          - {id: run, text: Running}\n"
            "          - {id: swim, text: Swimming}\n",
            "        options: run\n",
        ),
        f"{Q_SPORT}.options",
        "options: run",
        "valid list",
    ),
    case(
        "text-is-a-list",
        mutate("text: Are you a member?", "text: [Are you, a member]"),
        f"{Q_MEMBER}.text",
        "text: [Are you",
        "string",
    ),
    case(
        "k-min-not-a-number",
        mutate("k_min: 2", "k_min: two"),
        "segmentation.k_min",
        "k_min: two",
        "valid integer",
    ),
    case(
        "unknown-segmentation-method",
        mutate("  k_min: 2\n", "  k_min: 2\n  method: dbscan\n"),
        "segmentation.method",
        "method: dbscan",
        "'kmeans' or 'gmm'",
    ),
    case(
        "condition-not-a-mapping",
        mutate('when: {question: member, equals: "yes"}', "when: member"),
        f"{Q_SPORT}.when",
        "when: member",
        "a condition is a mapping",
    ),
    case(
        "condition-without-operator",
        mutate('when: {question: member, equals: "yes"}', "when: {question: member}"),
        f"{Q_SPORT}.when",
        "when: {question: member}",
        "found no operator",
    ),
    case(
        "condition-with-two-operators",
        mutate('equals: "yes"}', 'equals: "yes", not_equals: "no"}'),
        f"{Q_SPORT}.when",
        "not_equals",
        "several operators (equals, not_equals)",
    ),
    case(
        "section-without-questions",
        mutate("  - id: wrap_up\n", "  - id: empty\n    questions: []\n  - id: wrap_up\n"),
        "sections[2].questions",
        "questions: []",
        "at least 1 item",
    ),
    case(
        "choice-with-one-option",
        mutate("          - {id: swim, text: Swimming}\n", ""),
        f"{Q_SPORT}.options",
        "        options:\n          - {id: run",
        "at least 2 items",
    ),
    case(
        "text-max-length-too-long",
        mutate("required: false", "required: false\n        max_length: 5000"),
        f"{Q_COMMENT}.max_length",
        "max_length: 5000",
        "less than or equal to 4000",
    ),
    case(
        "max-selected-zero",
        mutate("max_selected: 2", "max_selected: 0"),
        f"{Q_HOBBIES}.max_selected",
        "max_selected: 0",
        "greater than or equal to 1",
    ),
    # --- ids ----------------------------------------------------------------------------
    case(
        "question-id-upper-case",
        mutate("- id: member", "- id: Member"),
        f"{Q_MEMBER}.id",
        "- id: Member",
        "'Member' is not a valid id",
    ),
    case(
        "option-id-starts-with-digit",
        mutate("{id: swim, text: Swimming}", "{id: 2swim, text: Swimming}"),
        f"{Q_SPORT}.options[1].id",
        "2swim",
        "'2swim' is not a valid id",
    ),
    case(
        "questionnaire-id-with-space",
        mutate("id: base-quiz", "id: Base Quiz"),
        "id",
        "id: Base Quiz",
        "not a valid questionnaire id",
    ),
    case(
        "language-code-invalid",
        mutate("languages: [en, de]", "languages: [en, german]"),
        "languages[1]",
        "languages: [en, german]",
        "'german' is not a language code",
    ),
    case(
        "language-listed-twice",
        mutate("languages: [en, de]", "languages: [en, de, en]"),
        "languages",
        "languages: [en, de, en]",
        "listed twice",
    ),
    case(
        "duplicate-question-id",
        mutate("- id: dislikes_sweat", "- id: likes_sport"),
        f"{Q_SWEAT}.id",
        "- id: likes_sport\n        type: likert\n        text: I dislike",
        "duplicate question id 'likes_sport'",
    ),
    case(
        "duplicate-option-id",
        mutate("{id: swim, text: Swimming}", "{id: run, text: Jogging}"),
        f"{Q_SPORT}.options[1].id",
        "Jogging",
        "duplicate option id 'run'",
    ),
    case(
        "duplicate-section-id",
        mutate("  - id: wrap_up", "  - id: intro"),
        "sections[2].id",
        "  - id: intro\n    questions:",
        "duplicate section id 'intro'",
    ),
    case(
        "duplicate-dimension-id",
        mutate("- id: outdoors", "- id: sportiness"),
        "dimensions[1].id",
        "- id: sportiness\n    label: Outdoors",
        "duplicate dimension id 'sportiness'",
    ),
    case(
        "duplicate-band-label",
        mutate("label: high, text: Sporty.", "label: low, text: Sporty."),
        "dimensions[0].bands[1].label",
        "text: Sporty.",
        "duplicate band label 'low'",
    ),
    case(
        "dimension-item-listed-twice",
        mutate(
            "        weights: {hiking: 1}\n",
            "        weights: {hiking: 1}\n"
            "      - question: hobbies\n        weights: {none: 1}\n",
        ),
        "dimensions[1].items[1].question",
        "- question: hobbies\n        weights: {none",
        "'hobbies' is listed twice",
    ),
    case(
        "segmentation-dimension-listed-twice",
        mutate("dimensions: [sportiness, outdoors]", "dimensions: [sportiness, sportiness]"),
        "segmentation.dimensions[1]",
        "[sportiness, sportiness]",
        "twice",
    ),
    # --- references in conditions -------------------------------------------------------
    case(
        "condition-unknown-question",
        mutate("{question: member, equals", "{question: membr, equals"),
        f"{Q_SPORT}.when.question",
        "membr",
        "unknown question 'membr' (did you mean 'member'?)",
    ),
    case(
        "condition-unknown-option",
        mutate('equals: "yes"}', 'equals: "maybe"}'),
        f"{Q_SPORT}.when.equals",
        '"maybe"',
        "'maybe' is not an option of 'member' (yes, no)",
    ),
    case(
        "condition-includes-unknown-option",
        mutate(
            "        text: I dislike sweating.\n",
            "        text: I dislike sweating.\n"
            "        when: {question: hobbies, includes: cooking}\n",
        ),
        f"{Q_SWEAT}.when.includes",
        "cooking",
        "'cooking' is not an option of 'hobbies'",
    ),
    case(
        "condition-includes-on-single-choice",
        mutate('equals: "yes"}', 'includes: "yes"}'),
        f"{Q_SPORT}.when.includes",
        'includes: "yes"',
        "includes needs a multiple_choice question, not yes_no",
    ),
    case(
        "condition-equals-on-multiple-choice",
        mutate(
            "end_if: {question: sessions, lt: 1}",
            "end_if: {question: hobbies, equals: hiking}",
        ),
        f"{Q_COMMENT}.end_if.equals",
        "equals: hiking",
        "use includes/excludes",
    ),
    case(
        "condition-gt-on-choice",
        mutate('equals: "yes"}', "gt: 1}"),
        f"{Q_SPORT}.when.gt",
        "gt: 1}",
        "gt needs a Likert or number question, not yes_no",
    ),
    case(
        "condition-outside-likert-scale",
        mutate("end_if: {question: sessions, lt: 1}", "when: {question: likes_sport, gte: 6}"),
        f"{Q_COMMENT}.when.gte",
        "gte: 6",
        "outside the 5-point scale",
    ),
    case(
        "condition-text-on-number",
        mutate("{question: sessions, lt: 1}", "{question: sessions, equals: many}"),
        f"{Q_COMMENT}.end_if.equals",
        "equals: many",
        "'many' is not a number",
    ),
    case(
        "condition-nested-unknown-question",
        mutate(
            'when: {question: member, equals: "yes"}',
            "when:\n          all:\n            - {question: member, answered: true}\n"
            "            - not: {question: nobody, answered: true}",
        ),
        f"{Q_SPORT}.when.all[1].not.question",
        "nobody",
        "unknown question 'nobody'",
    ),
    case(
        "condition-refers-forward",
        mutate('when: {question: member, equals: "yes"}', "when: {question: sessions, gt: 0}"),
        f"{Q_SPORT}.when",
        "{question: sessions, gt: 0}",
        "refers forward to 'sessions'",
    ),
    case(
        "conditions-form-a-cycle",
        mutate(
            "        min_selected: 1\n",
            "        min_selected: 1\n        when: {question: sport, equals: run}\n",
        ).replace(
            'when: {question: member, equals: "yes"}',
            "when: {question: hobbies, includes: hiking}",
        ),
        f"{Q_HOBBIES}.when",
        "when: {question: sport, equals: run}",
        "conditions form a cycle: hobbies -> sport -> hobbies",
    ),
    case(
        "condition-refers-to-itself",
        mutate(
            "text: Are you a member?",
            "text: Are you a member?\n        when: {question: member, answered: true}",
        ),
        f"{Q_MEMBER}.when",
        "when: {question: member, answered: true}",
        "shown only when it is already answered",
    ),
    case(
        "condition-in-same-shuffled-section",
        mutate(
            "        text: I dislike sweating.\n",
            "        text: I dislike sweating.\n        when: {question: likes_sport, gte: 3}\n",
        ),
        f"{Q_SWEAT}.when.question",
        "when: {question: likes_sport",
        "in the same shuffled section",
    ),
    case(
        "section-condition-on-its-own-question",
        mutate("  - id: wrap_up\n", "  - id: wrap_up\n    when: {question: sessions, gt: 0}\n"),
        "sections[2].when.question",
        "when: {question: sessions, gt: 0}",
        "section 'wrap_up' refers forward to 'sessions'",
    ),
    case(
        "end-if-refers-forward",
        mutate(
            "text: Are you a member?",
            "text: Are you a member?\n        end_if: {question: sport, equals: run}",
        ),
        f"{Q_MEMBER}.end_if.question",
        "end_if: {question: sport",
        "refers forward to 'sport'",
    ),
    case(
        "condition-in-empty-list",
        mutate('equals: "yes"}', "in: []}"),
        f"{Q_SPORT}.when.in",
        "in: []",
        "at least 1",
    ),
    case(
        "condition-outside-number-range",
        mutate("{question: sessions, lt: 1}", "{question: sessions, gt: 20}"),
        f"{Q_COMMENT}.end_if.gt",
        "gt: 20",
        "outside",
    ),
    # --- references in scoring keys -----------------------------------------------------
    case(
        "dimension-unknown-question",
        mutate("- question: likes_sport\n", "- question: likes_sports\n"),
        "dimensions[0].items[0].question",
        "likes_sports",
        "unknown question 'likes_sports'",
    ),
    case(
        "weights-unknown-option",
        mutate("weights: {run: 1, swim: 0.5}", "weights: {run: 1, cycle: 0.5}"),
        "dimensions[0].items[2].weights.cycle",
        "cycle: 0.5",
        "'cycle' is not an option of 'sport' (run, swim)",
    ),
    case(
        "segmentation-unknown-dimension",
        mutate("[sportiness, outdoors]", "[sportiness, outdoor]"),
        "segmentation.dimensions[1]",
        "[sportiness, outdoor]",
        "unknown dimension 'outdoor'",
    ),
    # --- impossible ranges --------------------------------------------------------------
    case(
        "number-min-not-below-max",
        mutate("min: 0\n        max: 14", "min: 14\n        max: 14"),
        f"{Q_SESSIONS}.min",
        "min: 14",
        "min (14) must be below max (14)",
    ),
    case(
        "number-integer-range-without-integer",
        mutate("min: 0\n        max: 14", "min: 0.2\n        max: 0.8"),
        f"{Q_SESSIONS}.integer",
        "integer: true",
        "no whole number",
    ),
    case(
        "multiple-choice-min-above-max",
        mutate("min_selected: 1", "min_selected: 3"),
        f"{Q_HOBBIES}.min_selected",
        "min_selected: 3",
        "min_selected (3) is above max_selected (2)",
    ),
    case(
        "multiple-choice-max-above-options",
        mutate("max_selected: 2", "max_selected: 4"),
        f"{Q_HOBBIES}.max_selected",
        "max_selected: 4",
        "max_selected is 4 but there are 3 options",
    ),
    case(
        "required-multiple-choice-min-zero",
        mutate("min_selected: 1", "min_selected: 0"),
        f"{Q_HOBBIES}.min_selected",
        "min_selected: 0",
        "at least one selection",
    ),
    case(
        "k-min-above-k-max",
        mutate("k_min: 2", "k_min: 5"),
        "segmentation.k_min",
        "k_min: 5",
        "k_min=5, k_max=4",
    ),
    case(
        "k-max-above-20",
        mutate("k_max: 4", "k_max: 25"),
        "segmentation.k_min",
        "k_min: 2",
        "k_max <= 20",
    ),
    case(
        "min-share-above-half",
        mutate("min_share: 0.1", "min_share: 0.6"),
        "segmentation.min_share",
        "min_share: 0.6",
        "at most 0.5",
    ),
    case(
        "min-share-zero",
        mutate("min_share: 0.1", "min_share: 0"),
        "segmentation.min_share",
        "min_share: 0",
        "above 0",
    ),
    case(
        "min-share-times-k-min-above-one",
        mutate("k_min: 2", "k_min: 3").replace("min_share: 0.1", "min_share: 0.4"),
        "segmentation.min_share",
        "min_share: 0.4",
        "3 segments of at least 40% each cannot fit",
    ),
    case(
        "bands-not-rising",
        mutate("{up_to: 50, label: low", "{up_to: 100, label: low"),
        "dimensions[0].bands[1].up_to",
        "Sporty.}",
        "must rise above the previous band (100)",
    ),
    case(
        "bands-not-reaching-100",
        mutate("{up_to: 100, label: high", "{up_to: 90, label: high"),
        "dimensions[0].bands[1].up_to",
        "{up_to: 90",
        "the last band must reach 100",
    ),
    case(
        "band-above-100",
        mutate("{up_to: 100, label: high", "{up_to: 120, label: high"),
        "dimensions[0].bands[1].up_to",
        "{up_to: 120",
        "within 100, got 120",
    ),
    case(
        "weight-above-one",
        mutate("weights: {run: 1, swim: 0.5}", "weights: {run: 1.5, swim: 0.5}"),
        "dimensions[0].items[2].weights.run",
        "run: 1.5",
        "weight 1.5 is outside 0..1",
    ),
    case(
        "weight-negative",
        mutate('weights: {"yes": 0.5}', 'weights: {"yes": -0.5}'),
        "dimensions[1].items[1].weights.yes",
        '"yes": -0.5',
        "weight -0.5 is outside 0..1",
    ),
    # --- Likert scales ------------------------------------------------------------------
    case(
        "likert-one-point",
        mutate("points: 5\n        min_label", "points: 1\n        min_label"),
        f"{Q_LIKES}.points",
        "points: 1",
        "a Likert scale needs 2 to 11 points, got 1",
    ),
    case(
        "likert-twelve-points",
        mutate("points: 5\n        min_label", "points: 12\n        min_label"),
        f"{Q_LIKES}.points",
        "points: 12",
        "2 to 11 points, got 12",
    ),
    case(
        "likert-labels-count-mismatch",
        mutate(
            "        points: 5\n  - id: wrap_up",
            "        points: 5\n        labels: [Low, Middle, High]\n  - id: wrap_up",
        ),
        f"{Q_SWEAT}.labels",
        "labels: [Low, Middle, High]",
        "3 labels for a 5-point scale",
    ),
    case(
        "likert-labels-and-end-labels",
        mutate("max_label: Agree", "max_label: Agree\n        labels: [a, b, c, d, e]"),
        f"{Q_LIKES}.labels",
        "labels: [a, b, c, d, e]",
        "either labels or min_label/max_label",
    ),
    # --- dimensions ---------------------------------------------------------------------
    case(
        "dimension-without-items",
        mutate(
            "    items:\n      - question: hobbies\n        weights: {hiking: 1}\n"
            '      - question: member\n        weights: {"yes": 0.5}\n',
            "    items: []\n",
        ),
        "dimensions[1].items",
        "items: []",
        "dimension 'outdoors' has no items",
    ),
    case(
        "dimension-with-text-question",
        mutate("        reverse: true\n", "        reverse: true\n      - question: comment\n"),
        "dimensions[0].items[2].question",
        "- question: comment",
        "'comment' is a text question and cannot be scored",
    ),
    case(
        "dimension-with-number-question",
        mutate("        reverse: true\n", "        reverse: true\n      - question: sessions\n"),
        "dimensions[0].items[2].question",
        "- question: sessions",
        "'sessions' is a number question and cannot be scored",
    ),
    case(
        "dimension-mixing-likert-scales",
        mutate("        points: 5\n  - id: wrap_up", "        points: 7\n  - id: wrap_up"),
        "dimensions[0].items",
        "    items:\n      - question: likes_sport",
        "mixes 5-point, 7-point Likert items",
    ),
    case(
        "weights-on-likert-item",
        mutate("- question: likes_sport\n", "- question: likes_sport\n        weights: {a: 1}\n"),
        "dimensions[0].items[0].weights",
        "weights: {a: 1}",
        "is a Likert item",
    ),
    case(
        "reverse-on-choice-item",
        mutate("weights: {hiking: 1}", "weights: {hiking: 1}\n        reverse: true"),
        "dimensions[1].items[0].reverse",
        "reverse: true\n      - question: member",
        "reverse applies to Likert items only",
    ),
    case(
        "choice-item-without-weights",
        mutate(
            '      - question: member\n        weights: {"yes": 0.5}\n',
            "      - question: member\n",
        ),
        "dimensions[1].items[1]",
        "      - question: member\n",
        "give weights for its options",
    ),
    # --- texts and languages ------------------------------------------------------------
    case(
        "text-in-unknown-language",
        mutate('de: "Lieblingssport?"}', 'de: "Lieblingssport?", fr: "Sport préféré ?"}'),
        f"{Q_SPORT}.text.fr",
        "fr: ",
        "language 'fr' is not in languages (en, de)",
    ),
    case(
        "text-without-fallback-language",
        mutate("text: Are you a member?", 'text: {de: "Sind Sie Mitglied?"}'),
        f"{Q_MEMBER}.text",
        "Sind Sie",
        "no 'en' version (the fallback)",
    ),
    case(
        "end-label-without-fallback-language",
        mutate("min_label: Disagree", "min_label: {de: Nein}"),
        f"{Q_LIKES}.min_label",
        "{de: Nein}",
        "no 'en' version",
    ),
]


def test_base_document_is_valid() -> None:
    definition = load_definition(BASE, source="base.yaml")
    assert [d.id for d in definition.dimensions] == ["sportiness", "outdoors"]


def test_cases_are_distinct() -> None:
    documents = [(p.values[0], p.values[1]) for p in CASES]
    assert len(CASES) >= 30
    assert len(set(documents)) == len(documents)


@pytest.mark.parametrize(("text", "fmt", "path", "line", "fragment"), CASES)
def test_invalid_definition_is_rejected(
    text: str, fmt: str, path: str, line: int, fragment: str
) -> None:
    with pytest.raises(DefinitionError) as info:
        load_definition(text, source=f"case.{fmt}", fmt=fmt)
    found = [(i.location, i.line, i.message) for i in info.value.issues]
    assert any(
        location == path and at == line and fragment in message for location, at, message in found
    ), f"expected {path} at line {line} with {fragment!r}; got:\n{info.value}"
